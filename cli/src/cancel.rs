//! `arcp cancel JOB`: sends `job.cancel` and waits until the runtime took it or refused it.
//!
//! Only the session that submitted a job may cancel it (see
//! docs/compat.md#d7--who-may-cancel). For a job `arcp submit`
//! started, the CLI resumes that session from its state file and cancels through it. For
//! any other job it cancels from a new session, which the runtime refuses with
//! `PERMISSION_DENIED` (a job the principal can see) or `JOB_NOT_FOUND` (one it cannot);
//! either is printed as `error: CODE: message` with what to do (exit 1).

use super::owned::{self, Lookup};
use super::{CancelArgs, Failure, connect};
use arcp_tokio::client::{ClientError, DEFAULT_CANCEL_REASON, ErrorCode};

pub(super) async fn run(args: CancelArgs) -> Result<i32, Failure> {
    // COMPAT D7: cancel through the submitting session when this CLI opened it.
    let lookup = owned::resume(&args.conn, &args.job, false).await?;
    let (client, foreign) = match lookup {
        Lookup::Resumed(owned) => {
            let sent = owned
                .client
                .cancel_confirmed(&args.job, DEFAULT_CANCEL_REASON)
                .await
                .map_err(|e| Failure::client(&args.conn.url, e));
            let _ = owned.client.close().await;
            sent?;
            println!(
                "cancel accepted for {} (session {})",
                args.job, owned.entry.session_id
            );
            return Ok(0);
        }
        Lookup::Gone(why) => return Err(Failure::Error(why)),
        Lookup::Foreign => (connect(&args.conn).await?, true),
        Lookup::Unknown => (connect(&args.conn).await?, false),
    };
    let sent = client
        .cancel_confirmed(&args.job, DEFAULT_CANCEL_REASON)
        .await;
    let _ = client.close().await;
    match sent {
        Ok(()) => {
            println!("cancel accepted for {}", args.job);
            Ok(0)
        }
        Err(ClientError::Refused { code, message, .. })
            if foreign && matches!(code, ErrorCode::PermissionDenied | ErrorCode::JobNotFound) =>
        {
            Err(Failure::Error(format!(
                "{code}: {message} (this CLI submitted it with another token: cancel it with \
that one)"
            )))
        }
        Err(ClientError::Refused { code, message, .. }) if code == ErrorCode::PermissionDenied => {
            let why = {
                let path = args.conn.state()?.path().display().to_string();
                format!(
                    "only the session that submitted a job may cancel it, and {path} has no \
session of this CLI that submitted it: cancel it from the program that did"
                )
            };
            Err(Failure::Error(format!("{code}: {message} ({why})")))
        }
        Err(e) => Err(Failure::client(&args.conn.url, e)),
    }
}
