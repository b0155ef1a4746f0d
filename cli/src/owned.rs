//! Resuming the session that submitted a job (from the state file), for `arcp cancel` and
//! `arcp tail` of one's own jobs: only the submitting session may cancel (see
//! docs/compat.md#d7--who-may-cancel), and each CLI command is a
//! process of its own.

use super::state::{self, Entry, StateFile};
use super::{ConnectArgs, Failure};
use arcp_tokio::client::{Client, ClientError, ErrorCode, ResumeRetry, ResumeState, SessionId};
use std::time::Duration;

/// Events of the resumed session buffered for `arcp tail` (the unrouted stream's capacity;
/// the client stops reading the socket while it is full).
pub(super) const UNROUTED_CAPACITY: usize = 1024;

/// The session that submitted a job, resumed.
pub(super) struct Owned {
    /// The resumed client.
    pub(super) client: Client,
    /// Its state-file entry (with the rotated resume token saved).
    pub(super) entry: Entry,
    /// The state file.
    pub(super) state: StateFile,
}

/// What the state file knows of `job` for this URL and token.
pub(super) enum Lookup {
    /// The CLI submitted it: its session, resumed.
    Resumed(Box<Owned>),
    /// No record of it (submitted elsewhere, or the record is gone).
    Unknown,
    /// It was submitted with another token (another principal).
    Foreign,
    /// The CLI submitted it but its session cannot be resumed any more (the record is
    /// dropped): why, as a sentence.
    Gone(String),
}

/// Resumes the session that submitted `job`, when the state file has it. A session that can
/// no longer be resumed is dropped from the state file ([`Lookup::Gone`]).
pub(super) async fn resume(
    args: &ConnectArgs,
    job: &str,
    unrouted: bool,
) -> Result<Lookup, Failure> {
    let principal = state::principal_of(args.token()?);
    let state = args.state()?;
    let Some(entry) = state
        .find(&args.url, &principal, job)
        .map_err(Failure::Error)?
    else {
        return Ok(
            if state
                .foreign(&args.url, &principal, job)
                .map_err(Failure::Error)?
            {
                Lookup::Foreign
            } else {
                Lookup::Unknown
            },
        );
    };
    let connect = |last_event_seq: u64| -> Result<_, Failure> {
        let mut b = args
            .builder()?
            .auto_resume(false)
            // A resume right after the previous command's `session.bye` may find the
            // session still attached for a moment: a few quick retries (750 ms in all).
            .resume_retry(ResumeRetry::new(
                4,
                Duration::from_millis(50),
                Duration::from_millis(400),
            ))
            .resume(ResumeState {
                session_id: SessionId::new(entry.session_id.clone()),
                resume_token: entry.resume_token.clone(),
                last_event_seq,
            });
        if unrouted {
            b = b.unrouted_events(UNROUTED_CAPACITY);
        }
        Ok(b.connect())
    };
    // From the start of the session; when the runtime no longer buffers its oldest events,
    // once more from the first one it keeps.
    let mut attempt = connect(0)?.await;
    if let Err(ClientError::Refused { code, message, .. }) = &attempt
        && *code == ErrorCode::ResumeWindowExpired
        && let Some(kept) = kept_from(message)
    {
        attempt = connect(kept.saturating_sub(1))?.await;
    }
    let client = match attempt {
        Ok(c) => c,
        Err(ClientError::Refused { code, message, .. }) => {
            let session = &entry.session_id;
            if message.contains("attached") {
                return Err(Failure::Error(format!(
                    "job {job}: its session {session} is in use by another connection (is \
the `arcp submit` or `arcp tail` that holds it still running?)"
                )));
            }
            let _ = state.remove(&args.url, session);
            let why = if code == ErrorCode::ResumeWindowExpired {
                "its resume window has passed"
            } else if message.contains("resume token") {
                "its resume token was refused"
            } else {
                "the runtime no longer knows it (it restarted without --db, or the window passed)"
            };
            return Ok(Lookup::Gone(format!(
                "job {job}: the session that submitted it ({session}) cannot be resumed: {why} \
({code}: {message})"
            )));
        }
        Err(e) => return Err(Failure::client(&args.url, e)),
    };
    // The resume token rotated with the welcome: the old one is spent.
    let entry = Entry {
        resume_token: client.resume_token().unwrap_or_default(),
        saved_at: state::now(),
        resume_window_sec: client.welcome().resume_window_sec,
        ..entry
    };
    state.save(entry.clone()).map_err(Failure::Error)?;
    Ok(Lookup::Resumed(Box::new(Owned {
        client,
        entry,
        state,
    })))
}

/// `N` of the runtime's "events after X are no longer buffered (kept from N)".
fn kept_from(message: &str) -> Option<u64> {
    let rest = message.split("(kept from ").nth(1)?;
    rest.strip_suffix(')')?.parse().ok()
}

/// Records the session of `client` (just opened by `arcp submit`) and its job.
pub(super) fn record(
    args: &ConnectArgs,
    client: &Client,
    job: &str,
) -> Result<(StateFile, Entry), Failure> {
    let state = args.state()?;
    let entry = Entry {
        url: args.url.clone(),
        principal: state::principal_of(args.token()?),
        session_id: client.session_id().to_string(),
        resume_token: client.resume_token().unwrap_or_default(),
        jobs: vec![job.to_owned()],
        saved_at: state::now(),
        resume_window_sec: client.welcome().resume_window_sec,
    };
    state.save(entry.clone()).map_err(Failure::Error)?;
    Ok((state, entry))
}

#[cfg(test)]
mod tests {
    use super::kept_from;

    #[test]
    fn the_first_kept_event_is_read_from_the_refusal() {
        assert_eq!(
            kept_from("events after 0 are no longer buffered (kept from 4097)"),
            Some(4097)
        );
        assert_eq!(kept_from("resume window elapsed"), None);
        assert_eq!(kept_from("x (kept from y)"), None);
    }
}
