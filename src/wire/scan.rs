//! The hand-written decoder for the hot shape: a `job.event` envelope.
//!
//! One pass over the bytes, no intermediate values: envelope strings are borrowed from the
//! input and copied once into the owned fields the [`Frame`] needs, `log` bodies are read
//! directly, and other bodies are handed to serde as the exact slice they occupy.
//!
//! It only ever says "this is the frame" or "not mine": anything unusual (another message
//! type, a duplicate or unknown key, a `null`, an escaped key, a number that is not a plain
//! integer, a body that does not fit its kind…) returns `None` and the general serde-based
//! decoder runs instead, so every error and every unusual-but-valid input is handled in one
//! place. The `fuzzing` feature's differential check ([`super::codec::decode_general`])
//! holds the two to the same answers.

use super::event::{BodySeed, EventBody, JobEvent, LogBody};
use super::ids::{JobId, SessionId, TraceId, valid_envelope_id};
use super::message::{Frame, Message};
use super::timestamp::Timestamp;
use serde::de::DeserializeSeed;
use std::borrow::Cow;

/// The position of the first `"`, `\` or control character in `bytes`: the bytes a JSON
/// string cannot hold unescaped. Eight bytes at a time (SWAR); the lowest flagged byte of a
/// word is always exact (borrows only run upwards), and bytes ≥ 0x80 are never flagged.
pub(crate) fn stop_position(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    /// The flagged bytes of one little-endian word.
    fn hits(w: [u8; 8]) -> u64 {
        let x = u64::from_le_bytes(w);
        let q = x ^ (LO * u64::from(b'"'));
        let b = x ^ (LO * u64::from(b'\\'));
        ((q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b) | (x.wrapping_sub(LO * 0x20) & !x))
            & HI
    }
    fn word(w: &[u8]) -> [u8; 8] {
        w.try_into().unwrap_or([b'a'; 8])
    }
    let first = |h: u64| (h.trailing_zeros() / 8) as usize;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let h = hits(word(chunk));
        if h != 0 {
            return Some(at + first(h));
        }
        at += 8;
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        return None;
    }
    // The last eight bytes as one word, overlapping bytes already found clean (a clean byte
    // is never flagged below a real hit); a short input byte by byte.
    let Some(from) = bytes.len().checked_sub(8) else {
        return tail
            .iter()
            .position(|&c| c < 0x20 || c == b'"' || c == b'\\');
    };
    let h = hits(word(bytes.get(from..)?));
    (h != 0).then(|| from + first(h))
}

/// A cursor over UTF-8 text (checked once up front), reading JSON tokens.
struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    /// Consumes `want` after optional whitespace.
    fn expect(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.pos += 1)
    }

    /// After a member: `true` when another follows (`,`), `false` at the closing `}`.
    fn more(&mut self) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(true)
            }
            b'}' => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Length of the plain run from the cursor: bytes before the next `"`, `\` or control.
    fn run(&self) -> Option<usize> {
        stop_position(self.bytes().get(self.pos..)?)
    }

    /// A string without escapes, borrowed (keys, kinds, ids, timestamps).
    fn plain_str(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + self.run()?;
        if self.bytes().get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// Which of `keys` (each written with its quotes) the next key is, consuming it and its
    /// `:`; `None` for any other key, escaped keys included. `hint` is the index expected
    /// next (keys usually arrive in emitter order), tried first.
    fn key_in(&mut self, keys: &[&[u8]], hint: usize) -> Option<usize> {
        self.ws();
        let rest = self.bytes().get(self.pos..)?;
        let i = match keys.get(hint) {
            Some(k) if rest.starts_with(k) => hint,
            _ => keys.iter().position(|k| rest.starts_with(k))?,
        };
        self.pos += keys.get(i)?.len();
        self.expect(b':')?;
        Some(i)
    }

    /// Consumes `lit` (a whole token, e.g. a quoted string) after optional whitespace.
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        self.ws();
        if !self.bytes().get(self.pos..)?.starts_with(lit) {
            return None;
        }
        self.pos += lit.len();
        Some(())
    }

    /// Any string: borrowed when it has no escapes, unescaped into an owned one otherwise.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut end = start + self.run()?;
        match self.bytes().get(end)? {
            b'"' => {
                self.pos = end + 1;
                return self.text.get(start..end).map(Cow::Borrowed);
            }
            b'\\' => {}
            _ => return None,
        }
        let mut out = String::with_capacity(end - start + 16);
        out.push_str(self.text.get(start..end)?);
        loop {
            // At a backslash.
            let esc = *self.bytes().get(end + 1)?;
            self.pos = end + 2;
            let c = match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            };
            out.push(c);
            let from = self.pos;
            end = from + self.run()?;
            out.push_str(self.text.get(from..end)?);
            match self.bytes().get(end)? {
                b'"' => {
                    self.pos = end + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {}
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.bytes().get(self.pos..self.pos + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + char::from(c).to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }

    /// After `\u`: one code point, a surrogate pair as one; lone surrogates are refused, as
    /// serde_json refuses them.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        let cp = match hi {
            0xD800..=0xDBFF => {
                if self.bytes().get(self.pos..self.pos + 2)? != b"\\u" {
                    return None;
                }
                self.pos += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return None;
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return None,
            _ => hi,
        };
        char::from_u32(cp)
    }

    /// A non-negative integer without sign, fraction, exponent or leading zero.
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(&c) = self.bytes().get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.pos += 1;
        }
        let len = self.pos - start;
        if len == 0 || (len > 1 && self.bytes().get(start) == Some(&b'0')) {
            return None;
        }
        Some(n)
    }

    /// Moves past one JSON value and returns its text. Structure is only tracked far enough
    /// to find the value's end (strings, nesting); the caller hands the text to serde_json,
    /// which validates it fully.
    fn skip_value(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            match *self.bytes().get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    loop {
                        self.pos += self.run()?;
                        match *self.bytes().get(self.pos)? {
                            b'"' => break,
                            b'\\' => self.pos += 2,
                            _ => return None,
                        }
                    }
                    self.pos += 1;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                    continue;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.pos += 1;
                }
                b',' | b':' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                b' ' | b'\n' | b'\r' | b'\t' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                b',' | b':' | b' ' | b'\n' | b'\r' | b'\t' => return None,
                _ => {
                    // A scalar: up to the next structural byte or whitespace.
                    let rest = self.bytes().get(self.pos..)?;
                    let n = rest
                        .iter()
                        .position(|c| {
                            matches!(
                                c,
                                b',' | b':'
                                    | b'}'
                                    | b']'
                                    | b'{'
                                    | b'['
                                    | b'"'
                                    | b' '
                                    | b'\n'
                                    | b'\r'
                                    | b'\t'
                            )
                        })
                        .unwrap_or(rest.len());
                    self.pos += n;
                }
            }
            if depth == 0 {
                return self.text.get(start..self.pos);
            }
        }
    }

    /// A `log` body `{level, message}` with nothing else; `None` for any other shape.
    fn log_body(&mut self) -> Option<LogBody> {
        self.expect(b'{')?;
        let (mut level, mut message) = (None, None);
        let mut hint = 0;
        loop {
            let k = self.key_in(&[b"\"level\"", b"\"message\""], hint)?;
            hint = k + 1;
            match k {
                0 if level.is_none() => level = Some(self.string()?.into_owned()),
                1 if message.is_none() => message = Some(self.string()?.into_owned()),
                _ => return None,
            }
            if !self.more()? {
                break;
            }
        }
        Some(LogBody {
            level: level?,
            message: message?,
            attributes: None,
            extra: serde_json::Map::new(),
        })
    }

    /// A body of `kind`: `log` read directly, anything else through its typed serde path.
    fn body(&mut self, kind: &str) -> Option<EventBody> {
        let start = self.pos;
        if kind == "log" {
            if let Some(b) = self.log_body() {
                return Some(EventBody::Log(b));
            }
            self.pos = start;
        }
        let text = self.skip_value()?;
        let mut de = serde_json::Deserializer::from_str(text);
        let body = BodySeed(kind).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(body)
    }

    /// A `job.event` payload `{kind, ts, body}`, `kind` before `body`.
    fn job_event(&mut self) -> Option<JobEvent> {
        self.expect(b'{')?;
        let (mut kind, mut ts, mut body) = (None, None, None);
        let mut hint = 0;
        loop {
            let k = self.key_in(&[b"\"kind\"", b"\"ts\"", b"\"body\""], hint)?;
            hint = k + 1;
            match k {
                0 if kind.is_none() => kind = Some(self.plain_str()?),
                1 if ts.is_none() => ts = Some(Timestamp::parse(self.plain_str()?).ok()?),
                2 if body.is_none() => body = Some(self.body(kind?)?),
                _ => return None,
            }
            if !self.more()? {
                break;
            }
        }
        Some(JobEvent {
            ts: ts?,
            body: body?,
        })
    }
}

/// The envelope keys (spec §5), quoted, in emitter order.
const ENVELOPE_KEYS: [&[u8]; 8] = [
    b"\"arcp\"",
    b"\"id\"",
    b"\"type\"",
    b"\"session_id\"",
    b"\"trace_id\"",
    b"\"job_id\"",
    b"\"event_seq\"",
    b"\"payload\"",
];

/// `"1.1"` as a JSON token.
const ARCP_VERSION_JSON: &[u8] = b"\"1.1\"";

/// `"job.event"` as a JSON token.
const EVENT_TYPE_JSON: &[u8] = b"\"job.event\"";

/// Decodes a `job.event` frame of the usual shape, or `None` when the general decoder must
/// look at it. Never panics.
pub(crate) fn decode_event(bytes: &[u8]) -> Option<Frame> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut s = Scan { text, pos: 0 };
    s.expect(b'{')?;
    let mut id = None;
    let mut ty = false;
    let mut session_id = None;
    let mut trace_id = None;
    let mut job_id = None;
    let mut event_seq = None;
    let mut payload = None;
    let mut arcp = false;
    let mut hint = 0;
    loop {
        let k = s.key_in(&ENVELOPE_KEYS, hint)?;
        hint = k + 1;
        match k {
            0 if !arcp => {
                // D17: absent or "1.1".
                s.literal(ARCP_VERSION_JSON)?;
                arcp = true;
            }
            1 if id.is_none() => {
                let v = s.string()?;
                // D16.
                if !valid_envelope_id(&v) {
                    return None;
                }
                id = Some(v.into_owned());
            }
            2 if !ty => {
                s.literal(EVENT_TYPE_JSON)?;
                ty = true;
            }
            3 if session_id.is_none() => {
                session_id = Some(SessionId::from(s.string()?.into_owned()))
            }
            // D15.
            4 if trace_id.is_none() => {
                trace_id = Some(TraceId::parse(s.plain_str()?).ok()?);
            }
            5 if job_id.is_none() => job_id = Some(JobId::from(s.string()?.into_owned())),
            6 if event_seq.is_none() => {
                let n = s.uint()?;
                if n == 0 {
                    return None;
                }
                event_seq = Some(n);
            }
            // The payload is read by type, so `type` must come first (as every emitter has it).
            7 if payload.is_none() && ty => payload = Some(s.job_event()?),
            _ => return None,
        }
        if !s.more()? {
            break;
        }
    }
    s.ws();
    if s.pos != bytes.len() {
        return None;
    }
    Some(Frame {
        id: id?,
        session_id,
        trace_id,
        job_id,
        event_seq,
        message: Message::Event(payload?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ARCP_VERSION, Limits, MessageType, decode_general};

    const EVENT: &str = r#"{"arcp":"1.1","id":"01M85JTBDCGZY6PRZCN3ZQJQGE","type":"job.event","session_id":"sess_01M85JTBDAGK0NMC72Z2YHC55J","trace_id":"14b167e2dcd4868ce98a862440549382","job_id":"job_01M85JTBDBZA2WQT7CQ7YJ9FXK","event_seq":2,"payload":{"kind":"log","ts":"2026-11-24T01:30:39.916517Z","body":{"level":"info","message":"processing chunk 2 of 10"}}}"#;

    /// Every transcript frame: the scanner either declines or gives the general decoder's frame.
    #[test]
    fn agrees_with_general_decoder_on_transcripts() {
        let frames = crate::wire::test_vectors::raw_frames();
        let mut taken = 0;
        for raw in &frames {
            let general = decode_general(raw.as_bytes(), &Limits::default()).unwrap();
            if let Some(f) = decode_event(raw.as_bytes()) {
                taken += 1;
                assert_eq!(f, general, "{raw}");
                assert_eq!(f.encode(), general.encode(), "{raw}");
            }
        }
        assert_eq!(frames.len(), 496);
        // Every one of the 211 recorded `job.event` frames takes the fast path.
        assert_eq!(taken, 211);
    }

    /// The byte-by-byte oracle for [`stop_position`]: `"`, `\` and control characters.
    static STRING_STOP: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize;
            i += 1;
        }
        t
    };

    proptest::proptest! {
        /// The word-at-a-time run finder agrees with a byte-by-byte scan at every offset.
        #[test]
        fn run_matches_bytewise(data in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xdc, 0x00, b'Z']), 0..40),
            from in 0usize..40) {
            let text: String = data.iter().map(|&b| char::from(b)).collect();
            let from = from.min(text.len());
            if text.is_char_boundary(from) {
                let s = Scan { text: &text, pos: from };
                let want = text.as_bytes()[from..].iter().position(|&c| STRING_STOP[usize::from(c)]);
                proptest::prop_assert_eq!(s.run(), want);
            }
        }
    }

    #[test]
    fn literals_match_their_sources() {
        assert_eq!(ARCP_VERSION_JSON, serde_json::to_vec(ARCP_VERSION).unwrap());
        assert_eq!(
            EVENT_TYPE_JSON,
            serde_json::to_vec(MessageType::Event.as_str()).unwrap()
        );
    }

    #[test]
    fn reads_the_hot_shape() {
        let f = decode_event(EVENT.as_bytes()).unwrap();
        assert_eq!(f.id, "01M85JTBDCGZY6PRZCN3ZQJQGE");
        assert_eq!(
            f.session_id.as_deref(),
            Some("sess_01M85JTBDAGK0NMC72Z2YHC55J")
        );
        assert_eq!(f.job_id.as_deref(), Some("job_01M85JTBDBZA2WQT7CQ7YJ9FXK"));
        assert_eq!(f.event_seq, Some(2));
        let Message::Event(ev) = &f.message else {
            panic!("not an event")
        };
        assert_eq!(ev.ts.as_str(), "2026-11-24T01:30:39.916517Z");
        let EventBody::Log(b) = &ev.body else {
            panic!("not a log")
        };
        assert_eq!(
            (b.level.as_str(), b.message.as_str()),
            ("info", "processing chunk 2 of 10")
        );
        assert_eq!(f.encode(), EVENT.as_bytes());
    }

    #[test]
    fn unescapes_strings_like_serde() {
        let raw = EVENT.replace(
            "processing chunk 2 of 10",
            r#"a \"q\" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 é end"#,
        );
        let f = decode_event(raw.as_bytes()).unwrap();
        assert_eq!(
            Ok(&f),
            decode_general(raw.as_bytes(), &Limits::default()).as_ref()
        );
        let Message::Event(ev) = &f.message else {
            panic!("not an event")
        };
        let EventBody::Log(b) = &ev.body else {
            panic!("not a log")
        };
        assert_eq!(b.message, "a \"q\" \\ / \u{8}\u{c}\n\r\t é 😀 é end");
    }

    /// Shapes the scanner leaves to the general decoder (which then answers, Ok or Err).
    #[test]
    fn declines_unusual_shapes() {
        for (from, to) in [
            (r#""type":"job.event""#, r#""type":"job.result""#),
            (r#""arcp":"1.1""#, r#""arcp":"1.0""#),
            (r#""event_seq":2"#, r#""event_seq":0"#),
            (r#""event_seq":2"#, r#""event_seq":2.0"#),
            (r#""event_seq":2"#, r#""event_seq":02"#),
            (r#""event_seq":2"#, r#""event_seq":null"#),
            (r#""session_id":"#, r#""x":1,"session_id":"#),
            (r#""job_id":"#, r#""id":"dup","job_id":"#),
            (r#""level":"info""#, r#""level":"info","level":"warn""#),
            (r#""message":"processing"#, r#""message":"\ud800 x"#),
            (r#""trace_id":"14b1"#, r#""trace_id":"14B1"#),
            (
                r#""ts":"2026-11-24T01:30:39.916517Z""#,
                r#""ts":"2026-11-24T01:30:39+02:00""#,
            ),
        ] {
            let raw = EVENT.replace(from, to);
            assert_ne!(raw, EVENT, "{from}");
            assert!(decode_event(raw.as_bytes()).is_none(), "{raw}");
        }
        assert!(decode_event(format!("{EVENT} x").as_bytes()).is_none());
        assert!(decode_event(EVENT.replace("\"type\":\"job.event\",", "").as_bytes()).is_none());
        // Whitespace anywhere JSON allows it is fine.
        let spaced = EVENT
            .replace("\",", "\" ,\n ")
            .replace("\":", "\"\t:\r ")
            .replace('{', " { ")
            .replace('}', " } ");
        let f = decode_event(spaced.as_bytes()).unwrap();
        assert_eq!(f.encode(), EVENT.as_bytes());
    }

    #[test]
    fn other_kinds_go_through_their_typed_bodies() {
        let raw = EVENT.replace(
            r#""kind":"log","ts":"2026-11-24T01:30:39.916517Z","body":{"level":"info","message":"processing chunk 2 of 10"}"#,
            r#""kind":"metric","ts":"2026-11-24T01:30:39Z","body":{"name":"cost.usd","value":0.4,"unit":"USD","attributes":{"k":["]}",{"x":null}]}}"#,
        );
        let f = decode_event(raw.as_bytes()).unwrap();
        assert_eq!(
            Ok(&f),
            decode_general(raw.as_bytes(), &Limits::default()).as_ref()
        );
        let Message::Event(ev) = &f.message else {
            panic!("not an event")
        };
        assert!(matches!(ev.body, EventBody::Metric(_)));
        assert_eq!(f.encode(), raw.as_bytes());
        // A log body with more than level and message takes the same path.
        let raw = EVENT.replace(r#" of 10""#, r#" of 10","attributes":{"a":1}"#);
        let f = decode_event(raw.as_bytes()).unwrap();
        assert_eq!(
            Ok(&f),
            decode_general(raw.as_bytes(), &Limits::default()).as_ref()
        );
        assert_eq!(f.encode(), raw.as_bytes());
    }
}
