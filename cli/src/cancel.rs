//! `arcp cancel JOB`: sends `job.cancel` and waits until the runtime took it or refused it.
//!
//! COMPAT D7: only the session that submitted a job may cancel it. From the CLI's own session
//! the runtime refuses a job the principal can see with `PERMISSION_DENIED`, and one it cannot
//! see with `JOB_NOT_FOUND` (D37); either is printed as `error: CODE: message` (exit 1).

use super::{CancelArgs, Failure, connect};
use arcp_tokio::client::DEFAULT_CANCEL_REASON;

pub(super) async fn run(args: CancelArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    let sent = client
        .cancel_confirmed(&args.job, DEFAULT_CANCEL_REASON)
        .await
        .map_err(|e| Failure::client(&args.conn.url, e));
    let _ = client.close().await;
    sent?;
    println!("cancel accepted for {}", args.job);
    Ok(0)
}
