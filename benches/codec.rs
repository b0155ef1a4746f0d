//! Codec throughput: typed decode and encode of a typical `job.event` (337 bytes) and of a
//! `session.welcome`. Target: decode + encode ≥ 1,000,000 frames/s on one core.

use arcp_proto::wire::Frame;
use criterion::{Criterion, Throughput, criterion_group};
use std::hint::black_box;

/// A `job.event` log line as the reference emits it, with a trace id: 337 bytes.
pub const JOB_EVENT: &str = r#"{"arcp":"1.1","id":"01M85JTBDCGZY6PRZCN3ZQJQGE","type":"job.event","session_id":"sess_01M85JTBDAGK0NMC72Z2YHC55J","trace_id":"14b167e2dcd4868ce98a862440549382","job_id":"job_01M85JTBDBZA2WQT7CQ7YJ9FXK","event_seq":2,"payload":{"kind":"log","ts":"2026-11-24T01:30:39.916517Z","body":{"level":"info","message":"processing chunk 2 of 10"}}}"#;

/// A `session.welcome` with the full feature list and rich agent inventory.
pub const WELCOME: &str = r#"{"arcp":"1.1","id":"01M85JSX0DFE7QPHM3JHNS74VD","type":"session.welcome","session_id":"sess_01M85JSX0DFE7QPHM3JHNS74VB","payload":{"runtime":{"name":"arcp-peer-runtime","version":"1.1.3"},"session_id":"sess_01M85JSX0DFE7QPHM3JHNS74VB","resume_token":"rtk_01M85JSX0DFE7QPHM3JHNS74VC","resume_window_sec":600,"heartbeat_interval_sec":2,"capabilities":{"encodings":["json"],"features":["heartbeat","ack","list_jobs","subscribe","lease_expires_at","cost.budget","progress","result_chunk","agent_versions","model.use","provisioned_credentials"],"agents":[{"name":"echo","versions":["1.0.0"],"default":"1.0.0"},{"name":"chatty","versions":["1.0.0"],"default":"1.0.0"},{"name":"versioned","versions":["1.0.0","2.0.0"],"default":"2.0.0"}]},"accepted_at":"2026-11-24T01:30:25.165442Z"}}"#;

fn bench(c: &mut Criterion) {
    for (name, raw) in [("job_event", JOB_EVENT), ("welcome", WELCOME)] {
        let frame = Frame::decode(raw.as_bytes()).expect("bench frame decodes");
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode", |b| {
            b.iter(|| Frame::decode(black_box(raw.as_bytes())))
        });
        let mut buf = Vec::with_capacity(1024);
        g.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&frame).encode_into(&mut buf);
                buf.len()
            })
        });
        g.bench_function("decode_encode", |b| {
            b.iter(|| {
                let f = Frame::decode(black_box(raw.as_bytes())).expect("decodes");
                buf.clear();
                f.encode_into(&mut buf);
                buf.len()
            })
        });
        g.finish();
    }
}

/// The baseline's plain envelope struct: the log body.
#[derive(serde::Deserialize, serde::Serialize)]
struct Body {
    level: String,
    message: String,
}
#[derive(serde::Deserialize, serde::Serialize)]
struct Payload {
    kind: String,
    ts: String,
    body: Body,
}
#[derive(serde::Deserialize, serde::Serialize)]
struct Envelope {
    arcp: String,
    id: String,
    #[serde(rename = "type")]
    ty: String,
    session_id: String,
    trace_id: String,
    job_id: String,
    event_seq: u64,
    payload: Payload,
}

/// The anchor the issue quotes: serde_json's own typed parse + serialize of a plain envelope
/// struct, measured in the same run so that load on the machine affects both alike.
fn baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline_serde_struct");
    g.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(1024);
    g.bench_function("decode_encode", |b| {
        b.iter(|| {
            let e: Envelope = serde_json::from_str(black_box(JOB_EVENT)).expect("parses");
            buf.clear();
            serde_json::to_writer(&mut buf, &e).expect("writes");
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench, baseline);

/// `CODEC_ITERS=N CODEC_CASE=decode_encode|decode|encode|baseline` runs the `job.event` case
/// N times without criterion, for instruction counts under `valgrind --tool=callgrind`
/// (run with N and 2N; the difference / N is the per-frame cost).
fn counted() -> bool {
    let Some(n) = std::env::var("CODEC_ITERS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    let case = std::env::var("CODEC_CASE").unwrap_or_else(|_| "decode_encode".into());
    let frame = Frame::decode(JOB_EVENT.as_bytes()).expect("bench frame decodes");
    let mut buf = Vec::with_capacity(1024);
    let mut total = 0usize;
    for _ in 0..n {
        buf.clear();
        match case.as_str() {
            "decode" => {
                let f = Frame::decode(black_box(JOB_EVENT.as_bytes())).expect("decodes");
                total += black_box(&f).event_seq.unwrap_or(0) as usize;
            }
            "encode" => black_box(&frame).encode_into(&mut buf),
            "baseline" => {
                let e: Envelope = serde_json::from_str(black_box(JOB_EVENT)).expect("parses");
                serde_json::to_writer(&mut buf, &e).expect("writes");
            }
            _ => {
                let f = Frame::decode(black_box(JOB_EVENT.as_bytes())).expect("decodes");
                f.encode_into(&mut buf);
            }
        }
        total += buf.len();
    }
    println!("{case}: {n} iterations, {total}");
    true
}

fn main() {
    if counted() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
