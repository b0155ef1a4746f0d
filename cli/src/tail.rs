//! `arcp tail JOB`: subscribe with history and follow the job to its end.

use super::render::Renderer;
use super::submit::follow;
use super::{Failure, TailArgs, connect};

pub(super) async fn run(args: TailArgs) -> Result<i32, Failure> {
    let client = connect(&args.conn).await?;
    let sub = client
        .subscribe(&args.job, true)
        .await
        .map_err(|e| Failure::client(&args.conn.url, e))?;
    let mut out = Renderer::stdout(args.json);
    if !args.json {
        out.line(&format!(
            "job {} ({}), {} replayed",
            sub.job_id(),
            sub.handle.agent_ref(),
            sub.replayed()
        ));
    }
    let outcome = follow(sub.handle, &mut out, &args.conn.url).await;
    let _ = client.close().await;
    outcome
}
