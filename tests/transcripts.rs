//! Every `raw` frame of every golden transcript decodes into the typed model and re-encodes to
//! JSON equal (as a JSON value) to the original.

use arcp_proto::wire::{Frame, Message, MessageType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn vectors() -> Vec<(String, usize, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for (n, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            let rec: Value = serde_json::from_str(line).unwrap();
            if let Some(raw) = rec.get("raw").and_then(Value::as_str) {
                out.push((name.clone(), n + 1, raw.to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_transcript_frame_roundtrips() {
    let frames = vectors();
    let mut by_type: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (file, line, raw) in &frames {
        match Frame::decode(raw.as_bytes()) {
            Ok(frame) => {
                *by_type.entry(frame.message_type().as_str()).or_default() += 1;
                let original: Value = serde_json::from_str(raw).unwrap();
                let again: Value = serde_json::from_slice(&frame.encode()).unwrap();
                if original != again {
                    failures.push(format!(
                        "{file}:{line}: re-encoded differs\n  in:  {raw}\n  out: {again}"
                    ));
                }
                if let Message::Event(ev) = &frame.message
                    && let arcp_proto::wire::EventBody::Other { kind, .. } = &ev.body
                {
                    failures.push(format!("{file}:{line}: kind {kind} not typed"));
                }
            }
            Err(e) => failures.push(format!("{file}:{line}: {e}\n  {raw}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let checked: usize = by_type.values().sum();
    println!("transcript frames decoded and re-encoded: {checked}");
    for (t, n) in &by_type {
        println!("  {t}: {n}");
    }
    assert_eq!(checked, 496);
    assert_eq!(by_type["job.event"], 211);
    assert_eq!(by_type.len(), 18);
    assert!(by_type.keys().all(|t| MessageType::parse(t).is_some()));
}
