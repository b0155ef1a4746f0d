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
//! 2. Drain every `poll_*` until `None`: transmits, then effects, then events.
//! 3. Ask `poll_timeout` last (draining can change it).
//! 4. Sleep until the earliest of: socket input, effect completion, application command,
//!    deadline.
//! 5. On wake, re-read the clock; if `now >= deadline`, call `handle_timeout(now)`.
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
