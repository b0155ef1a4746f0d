//! The figures across nodes: the `…_postgres` figures on a child node storing in PostgreSQL,
//! and the resume latency from one runtime to another (or the same one).

use super::{BenchArgs, figure, load, percentiles, resume, ring_events, server, start, streaming};
use crate::Failure;

/// The `…_postgres` figures on node `bench-a`, then the resume figure from it to `bench-b`
/// (same database and schema).
pub(super) async fn postgres_figures(
    args: &BenchArgs,
    pg: server::Postgres,
) -> Result<(), Failure> {
    let ring = ring_events(args);
    figure("postgres_max_ring_events", ring);
    let a = server::Durable::Postgres(pg.clone(), "bench-a".into());
    let node_a = start(args, &a, args.ring_events, None).await?;
    let r = postgres_on(args, &node_a, pg).await;
    node_a.stop().await;
    r
}

async fn postgres_on(
    args: &BenchArgs,
    node_a: &server::Target,
    pg: server::Postgres,
) -> Result<(), Failure> {
    streaming(args, node_a, "_postgres", "firehose").await?;
    let lat = load::accept_latency(node_a.url(), &args.token, args.submits, args.client_spin())
        .await
        .map_err(Failure::Error)?;
    figure("accept_submits_postgres", args.submits);
    figure("accept_results_received_postgres", lat.results);
    percentiles(
        "accept_us_p50_postgres",
        "accept_us_p99_postgres",
        &lat.accept,
    );
    if args.resumes == 0 {
        return Ok(());
    }
    let b = server::Durable::Postgres(pg, "bench-b".into());
    let node_b = start(args, &b, args.ring_events, None).await?;
    let r = resume_figure(args, node_a.url(), node_b.url()).await;
    node_b.stop().await;
    r
}

/// The resume figure: `--resumes` sessions opened on `from`, resumed on `to`.
pub(super) async fn resume_figure(args: &BenchArgs, from: &str, to: &str) -> Result<(), Failure> {
    if args.resumes == 0 {
        return Ok(());
    }
    let r = resume::resumes(from, to, &args.token, args.resumes, args.resume_events)
        .await
        .map_err(Failure::Error)?;
    let node = if from == to {
        "same_node"
    } else {
        "other_node"
    };
    figure("resumes_completed", r.latency.len());
    figure("resume_replayed_frames", r.replayed);
    figure("resume_attached_retries", r.retries);
    percentiles(
        format!("resume_{node}_us_p50"),
        format!("resume_{node}_us_p99"),
        &r.latency,
    );
    Ok(())
}
