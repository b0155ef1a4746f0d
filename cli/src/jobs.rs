//! `arcp jobs`: every job this principal may see (all pages), as an aligned table (job,
//! status, agent, age, events, progress) or, with `--json`, one JSON array.
//!
//! `session.jobs` carries no progress: for the first [`MAX_PROGRESS_PROBES`] running jobs
//! the CLI subscribes with history, takes the latest `progress` event of the replay, and
//! unsubscribes. `EVENTS` is the job's `last_event_seq`.

use super::{Failure, JobsArgs, connect};
use arcp_proto::wire::JobSummary;
use arcp_tokio::client::{Client, JobId, JobStatus, ListJobsRequest, Timestamp};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

/// Pages fetched at most (a runtime bounds its job table; this bounds the loop).
const MAX_PAGES: usize = 1000;

/// Running jobs whose progress is looked up (one subscription each); the others show `-`.
const MAX_PROGRESS_PROBES: usize = 16;

/// How long one replayed event may take to arrive before the probe gives up on the job.
const PROBE_EVENT_WAIT: Duration = Duration::from_secs(2);

/// The body of the latest `progress` event `job` replays to a subscription, if any.
async fn latest_progress(client: &Client, job: &JobId) -> Option<Value> {
    let sub = client.subscribe(job, true).await.ok()?;
    let replayed = sub.replayed();
    let mut latest = None;
    {
        let mut events = sub.events();
        for _ in 0..replayed {
            match tokio::time::timeout(PROBE_EVENT_WAIT, events.next()).await {
                Ok(Some(e)) if e.kind() == "progress" => latest = Some(e.body()),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
    let _ = client.unsubscribe(job).await;
    latest
}

pub(super) async fn run(args: JobsArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    let mut cursor = None;
    let mut jobs = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = client
            .list_jobs(ListJobsRequest {
                cursor: cursor.take(),
                ..ListJobsRequest::default()
            })
            .await
            .map_err(|e| Failure::client(&args.conn.url, e))?;
        jobs.extend(page.jobs);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut rows: Vec<(JobSummary, Option<Value>)> = Vec::with_capacity(jobs.len());
    let mut probes = 0;
    for job in jobs {
        let progress = if job.status == JobStatus::Running && probes < MAX_PROGRESS_PROBES {
            probes += 1;
            latest_progress(&client, &job.job_id).await
        } else {
            None
        };
        rows.push((job, progress));
    }
    let _ = client.close().await;
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    if args.json {
        let all: Vec<Value> = rows
            .iter()
            .map(|(j, p)| job_json(j, p.as_ref(), &now))
            .collect();
        println!("{}", Value::Array(all));
    } else {
        print!("{}", table(&rows, &now));
    }
    Ok(0)
}

/// `4/12 ticks` (without a total: `4 ticks`), from a `progress` body.
fn progress_cell(body: &Value) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        }
    };
    let current = body.get("current").and_then(Value::as_f64).unwrap_or(0.0);
    let mut text = match body.get("total").and_then(Value::as_f64) {
        Some(t) => format!("{}/{}", num(current), num(t)),
        None => num(current),
    };
    if let Some(u) = body.get("units").and_then(Value::as_str) {
        text.push(' ');
        text.push_str(u);
    }
    text
}

/// The status as on the wire (`running`, `success`, …).
fn status(job: &JobSummary) -> String {
    match serde_json::to_value(job.status) {
        Ok(Value::String(s)) => s,
        _ => format!("{:?}", job.status),
    }
}

/// Whole seconds since the job was submitted (`None` without a submission time).
fn age_sec(job: &JobSummary, now: &Timestamp) -> Option<u64> {
    let at = job.submitted_at.as_ref().or(job.created_at.as_ref())?;
    Some(now.duration_since(at).map_or(0, |d| d.as_secs()))
}

/// `42s`, `5m`, `3h`, `2d`.
pub(super) fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// One job as `--json` prints it (`progress`: the latest `progress` event's body, or null).
fn job_json(job: &JobSummary, progress: Option<&Value>, now: &Timestamp) -> Value {
    json!({
        "progress": progress,
        "job_id": job.job_id,
        "status": status(job),
        "agent": job.agent,
        "submitted_at": job.submitted_at.as_ref().or(job.created_at.as_ref()).map(|t| t.as_str().to_owned()),
        "age_sec": age_sec(job, now),
        "last_event_seq": job.last_event_seq,
        "parent_job_id": job.parent_job_id,
    })
}

/// The index of the `EVENTS` column.
const EVENTS_COLUMN: usize = 4;

/// The aligned table, a header line first and a count line last.
fn table(jobs: &[(JobSummary, Option<Value>)], now: &Timestamp) -> String {
    let rows: Vec<[String; 6]> = jobs
        .iter()
        .map(|(j, p)| {
            [
                j.job_id.to_string(),
                status(j),
                j.agent.clone(),
                age_sec(j, now).map_or_else(|| "-".to_owned(), human_age),
                j.last_event_seq
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                p.as_ref().map_or_else(|| "-".to_owned(), progress_cell),
            ]
        })
        .collect();
    let header = ["JOB", "STATUS", "AGENT", "AGE", "EVENTS", "PROGRESS"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i == EVENTS_COLUMN {
                // A number: right-aligned.
                line.push_str(&format!("{c:>w$}  "));
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} job(s)\n", rows.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, agent: &str, status: &str, at: &str, seq: u64) -> JobSummary {
        serde_json::from_value(json!({
            "job_id": id, "agent": agent, "status": status, "submitted_at": at,
            "last_event_seq": seq,
        }))
        .unwrap()
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(human_age(0), "0s");
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(60), "1m");
        assert_eq!(human_age(7200), "2h");
        assert_eq!(human_age(200_000), "2d");
    }

    #[test]
    fn the_table_is_aligned() {
        let now = Timestamp::parse("2026-01-01T00:10:00Z").unwrap();
        let progress = json!({"current": 4, "total": 12, "units": "ticks"});
        let jobs = [
            (
                job("job_1", "echo@1.0.0", "success", "2026-01-01T00:09:58Z", 1),
                None,
            ),
            (
                job(
                    "job_22",
                    "slow@1.0.0",
                    "running",
                    "2026-01-01T00:00:00Z",
                    130,
                ),
                Some(progress.clone()),
            ),
        ];
        assert_eq!(
            table(&jobs, &now),
            "JOB     STATUS   AGENT       AGE  EVENTS  PROGRESS\n\
             job_1   success  echo@1.0.0  2s        1  -\n\
             job_22  running  slow@1.0.0  10m     130  4/12 ticks\n\
             2 job(s)\n"
        );
        assert_eq!(
            job_json(&jobs[0].0, None, &now),
            json!({"job_id": "job_1", "status": "success", "agent": "echo@1.0.0",
                   "submitted_at": "2026-01-01T00:09:58Z", "age_sec": 2,
                   "last_event_seq": 1, "parent_job_id": null, "progress": null})
        );
        assert_eq!(
            job_json(&jobs[1].0, Some(&progress), &now)["progress"],
            progress
        );
        assert_eq!(progress_cell(&json!({"current": 2.5})), "2.5");
    }
}
