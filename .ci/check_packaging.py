#!/usr/bin/env python3
"""Packaging checks over every workspace member (new crates are picked up from `cargo metadata`).

For each crate that can be published (no `publish = false`):
  - description, license, readme (the file exists), rust-version, edition, and for a library
    its documentation URL (docs.rs builds no page for a binary-only crate);
  - 1 to 5 keywords of the form crates.io accepts, 1 to 5 categories among crates.io's slugs;
  - a `[package.metadata.docs.rs]` table (libraries);
  - a LICENSE file in the crate directory (a symlink to the root LICENSE is fine: `cargo
    package` copies the content);
  - no normal or build dependency on a workspace crate marked `publish = false`;
  - its rust-version is at least the rust-version of every crate it depends on (normal and
    build dependencies, transitively, with the workspace's features), since clippy's
    `incompatible_msrv` checks only the standard library items the code uses.

Exit status 1 with one line per problem, 0 when all is well.
"""
import json
import os
import re
import subprocess
import sys

# crates.io's category slugs (src/boot/categories.toml of rust-lang/crates.io).
CATEGORIES = set("""
algorithms api-bindings asynchronous authentication caching command-line-interface
command-line-utilities compression computer-vision config concurrency cryptography
cryptography::cryptocurrencies database database-implementations data-structures date-and-time
development-tools development-tools::build-utils development-tools::cargo-plugins
development-tools::debugging development-tools::ffi development-tools::procedural-macro-helpers
development-tools::profiling development-tools::testing email embedded emulators encoding
external-ffi-bindings filesystem game-engines game-development games graphics gui
hardware-support internationalization localization mathematics memory-management multimedia
multimedia::audio multimedia::video multimedia::images multimedia::encoding network-programming
no-std os os::linux-apis os::macos-apis os::unix-apis os::windows-apis parser-implementations
parsing rendering rendering::engine rendering::graphics-api rendering::data-formats
rust-patterns science science::robotics simulation template-engine text-editors
text-processing value-formatting visualization wasm web-programming
web-programming::http-client web-programming::http-server web-programming::websocket
""".split())
KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,19}$")


def version(text):
    return tuple(int(x) for x in text.split(".")) + (0,) * (3 - len(text.split(".")))


def main():
    meta = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"])
    )
    packages = {p["id"]: p for p in meta["packages"]}
    members = set(meta["workspace_members"])
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    unpublished = {i for i in members if packages[i]["publish"] == []}
    problems = []

    def runtime_deps(node_id):
        for dep in nodes[node_id]["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
                yield dep["pkg"]

    for member in sorted(members, key=lambda i: packages[i]["name"]):
        pkg = packages[member]
        name = pkg["name"]
        crate_dir = os.path.dirname(pkg["manifest_path"])
        if member in unpublished:
            continue
        # docs.rs documents libraries only: a binary-only crate has no docs.rs page to name.
        has_lib = any(k in ("lib", "rlib", "dylib", "proc-macro") for t in pkg["targets"] for k in t["kind"])
        fields = ["description", "license", "readme", "rust_version", "edition"]
        if has_lib:
            fields.append("documentation")
        for field in fields:
            if not pkg.get(field):
                problems.append(f"{name}: no {field.replace('_', '-')}")
        if pkg.get("readme") and not os.path.isfile(os.path.join(crate_dir, pkg["readme"])):
            problems.append(f"{name}: readme {pkg['readme']} does not exist")
        keywords = pkg.get("keywords") or []
        if not 1 <= len(keywords) <= 5:
            problems.append(f"{name}: {len(keywords)} keywords (crates.io takes 1 to 5)")
        problems += [f"{name}: keyword {k!r} is not accepted by crates.io" for k in keywords if not KEYWORD.match(k)]
        categories = pkg.get("categories") or []
        if not 1 <= len(categories) <= 5:
            problems.append(f"{name}: {len(categories)} categories (crates.io takes 1 to 5)")
        problems += [f"{name}: category {c!r} is not a crates.io slug" for c in categories if c not in CATEGORIES]
        if has_lib and "rs" not in ((pkg.get("metadata") or {}).get("docs") or {}):
            problems.append(f"{name}: no [package.metadata.docs.rs]")
        if not os.path.isfile(os.path.join(crate_dir, "LICENSE")):
            problems.append(f"{name}: no LICENSE file in {crate_dir}")

        own = version(pkg["rust_version"]) if pkg.get("rust_version") else (0, 0, 0)
        seen, stack = set(), [member]
        while stack:
            for dep in runtime_deps(stack.pop()):
                if dep in seen:
                    continue
                seen.add(dep)
                stack.append(dep)
                dep_pkg = packages[dep]
                if dep in unpublished:
                    problems.append(f"{name}: depends (not as a dev-dependency) on {dep_pkg['name']}, which is publish = false")
                needed = dep_pkg.get("rust_version")
                if needed and version(needed) > own:
                    problems.append(
                        f"{name}: rust-version {pkg.get('rust_version')} is below {dep_pkg['name']} {dep_pkg['version']}'s {needed}"
                    )

    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} packaging problem(s)")
        return 1
    print(f"packaging metadata complete for {len(members - unpublished)} publishable crates "
          f"({len(unpublished)} publish = false)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
