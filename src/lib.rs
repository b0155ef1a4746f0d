//! # arcp-proto
//!
//! The Sans-IO core of ARCP v1.1, the Agent Runtime Control Protocol: pure state machines and
//! the wire model for submitting, observing and controlling long-running AI agent jobs.
//!
//! The core never reads a clock, an RNG, a socket or a file. Time comes in as arguments,
//! entropy through [`wire::Entropy`], and bytes through `handle_*` calls; frames and effects go
//! out through `poll_*` calls. Adapters (tokio, futures, blocking threads) own the IO.
//!
//! ## The driving contract
//!
//! Every adapter drives a state machine the same way:
//!
//! 1. Feed exactly one input (`handle_frame`, `handle_timeout`, a command, ...).
//! 2. Drain every `poll_*` until `None`: transmits, then effects, then events (every
//!    `poll_*` is `#[must_use]`).
//! 3. Ask `poll_timeout` last (draining can change it).
//! 4. Sleep until the earliest of: socket input, effect completion, application command,
//!    deadline.
//! 5. On wake, re-read the clock; if `now >= deadline`, call `handle_timeout(now)`.
//!
//! A `now` earlier than one a state machine already saw is taken as the latest it saw: time
//! never runs backwards inside the core.
//!
//! A runtime host also applies backpressure: before feeding an agent's event it asks
//! `Runtime::job_held`, and while that is `true` it leaves the event (and the agent's `emit`)
//! waiting, asking again after each drain (the session's buffer is full; README
//! "Backpressure").
//!
//! ## Example: a client and a runtime driven by hand
//!
//! No adapter: the two state machines talk over an in-memory pipe (a `Vec` of encoded
//! frames), the "host" answers the runtime's effects itself, and the "agent" is two calls.
//! Every step feeds one input, then drains every `poll_*`.
//!
//! ```
//! use arcp_proto::client::{ClientConfig, ClientEvent, ClientSession, JobOutcome};
//! use arcp_proto::client::{ResultValue, SubmitRequest};
//! use arcp_proto::runtime::{AgentEvent, AgentSpec, ConnId, Effect, EffectId, EffectOutcome};
//! use arcp_proto::runtime::{Runtime, RuntimeConfig, TransportKind};
//! use arcp_proto::time::{Instant, WallClock};
//! use arcp_proto::wire::{EventBody, Feature, LogBody, SeededEntropy};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! /// Drains the runtime: transmits (onto the pipe), then effects, then events.
//! fn drain_rt(rt: &mut Runtime, pipe: &mut Vec<Vec<u8>>) -> Vec<(EffectId, Effect)> {
//!     while let Some((_conn, bytes)) = rt.poll_transmit_encoded() {
//!         pipe.push(bytes.to_vec());
//!     }
//!     let effects = std::iter::from_fn(|| rt.poll_effect()).collect();
//!     while rt.poll_event().is_some() {}
//!     effects
//! }
//! /// Drains the client: transmits (onto the pipe), then events.
//! fn drain_client(client: &mut ClientSession, pipe: &mut Vec<Vec<u8>>) -> Vec<ClientEvent> {
//!     pipe.extend(std::iter::from_fn(|| client.poll_transmit()).map(|f| f.encode()));
//!     std::iter::from_fn(|| client.poll_event()).collect()
//! }
//!
//! let now = Instant::from_millis(1_000);
//! let wall = WallClock::new(now, 1_795_483_825_000_000); // 2026-11-24T01:30:25Z
//! let agents = vec![AgentSpec::new("echo", &["1.0.0"])];
//! let mut rt = Runtime::new(
//!     RuntimeConfig { agents, ..RuntimeConfig::default() },
//!     wall,
//!     Box::new(SeededEntropy::new(1)),
//! );
//! let config = ClientConfig::named("demo", "1.0.0", "alice-token");
//! let mut client = ClientSession::new(config, wall, Box::new(SeededEntropy::new(2)));
//! let (conn, mut to_rt, mut to_client) = (ConnId(1), Vec::new(), Vec::new());
//!
//! // Hello → the runtime asks its host to authenticate the token → welcome.
//! rt.handle_connection_opened(now, conn, TransportKind::WebSocket);
//! client.handle_connected(now);
//! drain_client(&mut client, &mut to_rt);
//! rt.handle_frame(now, conn, &to_rt.remove(0));
//! let [(auth, Effect::Authenticate { token, .. })] = &drain_rt(&mut rt, &mut to_client)[..] else {
//!     panic!("one Authenticate effect");
//! };
//! assert_eq!(token, "alice-token");
//! rt.handle_effect_result(now, *auth, EffectOutcome::Authenticated { principal: "alice".into() });
//! drain_rt(&mut rt, &mut to_client);
//! client.handle_frame(now, &to_client.remove(0));
//! let events = drain_client(&mut client, &mut to_rt);
//! let Some(ClientEvent::Welcome(welcome)) = events.first() else { panic!("{events:?}") };
//! assert_eq!(Some(&welcome.session_id), client.session_id()); // a `SessionId`
//! assert!(welcome.features.contains(Feature::Heartbeat)); // a `FeatureSet`
//! assert_eq!(welcome.heartbeat_interval, Some(Duration::from_secs(30)));
//! // Asked last: the runtime pings in 30 s; the client gives up after two silent intervals.
//! assert_eq!(rt.poll_timeout(), Some(now + Duration::from_secs(30)));
//! assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(60)));
//!
//! // Submit → job.accepted and a StartAgent effect, answered by the "agent" itself.
//! let request = client.submit(now, SubmitRequest::new("echo", json!({"text": "hi"})))?;
//! drain_client(&mut client, &mut to_rt);
//! rt.handle_frame(now, conn, &to_rt.remove(0));
//! let [(start_id, Effect::StartAgent(start))] = &drain_rt(&mut rt, &mut to_client)[..] else {
//!     panic!("one StartAgent effect");
//! };
//! assert_eq!(start.agent.to_string(), "echo@1.0.0");
//! let (level, message) = ("info".to_owned(), "echoing".to_owned());
//! let log = LogBody { level, message, attributes: None, extra: Default::default() };
//! rt.handle_agent_event(now, &start.job_id, AgentEvent::Event(EventBody::Log(log)))
//!     .expect("a running job takes events");
//! drain_rt(&mut rt, &mut to_client);
//! let result = AgentEvent::Result { result: Some(start.input.clone()), summary: None };
//! rt.handle_agent_event(now, &start.job_id, result).expect("and its result");
//! drain_rt(&mut rt, &mut to_client);
//! rt.handle_effect_result(now, *start_id, EffectOutcome::Done);
//! drain_rt(&mut rt, &mut to_client);
//!
//! // The client sees the acceptance, the event and the result, in order.
//! let mut seen = Vec::new();
//! for frame in to_client.drain(..) {
//!     client.handle_frame(now, &frame);
//!     seen.extend(drain_client(&mut client, &mut to_rt));
//! }
//! let [
//!     ClientEvent::Accepted { request_id, job_id, .. },
//!     ClientEvent::JobEvent { event_seq: 1, event, .. },
//!     ClientEvent::Terminal { event_seq: 2, outcome: JobOutcome::Success { result, .. }, .. },
//! ] = &seen[..] else {
//!     panic!("{seen:?}")
//! };
//! // Ids are typed (`RequestId`, `JobId`) and compare with strings too.
//! assert_eq!((request_id.as_ref(), job_id), (Some(&request), &start.job_id));
//! assert!(job_id.starts_with("job_"));
//! assert!(matches!(&event.body, EventBody::Log(l) if l.message == "echoing"));
//! assert_eq!(result, &ResultValue::Inline(json!({"text": "hi"})));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Errors
//!
//! - `ApiError`: caller misuse, returned from commands; never caused by peer data.
//! - Protocol faults from the peer never surface as an `Err` from `handle_frame`: they become
//!   an error frame to the peer and/or an event, and maybe a close.
//! - [`wire::ErrorCode`]: the spec §12 taxonomy on the wire, with
//!   [`retryable()`](wire::ErrorCode::retryable).
//!
//! ## Modules
//!
//! - [`client`]: [`client::ClientSession`], the Sans-IO client state machine.
//! - [`wire`]: every frame, typed; the JSON codec; the stdio line framer; ids and timestamps.
//! - [`lease`]: capability grammar, path-safe globs, subset, expiry and exact budgets.
//! - [`runtime`]: the Sans-IO [`runtime::Runtime`]: every session, job, subscription, event
//!   ring, idempotency key and credential, driven by `handle_*` inputs and drained through
//!   `poll_*` outputs (frames, effects, events, deadlines).
//! - [`time`]: the host-supplied monotonic [`time::Instant`] and the [`time::WallClock`] anchor.
//! - [`timer`]: the ordered deadline index behind every `poll_timeout`.
//!
//! Where the code implements one of the reference/spec differences D1–D38 of the project's
//! `COMPAT.md`, a comment names it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod lease;
pub mod runtime;
pub mod time;
pub mod timer;
pub mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "fuzzing")]
pub mod sim;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
