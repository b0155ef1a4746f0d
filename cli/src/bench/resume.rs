//! The resume-latency figure: a session opened on one runtime runs a job to its result, its
//! TCP connection is dropped without `session.bye`, and a resume hello (`last_event_seq` 0)
//! goes to a second runtime (another node of the same cluster, or the same runtime): timed
//! from that hello's send to the first replayed frame carrying an `event_seq`.

use super::load::{self, Ws};
use futures_util::StreamExt;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How long a resume refused with "session is attached to a connection" (the runtime has not
/// yet seen the dropped connection end) is retried.
const RETRY_FOR: Duration = Duration::from_secs(5);
/// The pause between two such attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(2);
/// How long the graceful close of a resumed connection may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What the resume runs measured.
pub(super) struct Resumes {
    /// Hello sent → first replayed seq-bearing frame, one per completed resume.
    pub latency: Vec<Duration>,
    /// Seq-bearing frames replayed, up to and including each job's terminal, in total.
    pub replayed: u64,
    /// Resume hellos refused because the first runtime still held the connection (not timed).
    pub retries: u64,
}

/// `n` resumes: each opens a session on `from`, submits `firehose {count: events}` (or `echo`
/// when `events` is 0), reads to the result, drops the connection and resumes on `to`.
pub(super) async fn resumes(
    from: &str,
    to: &str,
    token: &str,
    n: usize,
    events: u64,
) -> Result<Resumes, String> {
    let mut out = Resumes {
        latency: Vec::with_capacity(n),
        replayed: 0,
        retries: 0,
    };
    for _ in 0..n {
        one(from, to, token, events, &mut out).await?;
    }
    Ok(out)
}

/// The welcome's session id and resume token.
#[derive(Deserialize)]
struct Welcome {
    payload: WelcomePayload,
}

#[derive(Deserialize)]
struct WelcomePayload {
    session_id: String,
    resume_token: String,
}

/// The envelope's `event_seq`, if any (everything else is skipped).
#[derive(Deserialize)]
struct Seq {
    event_seq: Option<u64>,
}

fn event_seq(text: &str) -> Option<u64> {
    serde_json::from_str::<Seq>(text).ok()?.event_seq
}

/// The `resume` object of a hello resuming the session `welcome` opened, from seq 0.
fn resume_object(welcome: &str) -> Result<String, String> {
    let w: Welcome = serde_json::from_str(welcome)
        .map_err(|e| format!("unreadable welcome ({e}): {welcome}"))?;
    Ok(serde_json::json!({
        "session_id": w.payload.session_id,
        "resume_token": w.payload.resume_token,
        "last_event_seq": 0,
    })
    .to_string())
}

async fn one(
    from: &str,
    to: &str,
    token: &str,
    events: u64,
    out: &mut Resumes,
) -> Result<(), String> {
    let (mut ws, welcome) = load::open_welcome(from, token).await?;
    let resume = resume_object(&welcome)?;
    let frame = if events == 0 {
        load::submit("echo", r#"{"resume":true}"#)
    } else {
        load::submit("firehose", &format!(r#"{{"count":{events}}}"#))
    };
    load::send(&mut ws, frame).await?;
    read_to_terminal(&mut ws, |_| {}).await?;
    // The TCP connection ends without session.bye (nor a WebSocket close).
    drop(ws);

    let deadline = Instant::now() + RETRY_FOR;
    let (mut ws, t0) = loop {
        let mut ws = load::connect(to).await?;
        let t0 = Instant::now();
        load::send(&mut ws, load::hello(token, Some(&resume))).await?;
        let text = load::recv(&mut ws).await?;
        match load::frame_type(&text) {
            "session.welcome" => break (ws, t0),
            "session.error" if text.contains("attached") && Instant::now() < deadline => {
                out.retries += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            _ => return Err(format!("resume refused: {text}")),
        }
    };
    let mut first = None;
    let mut replayed = 0;
    read_to_terminal(&mut ws, |text| {
        if event_seq(text).is_some() {
            first.get_or_insert_with(|| t0.elapsed());
            replayed += 1;
        }
    })
    .await?;
    let Some(first) = first else {
        return Err("the resume replayed no frame".into());
    };
    out.latency.push(first);
    out.replayed += replayed;
    close(ws).await;
    Ok(())
}

/// Reads frames (each seen by `each`) up to the job's `job.result`.
async fn read_to_terminal(ws: &mut Ws, mut each: impl FnMut(&str)) -> Result<(), String> {
    loop {
        let text = load::recv(ws).await?;
        each(&text);
        match load::frame_type(&text) {
            "job.result" => return Ok(()),
            "job.error" | "session.error" => return Err(format!("job failed: {text}")),
            _ => {}
        }
    }
}

/// A graceful close, read to the runtime's close reply.
async fn close(mut ws: Ws) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_object_carries_the_welcome_ids_from_seq_zero() {
        let w = r#"{"arcp":"1.1","id":"x","type":"session.welcome","session_id":"sess_1","payload":{"session_id":"sess_1","resume_token":"rtk_2","resume_window_sec":600}}"#;
        let v: serde_json::Value = serde_json::from_str(&resume_object(w).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"session_id": "sess_1", "resume_token": "rtk_2", "last_event_seq": 0})
        );
        assert!(resume_object(r#"{"payload":{}}"#).is_err());
    }

    #[test]
    fn only_the_envelope_seq_counts() {
        assert_eq!(
            event_seq(r#"{"type":"job.event","event_seq":7,"payload":{}}"#),
            Some(7)
        );
        assert_eq!(
            event_seq(r#"{"type":"session.welcome","payload":{"event_seq":3}}"#),
            None
        );
        assert_eq!(event_seq("not json"), None);
    }

    #[test]
    fn a_resume_hello_is_well_formed() {
        let h = load::hello(
            "t",
            Some(r#"{"session_id":"s","resume_token":"r","last_event_seq":0}"#),
        );
        let v: serde_json::Value = serde_json::from_str(&h).unwrap();
        assert_eq!(v["type"], "session.hello");
        assert_eq!(v["payload"]["resume"]["session_id"], "s");
        assert_eq!(v["payload"]["auth"]["token"], "t");
        let plain: serde_json::Value = serde_json::from_str(&load::hello("t", None)).unwrap();
        assert!(plain["payload"].get("resume").is_none());
    }
}
