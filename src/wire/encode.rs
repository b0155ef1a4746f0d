//! The hand-written encoder: a [`Frame`] straight into a byte buffer.
//!
//! The envelope and `job.event` payloads (with `log` bodies written directly) are written
//! here; every other payload and body goes through its serde `Serialize` impl. The output is
//! byte for byte what `serde_json::to_writer(frame)` writes (the `Serialize` impl of
//! [`Frame`] stays the reference; tests and the `decode` fuzz target compare the two).

use super::event::{EventBody, JobEvent};
use super::message::{Frame, Message};
use super::scan::stop_position;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Every frame's first bytes, up to its `id` value: `{"arcp":"1.1","id":` (a test checks
/// the version against `ARCP_VERSION`).
const ENVELOPE_HEAD: &[u8] = b"{\"arcp\":\"1.1\",\"id\":";

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(n) = stop_position(rest) {
        let (run, tail) = rest.split_at(n);
        out.extend_from_slice(run);
        let Some((&c, tail)) = tail.split_first() else {
            break;
        };
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
        rest = tail;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Appends `n` in decimal.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while let Some(slot) = i.checked_sub(1).and_then(|j| buf.get_mut(j)) {
        *slot = b'0' + (n % 10) as u8;
        i -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(i..).unwrap_or_default());
}

fn write_event(out: &mut Vec<u8>, ev: &JobEvent) -> serde_json::Result<()> {
    // Timestamp text is digits and `-T:.Z+` only (checked on parse): nothing to escape.
    match &ev.body {
        // The usual log event: its fixed text written whole.
        EventBody::Log(b) if b.attributes.is_none() && b.extra.is_empty() => {
            out.extend_from_slice(b"{\"kind\":\"log\",\"ts\":\"");
            out.extend_from_slice(ev.ts.as_bytes());
            out.extend_from_slice(b"\",\"body\":{\"level\":");
            write_str(out, &b.level);
            out.extend_from_slice(b",\"message\":");
            write_str(out, &b.message);
            out.extend_from_slice(b"}}");
        }
        body => {
            out.extend_from_slice(b"{\"kind\":");
            write_str(out, body.kind());
            out.extend_from_slice(b",\"ts\":\"");
            out.extend_from_slice(ev.ts.as_bytes());
            out.extend_from_slice(b"\",\"body\":");
            body.write_body(out)?;
            out.push(b'}');
        }
    }
    Ok(())
}

/// Appends `f`'s compact JSON in the stable field order (the spec's §5 order).
pub(crate) fn write_frame(f: &Frame, out: &mut Vec<u8>) -> serde_json::Result<()> {
    out.reserve(
        160 + f.id.len()
            + f.session_id.as_ref().map_or(0, |v| v.len())
            + f.job_id.as_ref().map_or(0, |v| v.len()),
    );
    out.extend_from_slice(ENVELOPE_HEAD);
    write_str(out, &f.id);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(f.message_type().as_str().as_bytes());
    out.push(b'"');
    if let Some(v) = &f.session_id {
        out.extend_from_slice(b",\"session_id\":");
        write_str(out, v);
    }
    if let Some(v) = &f.trace_id {
        // Lower-case hex only: nothing to escape.
        out.extend_from_slice(b",\"trace_id\":\"");
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }
    if let Some(v) = &f.job_id {
        out.extend_from_slice(b",\"job_id\":");
        write_str(out, v);
    }
    if let Some(n) = f.event_seq {
        out.extend_from_slice(b",\"event_seq\":");
        write_u64(out, n);
    }
    out.extend_from_slice(b",\"payload\":");
    match &f.message {
        Message::Event(ev) => write_event(out, ev)?,
        m => m.write_payload(out)?,
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_str(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let all: String = (0u8..0x80).map(char::from).collect();
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}",
            "é 😀 \u{2028}",
            all.as_str(),
            "0123456789abcdef\"0123456789abcdef\\",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_str(s), "{s:?}");
        }
    }

    #[test]
    fn envelope_head_holds_the_version() {
        use crate::wire::message::ARCP_VERSION;
        assert_eq!(
            ENVELOPE_HEAD,
            format!(r#"{{"arcp":"{ARCP_VERSION}","id":"#).as_bytes()
        );
    }

    #[test]
    fn integers() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_strings_escape_like_serde_json(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_str(&s));
        }
    }

    /// Every transcript frame encodes exactly as its `Serialize` impl writes it.
    #[test]
    fn frames_encode_like_serialize_on_transcripts() {
        let frames = crate::wire::test_vectors::raw_frames();
        for raw in &frames {
            let frame = Frame::decode(raw.as_bytes()).unwrap();
            let mut out = b"prefix".to_vec();
            write_frame(&frame, &mut out).unwrap();
            assert_eq!(out[6..], serde_json::to_vec(&frame).unwrap()[..], "{raw}");
            assert_eq!(frame.encoded_len(), out.len() - 6);
        }
        assert_eq!(frames.len(), 496);
    }
}
