//! The 25 scenarios of peer_client.py, in its order, with its names and pass/fail rules.

mod basic;
mod jobs;
mod sessions;

use crate::check::Res;
use crate::ctx::Ctx;

/// Agents the runtime must host: name, versions, default.
pub const AGENT_CONTRACT: [(&str, &[&str], &str); 10] = [
    ("echo", &["1.0.0"], "1.0.0"),
    ("chatty", &["1.0.0"], "1.0.0"),
    ("slow", &["1.0.0"], "1.0.0"),
    ("budget", &["1.0.0"], "1.0.0"),
    ("lease-check", &["1.0.0"], "1.0.0"),
    ("chunked", &["1.0.0"], "1.0.0"),
    ("delegator", &["1.0.0"], "1.0.0"),
    ("failing", &["1.0.0"], "1.0.0"),
    ("rotator", &["1.0.0"], "1.0.0"),
    ("versioned", &["1.0.0", "2.0.0"], "2.0.0"),
];

/// Scenarios the Python reference itself fails (skipped with `--python-peer`).
pub const KNOWN_PYTHON_DEVIATIONS: [(&str, &str); 1] = [(
    "resume_live_job",
    "COMPAT.md D3: the reference runtime keeps emitting a running job's events into the \
     dropped connection's dead send queue; they are never written to the event log and are \
     not delivered after session.hello+resume, so the resumed session never sees the rest \
     of the job or its job.result",
)];

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name (as in peer_client.py).
    pub name: &'static str,
    /// One line of description.
    pub doc: &'static str,
    /// Needs the agent contract.
    pub needs_agents: bool,
    /// Needs credential provisioning.
    pub needs_credentials: bool,
    /// The body.
    pub run: fn(&Ctx) -> Res,
}

const fn sc(name: &'static str, doc: &'static str, run: fn(&Ctx) -> Res) -> Scenario {
    Scenario {
        name,
        doc,
        needs_agents: true,
        needs_credentials: false,
        run,
    }
}

const fn no_agents(mut s: Scenario) -> Scenario {
    s.needs_agents = false;
    s
}

/// All scenarios, in order.
pub const SCENARIOS: [Scenario; 25] = [
    no_agents(sc(
        "handshake",
        "session.hello/welcome fields and feature intersection (§6.2).",
        basic::handshake,
    )),
    sc(
        "submit_echo",
        "job.submit -> job.accepted -> job.result with the echoed input and trace_id.",
        basic::submit_echo,
    ),
    sc(
        "event_ordering",
        "Session-scoped event_seq: strictly increasing and gap-free across two jobs (§8.3).",
        basic::event_ordering,
    ),
    sc(
        "progress_events",
        "progress bodies {current,total,units,message} with exact values (§8.2.1).",
        basic::progress_events,
    ),
    sc(
        "cancel",
        "job.cancel from the submitter -> job.result final_status=cancelled (§7.4).",
        basic::cancel,
    ),
    sc(
        "idempotent_resubmit",
        "Same idempotency_key + same params -> same job.accepted; conflicting -> DUPLICATE_KEY (§7.2).",
        basic::idempotent_resubmit,
    ),
    sc(
        "agent_versions",
        "Version resolution, pinning, AGENT_VERSION_NOT_AVAILABLE and AGENT_NOT_AVAILABLE (§7.5).",
        basic::agent_versions,
    ),
    sc(
        "list_jobs",
        "session.list_jobs with status/agent/created_after filters and cursor paging (§6.6).",
        basic::list_jobs,
    ),
    sc(
        "subscribe",
        "job.subscribe from a second session with history replay (§7.6).",
        sessions::subscribe,
    ),
    sc(
        "unsubscribe",
        "Live-only subscription (history=false) then job.unsubscribe stops delivery (§7.6).",
        sessions::unsubscribe,
    ),
    sc(
        "subscriber_cannot_cancel",
        "An observer principal may subscribe but its job.cancel has no effect (§7.6, §14).",
        sessions::subscriber_cannot_cancel,
    ),
    sc(
        "resume_replay",
        "Transport drop, session.hello+resume, replay strictly after last_event_seq, token rotation (§6.3).",
        sessions::resume_replay,
    ),
    sc(
        "resume_live_job",
        "A job that keeps running across a transport drop is delivered gap-free after resume.",
        sessions::resume_live_job,
    ),
    sc(
        "ack",
        "session.ack is accepted silently, consumes no event_seq, and resume from the acked seq replays the rest (§6.5).",
        sessions::ack,
    ),
    no_agents(sc(
        "heartbeat",
        "Runtime-initiated ping answered by the client, client ping answered with pong (§6.4).",
        sessions::heartbeat,
    )),
    sc(
        "budget_exhaustion",
        "cost metrics decrement cost.budget; the next operation fails BUDGET_EXHAUSTED (§9.6).",
        jobs::budget_exhaustion,
    ),
    sc(
        "lease_enforcement",
        "Operations outside the lease fail PERMISSION_DENIED; glob matching of fs/tool/model patterns (§9.2, §9.3).",
        jobs::lease_enforcement,
    ),
    sc(
        "lease_expiry",
        "lease_constraints.expires_at echoed; job.error LEASE_EXPIRED (retryable=false) once it passes (§9.5).",
        jobs::lease_expiry,
    ),
    sc(
        "result_chunks",
        "result_chunk streaming in utf8 and base64, reassembly, result_id/result_size on job.result (§8.4).",
        jobs::result_chunks,
    ),
    sc(
        "max_runtime",
        "max_runtime_sec exceeded -> job.result final_status=timed_out (§7.3).",
        jobs::max_runtime,
    ),
    sc(
        "failing_agent",
        "Agent failure -> job.error; unexpected exceptions are INTERNAL_ERROR retryable=true (§12).",
        jobs::failing_agent,
    ),
    sc(
        "delegation",
        "delegate event + child job with a subset lease on the same session (§9.4, §10).",
        jobs::delegation,
    ),
    Scenario {
        needs_credentials: true,
        ..sc(
            "provisioned_credentials",
            "Per-job credentials in job.accepted and credential_rotated status events (§9.8).",
            jobs::provisioned_credentials,
        )
    },
    no_agents(sc(
        "bad_token",
        "Invalid bearer token -> session.error UNAUTHENTICATED, no welcome, transport closed (§6.1).",
        jobs::bad_token,
    )),
    sc(
        "graceful_close",
        "session.bye closes the session; in-flight jobs keep running (§6.7).",
        jobs::graceful_close,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_match_peer_client() {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "handshake",
                "submit_echo",
                "event_ordering",
                "progress_events",
                "cancel",
                "idempotent_resubmit",
                "agent_versions",
                "list_jobs",
                "subscribe",
                "unsubscribe",
                "subscriber_cannot_cancel",
                "resume_replay",
                "resume_live_job",
                "ack",
                "heartbeat",
                "budget_exhaustion",
                "lease_enforcement",
                "lease_expiry",
                "result_chunks",
                "max_runtime",
                "failing_agent",
                "delegation",
                "provisioned_credentials",
                "bad_token",
                "graceful_close",
            ]
        );
        let no_agent: Vec<&str> = SCENARIOS
            .iter()
            .filter(|s| !s.needs_agents)
            .map(|s| s.name)
            .collect();
        assert_eq!(no_agent, ["handshake", "heartbeat", "bad_token"]);
    }

    #[test]
    fn chatty_has_six_events_per_round_plus_two() {
        assert_eq!(basic::chatty_expected_bodies(5).len(), 32);
    }
}
