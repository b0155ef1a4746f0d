//! # arcp-interop: the ARCP interop scenarios, written once
//!
//! The 25 scenarios of `../shared/interop/peer_client.py` (same names, same order, same
//! pass/fail rules, same output lines), driven through a small client trait that each
//! adapter's client implements ([`Harness`] + [`ScenarioClient`] + [`RawLink`]), with a
//! frame tap ([`Tap`]) on every connection for assertions about the frames themselves.
//!
//! ## Why a synchronous trait
//!
//! The library must not depend on any async runtime: arcp-tokio, arcp-futures (async-std,
//! smol) and arcp-blocking all implement it. A blocking trait is the one shape each of them
//! can implement without this crate choosing an executor or a timer: the blocking adapter
//! implements it directly, and the async adapters bridge each call with their own
//! `block_on` (tokio: `Handle::block_on` from the scenario thread; futures: `async_io::
//! block_on`). Waits in the scenarios are `Condvar` waits with deadlines and
//! `std::thread::sleep`, so every wait is bounded without a runtime timer, and the
//! per-scenario limit is enforced by running each scenario on its own thread. An async
//! trait (futures-core) would have needed a runtime-neutral timer abstraction in the trait
//! as well, for no gain: the scenarios are sequential scripts.
//!
//! ## Output contract
//!
//! `PASS name` / `FAIL name: reason` / `SKIP name: reason`, then `N passed, N failed`, exit
//! status 1 on any failure. `--python-peer` (implied by `--spawn-peer`) skips
//! [`scenarios::KNOWN_PYTHON_DEVIATIONS`]; multi-session scenarios skip over stdio.
//!
//! An adapter's `examples/interop.rs` is just:
//!
//! ```ignore
//! let argv: Vec<String> = std::env::args().skip(1).collect();
//! std::process::exit(arcp_interop::main_with(std::sync::Arc::new(MyHarness::new()), &argv));
//! ```

#![deny(missing_docs)]

pub mod adapt;
pub mod api;
pub mod check;
pub mod conformance;
pub mod ctx;
pub mod runner;
pub mod scenarios;
pub mod serve_args;
pub mod tap;

pub use adapt::{
    AsyncScenario, BlockOn, ClientHarness, QueuedRaw, RawOut, StdioRaw, connect_async,
};
pub use api::{
    ClientError, ConnectRequest, Harness, Outcome, RawLink, Resume, ScenarioClient, SubmitSpec,
    Target,
};
pub use runner::main_with;
pub use tap::Tap;
