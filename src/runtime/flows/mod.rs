//! The parent's orchestration: every operation that spans several parts (a hello that ends in
//! a session and a welcome; a submit that reserves a session's job slot, creates a job and
//! starts an agent; an agent event stamped into its session's ring and sent on its
//! connection; a subscription's history) is an `impl Runtime` block here, one file per
//! protocol concern. Each reads and changes the parts only through their methods, and pushes
//! what leaves the core into the outbox.
//!
//! Nothing imports these modules: they extend [`Runtime`](crate::runtime::Runtime), whose
//! `handle_*` inputs call into them.

mod admission;
mod cluster;
mod credentials;
mod delegation;
mod durability;
mod effects;
mod handshake;
mod heartbeat;
mod job_run;
mod limits;
mod list_jobs;
mod remote_list;
mod remote_subscribe;
mod session;
mod submit;
mod subscribe;
