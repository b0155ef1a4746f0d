"""Input helpers shared by the contract agents. Mirrors the field readers of
adapters/agents/src/agents/mod.rs (u64_field, f64_field, str_field, bool_field, seconds),
including their error messages, and puts the helper module on sys.path."""

import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from arcp_agent import AgentError  # noqa: E402


def invalid(message):
    """AgentError::invalid_input: INVALID_REQUEST with the code's default retryable."""
    return AgentError("INVALID_REQUEST", message)


def field(input, key):
    """serde_json's ``input.get(key)``: ``None`` unless ``input`` is an object holding ``key``."""
    return input.get(key) if isinstance(input, dict) else None


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def u64_field(input, key, default):
    v = field(input, key)
    if v is None:
        return default
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64:
        return v
    raise invalid(f"{key} must be a non-negative integer")


def f64_field(input, key, default):
    v = field(input, key)
    if v is None:
        return default
    if _number(v) and math.isfinite(float(v)):
        return float(v)
    raise invalid(f"{key} must be a number")


def str_field(input, key, default):
    v = field(input, key)
    if v is None:
        return default
    if isinstance(v, str):
        return v
    raise invalid(f"{key} must be a string")


def bool_field(input, key, default):
    v = field(input, key)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    raise invalid(f"{key} must be a boolean")


def seconds(s):
    """A non-negative, finite number of seconds (anything else: zero)."""
    return s if math.isfinite(s) and s > 0 else 0.0


def rust_f64(x):
    """Rust's ``Display`` of an f64: shortest round-trip digits, never an exponent, no ``.0``
    on whole numbers (30.0 -> "30", 0.6 -> "0.6", 1e-7 -> "0.0000001")."""
    from decimal import Decimal

    t = format(Decimal(repr(float(x))), "f")
    return t.rstrip("0").rstrip(".") if "." in t else t


def json_number_text(v):
    """serde_json's ``Number::to_string``: integers as is, floats in ryu's shortest form
    (Python's repr with the exponent written ``e21``/``e-7``; the switch to exponent form
    is approximated by Python's)."""
    if isinstance(v, int):
        return str(v)
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), repr(v))


def rust_debug_str(s):
    """Rust's ``{:?}`` of a str (quotes, backslash escapes, \\u{..} for control characters)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t\0":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
