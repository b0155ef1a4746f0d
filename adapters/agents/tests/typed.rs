//! Typed agents (`arcp_agents::typed`): input deserialized into a struct, output serialized
//! from one, `?` on serde and context errors; exact terminal frames on a real `Runtime`.

mod support;

use arcp_agents::{AgentError, AgentRegistry, JobContext, typed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::*;

#[derive(Deserialize)]
struct Sum {
    numbers: Vec<i64>,
    label: Option<String>,
}

#[derive(Serialize)]
struct Total {
    label: String,
    total: i64,
}

async fn sum(input: Sum, ctx: JobContext) -> Result<Total, AgentError> {
    ctx.progress(1u64, Some(1), None, None).await?;
    // `?` on a serde error inside the agent.
    let extra: i64 = serde_json::from_value(json!(input.numbers.len()))?;
    Ok(Total {
        label: input.label.unwrap_or_else(|| "sum".to_owned()),
        total: input.numbers.iter().sum::<i64>() + extra,
    })
}

async fn parse_tool_output(_: Value, _: JobContext) -> Result<Total, AgentError> {
    let total: Total = Total {
        label: String::new(),
        total: serde_json::from_value(json!("not a number"))?,
    };
    Ok(total)
}

async fn nothing(_: (), _: JobContext) -> Result<(), AgentError> {
    Ok(())
}

fn harness() -> (Harness, arcp_proto::runtime::ConnId) {
    let mut agents = AgentRegistry::new();
    agents
        .register("sum", None, typed(sum))
        .register("bad-tool", None, typed(parse_tool_output))
        .register("nothing", None, typed(nothing));
    let mut h = Harness::with_registry(agents, |_| {});
    let c = h.connect(1, "alice-token");
    (h, c)
}

#[test]
fn typed_input_and_output_round_trip_through_serde() {
    let (mut h, c) = harness();
    let job = h
        .submit(
            c,
            "r1",
            json!({"agent": "sum", "input": {"numbers": [1, 2, 39], "label": "x"}}),
        )
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "progress", "job.result"]);
    assert_eq!(
        last(&f)["payload"]["result"],
        json!({"label": "x", "total": 45})
    );
    assert_eq!(last(&f)["payload"]["final_status"], "success");

    // `()` output: no result key.
    let job = h
        .submit(c, "r2", json!({"agent": "nothing", "input": null}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.result"]);
    assert!(last(&f)["payload"].get("result").is_none(), "{f:?}");
}

#[test]
fn input_that_does_not_fit_ends_invalid_request_without_running_the_agent() {
    let (mut h, c) = harness();
    let job = h
        .submit(c, "r1", json!({"agent": "sum", "input": {"numbers": "x"}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.error"]);
    assert_eq!(last(&f)["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(
        last(&f)["payload"]["message"],
        "invalid input: invalid type: string \"x\", expected a sequence"
    );
}

#[test]
fn question_mark_on_a_serde_error_ends_invalid_request_with_its_text() {
    let (mut h, c) = harness();
    let job = h
        .submit(c, "r1", json!({"agent": "bad-tool", "input": {}}))
        .unwrap();
    let f = h.job_frames(c, &job);
    assert_eq!(kinds(&f), ["job.accepted", "job.error"]);
    assert_eq!(last(&f)["payload"]["code"], "INVALID_REQUEST");
    assert_eq!(
        last(&f)["payload"]["message"],
        "invalid type: string \"not a number\", expected i64"
    );
}
