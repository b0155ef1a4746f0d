//! Core throughput without IO: the runtime turning agent events into encoded frames (through
//! `poll_transmit_encoded`, the ring's bytes; and for 1 job also `poll_transmit` + encoding
//! again, as adapters did before), with 1, 1,000
//! and 10,000 live jobs; resume replay of 10,000 events; and the deadline index with 10,000
//! timers; and whole jobs (submit → accepted → `StartAgent` → result) over 100 sessions.
//!
//! `CORE_ITERS=N CORE_CASE=events|jobs` runs N events (1 live job, `poll_transmit_encoded`) or
//! N jobs without criterion, for instruction counts under `valgrind --tool=callgrind` (run
//! with N and 2N; the difference / N is the per-event or per-job cost).

use arcp_proto::runtime::{
    AgentEvent, AgentSpec, ConnId, Effect, EffectOutcome, Runtime, RuntimeConfig, TransportKind,
};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{EventBody, Frame, LogBody, Message, SeededEntropy};
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use serde_json::Map;
use std::hint::black_box;
use std::time::Duration;

const T0: i64 = 1_795_483_825_000_000;

struct Bench {
    rt: Runtime,
    now: Instant,
    conn: ConnId,
    token: String,
    session: String,
    jobs: Vec<String>,
    out: Vec<u8>,
    /// Drain with `poll_transmit_encoded` (the ring's bytes, as the tokio adapter sends them)
    /// instead of `poll_transmit` + `encode_into`.
    encoded: bool,
}

fn config(jobs: usize, ring: usize) -> RuntimeConfig {
    let mut cfg = RuntimeConfig {
        agents: vec![AgentSpec::new("echo", &["1.0.0"])],
        heartbeat_interval: Duration::ZERO,
        ..RuntimeConfig::default()
    };
    cfg.bounds.max_jobs_per_session = jobs.max(1);
    cfg.bounds.max_ring_events = ring;
    cfg.bounds.max_pending_effects = jobs.max(1) * 4 + 64;
    cfg.bounds.max_transmit_queue = ring.max(jobs) + 64;
    cfg
}

impl Bench {
    /// A session with `jobs` running jobs (the first with `max_runtime_sec` when `timed`).
    fn new(jobs: usize, ring: usize, timed: bool) -> Bench {
        let now = Instant::from_millis(1_000);
        let rt = Runtime::new(
            config(jobs, ring),
            WallClock::new(now, T0),
            Box::new(SeededEntropy::new(1)),
        );
        let mut b = Bench {
            rt,
            now,
            conn: ConnId(1),
            token: String::new(),
            session: String::new(),
            jobs: Vec::new(),
            out: Vec::with_capacity(1 << 16),
            encoded: false,
        };
        assert_eq!(b.connect(None), 1, "welcome");
        for i in 0..jobs {
            let extra = if timed {
                format!(r#","max_runtime_sec":{}"#, 60 + i % 600)
            } else {
                String::new()
            };
            let submit = format!(
                r#"{{"id":"01M85JT00000000000000{i:05}","type":"job.submit","payload":{{"agent":"echo","input":{{"i":{i}}}{extra}}}}}"#
            );
            b.rt.handle_frame(b.now, b.conn, submit.as_bytes());
            b.drain();
        }
        assert_eq!(b.jobs.len(), jobs, "every job accepted");
        b
    }

    /// Opens the connection and says hello; returns the frames it produced.
    fn connect(&mut self, resume: Option<u64>) -> usize {
        self.rt
            .handle_connection_opened(self.now, self.conn, TransportKind::WebSocket);
        let resume = match resume {
            Some(seq) => format!(
                r#","resume":{{"session_id":"{}","resume_token":"{}","last_event_seq":{seq}}}"#,
                self.session, self.token
            ),
            None => String::new(),
        };
        let hello = format!(
            r#"{{"id":"01M85JSTHWXKC5VT8RX7CA7DJV","type":"session.hello","payload":{{"client":{{"name":"bench","version":"1"}},"auth":{{"scheme":"bearer","token":"t"}},"capabilities":{{"features":["ack","progress"]}}{resume}}}}}"#
        );
        self.rt.handle_frame(self.now, self.conn, hello.as_bytes());
        self.drain()
    }

    /// Answers effects and encodes every frame, as an adapter would; returns frames written.
    fn drain(&mut self) -> usize {
        let mut frames = 0;
        loop {
            let mut progressed = false;
            while self.encoded
                && let Some((_, bytes)) = self.rt.poll_transmit_encoded()
            {
                // What an adapter does with them: hand them to the socket.
                black_box(&bytes);
                frames += 1;
                progressed = true;
            }
            while let Some((_, f)) = self.rt.poll_transmit() {
                self.observe(&f);
                self.out.clear();
                f.encode_into(&mut self.out);
                frames += 1;
                progressed = true;
            }
            while let Some((id, effect)) = self.rt.poll_effect() {
                let outcome = match effect {
                    Effect::Authenticate { .. } => EffectOutcome::Authenticated {
                        principal: "alice".into(),
                    },
                    _ => EffectOutcome::Done,
                };
                self.rt.handle_effect_result(self.now, id, outcome);
                progressed = true;
            }
            while self.rt.poll_event().is_some() {}
            if !progressed {
                return frames;
            }
        }
    }

    fn observe(&mut self, f: &Frame) {
        match &f.message {
            Message::Welcome(w) => {
                self.token = w.resume_token.clone();
                self.session = (f.session_id.clone().unwrap_or_default()).into();
            }
            Message::Accepted(a) => self.jobs.push(a.job_id.clone().into()),
            _ => {}
        }
    }

    fn log(&mut self, job: usize) {
        let body = EventBody::Log(LogBody {
            level: "info".into(),
            message: "processing chunk 2 of 10".into(),
            attributes: None,
            extra: Map::new(),
        });
        let id = self.jobs[job].clone();
        let _ = self.rt.handle_agent_event(
            self.now,
            &arcp_proto::wire::JobId::from(id),
            AgentEvent::Event(body),
        );
    }

    fn ack_all(&mut self) {
        let ack = br#"{"id":"01M85JT5PXGN1W69722XHFAR2N","type":"session.ack","payload":{"last_processed_seq":18446744073709551615}}"#;
        self.rt.handle_frame(self.now, self.conn, ack);
    }
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("runtime_events");
    g.throughput(Throughput::Elements(1000));
    for (live, encoded) in [(1usize, false), (1, true), (1_000, true), (10_000, true)] {
        let mut b = Bench::new(live, 20_000, false);
        b.encoded = encoded;
        let how = if encoded {
            "poll_transmit_encoded"
        } else {
            "poll_transmit_and_encode"
        };
        g.bench_function(format!("{live}_live_jobs_{how}"), |bench| {
            bench.iter(|| {
                let mut frames = 0;
                for _ in 0..1000 {
                    b.log(0);
                    frames += b.drain();
                }
                assert_eq!(black_box(frames), 1000);
                b.ack_all();
            })
        });
    }
    g.finish();
}

fn resume_replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("resume_replay");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_function("10000_events", |bench| {
        bench.iter_batched(
            || {
                let mut b = Bench::new(1, 10_000, false);
                for _ in 0..9_999 {
                    b.log(0);
                    b.drain();
                }
                b.rt.handle_connection_closed(b.now, b.conn);
                b.drain();
                b.conn = ConnId(2);
                b.encoded = true;
                b
            },
            |mut b| {
                let frames = b.connect(Some(0));
                assert_eq!(frames, 10_000, "welcome + 9,999 replayed events");
                frames
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers_10000");
    let mut b = Bench::new(10_000, 20_000, true);
    g.bench_function("poll_timeout", |bench| {
        bench.iter(|| black_box(b.rt.poll_timeout()))
    });
    g.bench_function("handle_timeout_nothing_due", |bench| {
        bench.iter(|| {
            b.rt.handle_timeout(b.now);
            black_box(b.drain())
        })
    });
    g.finish();
}

/// `sessions` connected sessions submitting echo-like jobs that complete at once through
/// the agent API, every frame drained with `poll_transmit_encoded`.
struct Fleet {
    rt: Runtime,
    now: Instant,
    sessions: u64,
    next: u64,
    ended: u64,
}

impl Fleet {
    fn new(sessions: u64) -> Fleet {
        let now = Instant::from_millis(1_000);
        let mut cfg = config(20, 1_000);
        cfg.bounds.max_sessions = sessions as usize + 1;
        cfg.bounds.max_retained_jobs = 10_000;
        cfg.bounds.max_pending_effects = 1_024;
        let rt = Runtime::new(
            cfg,
            WallClock::new(now, T0),
            Box::new(SeededEntropy::new(1)),
        );
        let mut f = Fleet {
            rt,
            now,
            sessions,
            next: 0,
            ended: 0,
        };
        for c in 0..sessions {
            let conn = ConnId(c + 1);
            f.rt.handle_connection_opened(now, conn, TransportKind::WebSocket);
            let hello = br#"{"id":"01M85JSTHWXKC5VT8RX7CA7DJV","type":"session.hello","payload":{"client":{"name":"bench","version":"1"},"auth":{"scheme":"bearer","token":"t"},"capabilities":{"features":["ack","progress"]}}}"#;
            f.rt.handle_frame(now, conn, hello);
            f.drain();
        }
        assert_eq!(
            f.rt.session_count() as u64,
            sessions,
            "every session welcomed"
        );
        f
    }

    /// One job on the next session: submit, start, result; returns frames written.
    fn job(&mut self) -> usize {
        let conn = ConnId(self.next % self.sessions + 1);
        self.next += 1;
        let submit = br#"{"id":"01M85JT00000000000000000","type":"job.submit","payload":{"agent":"echo","input":{"text":"hello"}}}"#;
        self.rt.handle_frame(self.now, conn, submit);
        let frames = self.drain();
        if self.next.is_multiple_of(64) {
            let ack = br#"{"id":"01M85JT5PXGN1W69722XHFAR2N","type":"session.ack","payload":{"last_processed_seq":18446744073709551615}}"#;
            self.rt.handle_frame(self.now, conn, ack);
        }
        frames
    }

    fn drain(&mut self) -> usize {
        let mut frames = 0;
        loop {
            let mut progressed = false;
            while let Some((_, bytes)) = self.rt.poll_transmit_encoded() {
                black_box(&bytes);
                frames += 1;
                progressed = true;
            }
            while let Some((id, effect)) = self.rt.poll_effect() {
                let outcome = match effect {
                    Effect::Authenticate { .. } => EffectOutcome::Authenticated {
                        principal: "alice".into(),
                    },
                    Effect::StartAgent(start) => {
                        let input = start.input.clone();
                        let reply = self.rt.handle_agent_event(
                            self.now,
                            &start.job_id,
                            AgentEvent::Result {
                                result: Some(input),
                                summary: None,
                            },
                        );
                        assert!(reply.is_ok(), "echo result accepted");
                        self.ended += 1;
                        EffectOutcome::Done
                    }
                    _ => EffectOutcome::Done,
                };
                self.rt.handle_effect_result(self.now, id, outcome);
                progressed = true;
            }
            while self.rt.poll_event().is_some() {}
            if !progressed {
                return frames;
            }
        }
    }
}

fn jobs(c: &mut Criterion) {
    let mut g = c.benchmark_group("runtime_jobs");
    g.throughput(Throughput::Elements(1000));
    let mut f = Fleet::new(100);
    g.bench_function("100_sessions_echo", |bench| {
        bench.iter(|| {
            let mut frames = 0;
            for _ in 0..1000 {
                frames += f.job();
            }
            // accepted + result per job
            assert_eq!(black_box(frames), 2000);
        })
    });
    g.finish();
}

/// See the module docs: `CORE_ITERS` / `CORE_CASE`.
fn counted() -> bool {
    let Some(n) = std::env::var("CORE_ITERS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    let case = std::env::var("CORE_CASE").unwrap_or_else(|_| "events".into());
    let mut frames = 0usize;
    if case == "jobs" {
        let mut f = Fleet::new(100);
        for _ in 0..n {
            frames += f.job();
        }
        assert_eq!(f.ended, n, "every job ended");
    } else {
        let mut b = Bench::new(1, 20_000, false);
        b.encoded = true;
        for i in 0..n {
            b.log(0);
            frames += b.drain();
            if i % 1000 == 999 {
                b.ack_all();
            }
        }
    }
    println!("{case}: {n} iterations, {frames} frames");
    true
}

criterion_group!(benches, events, jobs, resume_replay, timers);

fn main() {
    if counted() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
