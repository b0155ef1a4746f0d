//! `arcp jobs`: every job this principal may see (all pages), as an aligned table (job,
//! status, agent, age, events) or, with `--json`, one JSON array.
//!
//! `session.jobs` carries no progress, so the table shows each job's `last_event_seq` (the
//! number of events it has emitted in its session) as `EVENTS`.

use super::{Failure, JobsArgs, connect};
use arcp_proto::wire::JobSummary;
use arcp_tokio::client::{ListJobsRequest, Timestamp};
use serde_json::{Value, json};

/// Pages fetched at most (a runtime bounds its job table; this bounds the loop).
const MAX_PAGES: usize = 1000;

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
    let _ = client.close().await;
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    if args.json {
        let all: Vec<Value> = jobs.iter().map(|j| job_json(j, &now)).collect();
        println!("{}", Value::Array(all));
    } else {
        print!("{}", table(&jobs, &now));
    }
    Ok(0)
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

/// One job as `--json` prints it.
fn job_json(job: &JobSummary, now: &Timestamp) -> Value {
    json!({
        "job_id": job.job_id,
        "status": status(job),
        "agent": job.agent,
        "submitted_at": job.submitted_at.as_ref().or(job.created_at.as_ref()).map(|t| t.as_str().to_owned()),
        "age_sec": age_sec(job, now),
        "last_event_seq": job.last_event_seq,
        "parent_job_id": job.parent_job_id,
    })
}

/// The aligned table, a header line first and a count line last.
fn table(jobs: &[JobSummary], now: &Timestamp) -> String {
    let rows: Vec<[String; 5]> = jobs
        .iter()
        .map(|j| {
            [
                j.job_id.to_string(),
                status(j),
                j.agent.clone(),
                age_sec(j, now).map_or_else(|| "-".to_owned(), human_age),
                j.last_event_seq
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            ]
        })
        .collect();
    let header = ["JOB", "STATUS", "AGENT", "AGE", "EVENTS"].map(str::to_owned);
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
            if i + 1 == r.len() {
                // The last column (a number) is right-aligned.
                line.push_str(&format!("{c:>w$}"));
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
        let jobs = [
            job("job_1", "echo@1.0.0", "success", "2026-01-01T00:09:58Z", 1),
            job(
                "job_22",
                "slow@1.0.0",
                "running",
                "2026-01-01T00:00:00Z",
                130,
            ),
        ];
        assert_eq!(
            table(&jobs, &now),
            "JOB     STATUS   AGENT       AGE  EVENTS\n\
             job_1   success  echo@1.0.0  2s        1\n\
             job_22  running  slow@1.0.0  10m     130\n\
             2 job(s)\n"
        );
        assert_eq!(
            job_json(&jobs[0], &now),
            json!({"job_id": "job_1", "status": "success", "agent": "echo@1.0.0",
                   "submitted_at": "2026-01-01T00:09:58Z", "age_sec": 2,
                   "last_event_seq": 1, "parent_job_id": null})
        );
    }
}
