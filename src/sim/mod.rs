//! Deterministic simulation of the whole protocol (feature `fuzzing`): one or more
//! [`ClientSession`](crate::client::ClientSession)s and a [`Runtime`](crate::runtime::Runtime)
//! connected by fake links, a fake host executing effects with scripted latency and failures,
//! and a fake clock. [`Sim::step`] jumps to the earliest deadline or delivery and never
//! advances time while output is queued; the invariants of [`invariants`] are checked after
//! every step. [`generator::run`] drives it from `arbitrary` bytes, for both the proptest in
//! `tests/sim.rs` and the `session_pair` fuzz target.

pub mod clock;
pub mod generator;
pub mod harness;
pub mod host;
pub mod invariants;
pub mod link;

pub use clock::SimClock;
pub use generator::{Transition, run, run_traced};
pub use harness::{ClientSpec, Sim, SimClient, runtime_config};
pub use host::{Host, HostAction, HostScript};
pub use invariants::Checker;
pub use link::Link;
