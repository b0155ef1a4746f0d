//! The golden transcripts (`tests/vectors/*.jsonl`), compiled in for the unit tests of the
//! wire fast paths: the core never reads files, not even in its own tests.

/// Each transcript's text.
const TRANSCRIPTS: [&str; 24] = [
    include_str!("../../tests/vectors/ack.jsonl"),
    include_str!("../../tests/vectors/agent_versions.jsonl"),
    include_str!("../../tests/vectors/bad_token.jsonl"),
    include_str!("../../tests/vectors/budget_exhaustion.jsonl"),
    include_str!("../../tests/vectors/cancel.jsonl"),
    include_str!("../../tests/vectors/delegation.jsonl"),
    include_str!("../../tests/vectors/event_ordering.jsonl"),
    include_str!("../../tests/vectors/failing_agent.jsonl"),
    include_str!("../../tests/vectors/graceful_close.jsonl"),
    include_str!("../../tests/vectors/handshake.jsonl"),
    include_str!("../../tests/vectors/heartbeat.jsonl"),
    include_str!("../../tests/vectors/idempotent_resubmit.jsonl"),
    include_str!("../../tests/vectors/lease_enforcement.jsonl"),
    include_str!("../../tests/vectors/lease_expiry.jsonl"),
    include_str!("../../tests/vectors/list_jobs.jsonl"),
    include_str!("../../tests/vectors/max_runtime.jsonl"),
    include_str!("../../tests/vectors/progress_events.jsonl"),
    include_str!("../../tests/vectors/provisioned_credentials.jsonl"),
    include_str!("../../tests/vectors/result_chunks.jsonl"),
    include_str!("../../tests/vectors/resume_replay.jsonl"),
    include_str!("../../tests/vectors/submit_echo.jsonl"),
    include_str!("../../tests/vectors/subscribe.jsonl"),
    include_str!("../../tests/vectors/subscriber_cannot_cancel.jsonl"),
    include_str!("../../tests/vectors/unsubscribe.jsonl"),
];

/// The `raw` text of every recorded frame, in file order.
pub(crate) fn raw_frames() -> Vec<String> {
    let mut out = Vec::new();
    for text in TRANSCRIPTS {
        for line in text.lines() {
            let rec: serde_json::Value =
                serde_json::from_str(line).expect("transcript line is JSON");
            if let Some(raw) = rec.get("raw").and_then(|v| v.as_str()) {
                out.push(raw.to_owned());
            }
        }
    }
    out
}
