//! How job events look on a terminal: `progress` as a live indicatif bar on a TTY (one plain
//! line per event otherwise), every other event as a readable line, and the outcome.
//! `--json` mode prints one JSON object per line instead.

/// The core's outcome enum: the lines render every variant.
use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{JobEventItem, ResultValue};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};

/// Width of a progress bar, in cells.
const BAR_WIDTH: usize = 30;

/// Positions of the indicatif bar: progress is a fraction, so fractional `current`s and
/// `total`s draw exactly; the numbers themselves are in the bar's message.
const BAR_STEPS: u64 = 1000;

/// Writes events and outcomes to stdout.
#[derive(Debug)]
pub(crate) struct Renderer {
    json: bool,
    tty: bool,
    /// The live bar (a TTY only) while a job reports progress.
    bar: Option<ProgressBar>,
}

impl Renderer {
    /// A renderer for stdout; `json` selects raw JSON lines.
    pub(crate) fn stdout(json: bool) -> Self {
        Renderer {
            json,
            tty: std::io::stdout().is_terminal(),
            bar: None,
        }
    }

    /// Prints one event.
    pub(crate) fn event(&mut self, e: &JobEventItem) {
        if self.json {
            let line = json!({
                "type": "job.event",
                "job_id": e.job_id,
                "event_seq": e.event_seq,
                "event": serde_json::to_value(&e.event).unwrap_or(Value::Null),
            });
            self.line(&line.to_string());
            return;
        }
        let body = e.body();
        if e.kind() == "progress" {
            if self.tty {
                self.draw(&body);
            } else {
                self.line(&progress_text(&body));
            }
            return;
        }
        self.line(&event_line(e.kind(), &body));
    }

    /// Prints a job's outcome.
    pub(crate) fn outcome(&mut self, job_id: &str, outcome: &JobOutcome) {
        if self.json {
            self.line(&outcome_json(job_id, outcome).to_string());
        } else {
            self.line(&outcome_line(outcome));
        }
    }

    /// Updates the live bar (made on the first progress event): a bar with a `total`, a
    /// spinner without.
    fn draw(&mut self, body: &Value) {
        let current = body.get("current").and_then(Value::as_f64).unwrap_or(0.0);
        let total = body
            .get("total")
            .and_then(Value::as_f64)
            .filter(|t| *t > 0.0);
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(BAR_STEPS), ProgressDrawTarget::stdout());
            let template = if total.is_some() {
                "[{bar:30}] {msg}"
            } else {
                "{spinner} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("#>."));
            }
            bar
        });
        // The message first: the position's redraw then shows both.
        bar.set_message(progress_message(body));
        if let Some(total) = total {
            // Within [0, 1] after the clamp, so the product fits a u64.
            let frac = (current / total).clamp(0.0, 1.0);
            bar.set_position((frac * BAR_STEPS as f64).round() as u64);
        } else {
            bar.tick();
        }
    }

    /// Prints a whole line (above the live bar, if any).
    pub(crate) fn line(&mut self, text: &str) {
        let print = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Leaves the live bar drawn where it is, at its last state, and ends its line.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
            if !bar.is_hidden() {
                println!();
            }
        }
    }
}

/// `4/12 ticks  message` (without a total: `4 ticks`): the bar's message.
pub(crate) fn progress_message(body: &Value) -> String {
    let current = body.get("current").and_then(Value::as_f64).unwrap_or(0.0);
    let total = body
        .get("total")
        .and_then(Value::as_f64)
        .filter(|t| *t > 0.0);
    let mut text = match total {
        Some(t) => format!("{}/{}", format_number(current), format_number(t)),
        None => format_number(current),
    };
    if let Some(u) = body.get("units").and_then(Value::as_str) {
        text.push(' ');
        text.push_str(u);
    }
    if let Some(m) = body.get("message").and_then(Value::as_str) {
        text.push_str("  ");
        text.push_str(m);
    }
    text
}

/// `[##########....................]  4/12 ticks  message` (without a total: `4 ticks`).
pub(crate) fn progress_text(body: &Value) -> String {
    let current = body.get("current").and_then(Value::as_f64).unwrap_or(0.0);
    let total = body.get("total").and_then(Value::as_f64);
    let units = body.get("units").and_then(Value::as_str);
    let message = body.get("message").and_then(Value::as_str);
    let num = format_number;
    let mut text = match total {
        Some(total) if total > 0.0 => {
            let frac = (current / total).clamp(0.0, 1.0);
            // `frac` is within [0, 1], so the product fits a usize.
            let filled = ((frac * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
            format!(
                "[{}{}] {}/{}",
                "#".repeat(filled),
                ".".repeat(BAR_WIDTH - filled),
                num(current),
                num(total)
            )
        }
        _ => format!("progress {}", num(current)),
    };
    if let Some(u) = units {
        text.push(' ');
        text.push_str(u);
    }
    if let Some(m) = message {
        text.push_str("  ");
        text.push_str(m);
    }
    text
}

/// `3` for whole numbers, `2.5` otherwise.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One readable line for a non-progress event.
pub(crate) fn event_line(kind: &str, body: &Value) -> String {
    let s = |k: &str| body.get(k).and_then(Value::as_str);
    match kind {
        "log" => format!(
            "log     {}: {}",
            s("level").unwrap_or("info"),
            s("message").unwrap_or("")
        ),
        "thought" => format!("thought {}", s("text").unwrap_or("")),
        "status" => match s("message") {
            Some(m) => format!("status  {}: {m}", s("phase").unwrap_or("")),
            None => format!("status  {}", s("phase").unwrap_or("")),
        },
        _ => format!("{kind:<7} {body}"),
    }
}

/// The outcome as a line: `result: VALUE`, `cancelled`, `timed out`, `failed: CODE: message`.
pub(crate) fn outcome_line(outcome: &JobOutcome) -> String {
    match outcome {
        JobOutcome::Success { result, .. } => match result {
            ResultValue::None => "result: (none)".to_owned(),
            ResultValue::Inline(v) => format!("result: {v}"),
            ResultValue::Streamed { data, .. } => match std::str::from_utf8(data) {
                Ok(text) => format!("result: {text}"),
                Err(_) => format!("result: ({} bytes)", data.len()),
            },
            // D32: the streamed result could not be reassembled.
            ResultValue::Refused { reason, .. } => format!("result refused: {reason:?}"),
        },
        JobOutcome::Cancelled { .. } => "cancelled".to_owned(),
        JobOutcome::TimedOut { .. } => "timed out".to_owned(),
        JobOutcome::Failed { code, message, .. } => format!("failed: {code}: {message}"),
        _ => "ended".to_owned(),
    }
}

fn outcome_json(job_id: &str, outcome: &JobOutcome) -> Value {
    match outcome {
        JobOutcome::Success { result, .. } => {
            let result = match result {
                ResultValue::None => Value::Null,
                ResultValue::Inline(v) => v.clone(),
                ResultValue::Streamed { data, .. } => match std::str::from_utf8(data) {
                    Ok(text) => Value::String(text.to_owned()),
                    Err(_) => Value::Null,
                },
                ResultValue::Refused { reason, .. } => json!({"refused": format!("{reason:?}")}),
            };
            json!({"type": "job.result", "job_id": job_id, "final_status": "success", "result": result})
        }
        JobOutcome::Cancelled { .. } => {
            json!({"type": "job.result", "job_id": job_id, "final_status": "cancelled"})
        }
        JobOutcome::TimedOut { .. } => {
            json!({"type": "job.result", "job_id": job_id, "final_status": "timed_out"})
        }
        JobOutcome::Failed { code, message, .. } => {
            json!({"type": "job.error", "job_id": job_id, "code": code.to_string(), "message": message})
        }
        _ => json!({"type": "job.result", "job_id": job_id}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_text() {
        let body = json!({"current": 4, "total": 12, "units": "ticks"});
        assert_eq!(
            progress_text(&body),
            "[##########....................] 4/12 ticks"
        );
        let no_total = json!({"current": 2.5, "message": "warming"});
        assert_eq!(progress_text(&no_total), "progress 2.5  warming");
        let over = json!({"current": 20, "total": 10});
        assert_eq!(
            progress_text(&over),
            format!("[{}] 20/10", "#".repeat(BAR_WIDTH))
        );
    }

    #[test]
    fn bar_messages() {
        let body = json!({"current": 4, "total": 12, "units": "ticks", "message": "m"});
        assert_eq!(progress_message(&body), "4/12 ticks  m");
        assert_eq!(progress_message(&json!({"current": 2.5})), "2.5");
    }

    #[test]
    fn readable_lines() {
        assert_eq!(
            event_line("log", &json!({"level": "warn", "message": "hot"})),
            "log     warn: hot"
        );
        assert_eq!(
            event_line("status", &json!({"phase": "slow.start", "message": "m"})),
            "status  slow.start: m"
        );
        assert_eq!(
            event_line("metric", &json!({"name": "x", "value": 1})),
            "metric  {\"name\":\"x\",\"value\":1}"
        );
        let ok = JobOutcome::Success {
            result: ResultValue::Inline(json!({"ok": true})),
            completed_at: None,
        };
        assert_eq!(outcome_line(&ok), "result: {\"ok\":true}");
        assert_eq!(
            outcome_json("job_1", &ok),
            json!({"type": "job.result", "job_id": "job_1", "final_status": "success", "result": {"ok": true}})
        );
    }
}
