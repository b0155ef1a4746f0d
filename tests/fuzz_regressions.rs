//! Inputs the fuzz targets once failed on, replayed as plain tests.

use arcp_proto::wire::{EventBody, Limits, Message, decode};

/// `decode` target: a known event kind whose body repeats a key decoded as an untyped
/// `Other` body, which re-encoded without the repeat and then decoded typed, so
/// decode∘encode was not the identity. Duplicate keys now read last-wins, as `json.loads`.
#[test]
fn duplicate_key_in_an_event_body_reads_last_wins() {
    let input = br#"{"arcp":"1.1","id":"01M85JT5PVPGC5HATV76D7P706","type":"job.event","session_id":"sess_01M85JT5PM0TWJFDZN5QSWT14K","job_id":"job_01M85JT5PTHG8FX5C9MVFMJS3S","event_seq":14,"payload":{"kind":"artifact_ref","ts":"2026-11-24T01:30:34.075425Z","body":{"artifact_ichildrt_chatsize_bytes":2,"uri":"mem://cxt/plain","size_bytes":2,"uri":"mem://chatty/summary","summary":"2 rounds"}}}"#;
    let limits = Limits::default();
    let frame = decode(input, &limits).unwrap();
    let Message::Event(ev) = &frame.message else {
        panic!("not an event: {frame:?}");
    };
    let EventBody::ArtifactRef(b) = &ev.body else {
        panic!("not typed: {:?}", ev.body);
    };
    assert_eq!(b.uri.as_deref(), Some("mem://chatty/summary"));
    assert_eq!(b.size_bytes, Some(2));
    assert_eq!(b.extra.len(), 1);
    assert_eq!(decode(&frame.encode(), &limits), Ok(frame));
}

/// `decode` target: a welcome whose agent entry repeats `versions` and `default`. The first
/// decode keeps that entry untyped; its re-encoding decodes typed. The target accepts this
/// for JSON with repeated names (RFC 8259 §4) but requires the same message type and the
/// identity from the re-encoding on.
#[test]
fn repeated_names_in_a_welcome_agent_entry() {
    let input = br#"{"arcp":"1.1","id":"01M85JT5PM0TWJFDZN5QSWT14N","type":"session.welcome","session_id":"sess_01M85JT5PM0TWJFDZN5QSWT14K","payload":{"runtime":{"name":"arcp-peer-runtime","version":"1.1.3"},"session_id":"sess_01M85JT5PM0TWJFDZN5QSWT14K","resume_token":"rtk_01M85JT5PM0TWJFDZN5QSWT14M","resume_window_sec":600,"capabilities":{"encodings":["json"],"features":["heartbeat"],"agents":[{"name":"slow","versions":["1.0.0"],"default":"1.d","versions":["1.0.0"],"default":"1.0.0"}]},"accepted_at":"2026-11-24T01:30:34.068902Z"}}"#;
    arcp_proto::fuzzing::decode_bytes(input);
    let limits = Limits::default();
    let first = decode(input, &limits).unwrap();
    let second = decode(&first.encode(), &limits).unwrap();
    assert_eq!(second.message_type(), first.message_type());
    assert_eq!(decode(&second.encode(), &limits), Ok(second));
}

/// `runtime` target: an idempotent resubmit from a session that did not negotiate
/// `provisioned_credentials` got the original `job.accepted` with its `credentials` (D26).
/// The copy now drops them.
#[test]
fn replayed_accepted_has_no_credentials_without_the_feature() {
    arcp_proto::fuzzing::runtime_steps(include_bytes!(
        "fuzz_crashes/runtime-credentials-in-replayed-accepted.bin"
    ));
}

/// `session_pair` target: a `job.subscribe` (history) to the client's own ended job whose
/// answer was lost with the link; after the resume, the renumbered history arrived without
/// its `job.subscribed`. The simulator now treats a subscribe failed with `ConnectionLost` as
/// possibly in effect.
#[test]
fn lost_subscribed_history_after_a_resume() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-lost-subscribed-history.bin"
    ));
}

/// `runtime` target: an idempotent resubmit waiting for the first submit's credentials, its
/// connection closed and the id reused by a new connection without a hello: the minted
/// `job.accepted` copy (with credentials) went to that new connection. Now only a connection
/// still attached to the resubmitting session gets it.
#[test]
fn accepted_copy_after_conn_reuse() {
    arcp_proto::fuzzing::runtime_steps(include_bytes!(
        "fuzz_crashes/runtime-accepted-after-conn-reuse.bin"
    ));
}

/// `session_pair` target (found once `-s none` made the smoke run four times faster): a
/// durable session resumed from the store while appends were still completing. A frame that
/// became durable after the store read but before the welcome was persisted left the ring
/// (the store keeps it) and was in neither replay: the client saw seq 1, then 3. The replay
/// now reads another store page whenever the ring does not continue from the last frame sent.
#[test]
fn frame_made_durable_while_a_resume_welcome_is_persisted() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-durable-during-welcome.bin"
    ));
}

/// `runtime` target (found in a `-s none` run): a session subscribed with history to its own
/// ended job three times. The history copies the first subscription stamped into the
/// session's ring carried the job's id, and the third history replayed them too: an event
/// after the job's result. Copies are now marked in the ring and left out of later histories.
#[test]
fn own_subscription_history_copies_stay_out_of_later_histories() {
    arcp_proto::fuzzing::runtime_steps(include_bytes!(
        "fuzz_crashes/runtime-own-subscription-history-copies.bin"
    ));
}

/// `session_pair` target (CI, without ASan): a client subscribed with history to its own
/// job while the job's terminal was still waiting for the store. The `job.subscribed` went
/// out first, then that terminal, then the replay (a copy of the job's frames, its terminal
/// again), which the client refused as events after the terminal. The client now re-arms
/// the job where the replay starts (`subscribed_from - replayed + 1`, D10).
#[test]
fn subscription_replay_after_a_terminal_still_in_the_store() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-live-event-after-terminal.bin"
    ));
}

/// `session_pair` target, after the fix above: two subscriptions with history to one ended
/// job answered back to back; the checker kept only the second replay's start and took the
/// first replay's terminal for a second terminal. Each announced replay now re-arms the job
/// at its own first seq.
#[test]
fn two_replays_of_one_job() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-two-replays-of-one-job.bin"
    ));
}

/// `session_pair` target: with a slow store (appends completing after 175 ms) a session's
/// `echo` jobs kept ending, each end an append awaiting its result, until 26 effects were
/// outstanding with `max_pending_effects` at 24 (submits are refused at the cap, but a
/// running job's events were not held). `Runtime::job_held` now holds running jobs while
/// the table is full (tested exactly in `runtime_backpressure.rs`), and the simulator's host
/// parks a held job's emits, as a host does.
#[test]
fn a_slow_store_does_not_take_effects_past_the_cap() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-effects-over-cap-slow-store.bin"
    ));
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-effects-over-cap-slow-store-2.bin"
    ));
}

/// `session_pair` target, with a slow store: a subscription with history to the session's
/// own ended job, cut at once (no room), answered with `replayed: 0`; the `job.subscribed`
/// overtook the job's terminal, still being written, and the truncation notice after that
/// terminal looked like an event of an ended job. `job.subscribed` now waits behind the
/// frames stamped before it.
#[test]
fn subscribed_waits_behind_the_terminal_being_written() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-truncation-notice-after-terminal.bin"
    ));
}

/// `session_pair` target, with a slow store: idempotent resubmits of an ended job each
/// stamped a copy of its terminal (an append) with the effects table full. Such a resubmit
/// is now refused as busy (retryable) while the table or the session's buffer is full.
#[test]
fn resubmit_copies_respect_the_effects_cap() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-resubmit-copies-over-effects-cap.bin"
    ));
}

/// `session_pair` target (reproduces on 367f81c): a resume replayed 41 frames, over the
/// checker's bound of the live cap plus the ring's events (40): the ring also keeps a margin
/// of delivered frames for a resume, which the bound now counts.
#[test]
fn resume_replay_counts_the_ring_margin() {
    arcp_proto::fuzzing::session_pair(include_bytes!(
        "fuzz_crashes/session_pair-resume-replay-with-margin.bin"
    ));
}
