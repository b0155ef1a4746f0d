//! `arcp cancel JOB`: sends `job.cancel`.
//!
//! COMPAT D7: only the session that submitted a job may cancel it; from any other session the
//! runtime refuses with `PERMISSION_DENIED` (or `JOB_NOT_FOUND`, D37). The client library does
//! not surface the refusal of a cancel (its answer is normally the job's terminal frame), so
//! this command reports that the cancel was sent, not that it took effect.

use super::{CancelArgs, Failure, connect};

pub(super) async fn run(args: CancelArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    client
        .cancel(&args.job)
        .await
        .map_err(|e| Failure::client(&args.conn.url, e))?;
    println!("cancel sent for {}", args.job);
    let _ = client.close().await;
    Ok(0)
}
