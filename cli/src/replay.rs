//! `arcp replay --db PATH --session ID`: print a session's stored frames, one JSON line each,
//! in `event_seq` order.

use super::{Failure, ReplayArgs};
use arcp_sqlite::{SqliteStore, StoreOptions};

/// Frames read per query.
const PAGE: usize = 500;

pub(super) async fn run(args: ReplayArgs) -> Result<i32, Failure> {
    tokio::task::spawn_blocking(move || replay(&args))
        .await
        .map_err(|e| Failure::Error(e.to_string()))?
}

fn replay(args: &ReplayArgs) -> Result<i32, Failure> {
    let opts = StoreOptions {
        create_if_missing: false,
        ..StoreOptions::default()
    };
    let store = SqliteStore::open_with(&args.db, &opts)
        .map_err(|e| Failure::Error(format!("cannot open {}: {e}", args.db.display())))?;
    let known = store
        .session(&args.session)
        .map_err(|e| Failure::Error(e.to_string()))?
        .is_some();
    let mut after = 0u64;
    let mut count = 0usize;
    loop {
        let page = store
            .read_events(&args.session, after, PAGE)
            .map_err(|e| Failure::Error(e.to_string()))?;
        let Some(last) = page.last() else { break };
        after = last.event_seq;
        for ev in &page {
            println!("{}", String::from_utf8_lossy(&ev.frame));
        }
        count += page.len();
    }
    if count == 0 && !known {
        return Err(Failure::Error(format!(
            "no session {} in {}",
            args.session,
            args.db.display()
        )));
    }
    eprintln!("{count} frame(s)");
    Ok(0)
}
