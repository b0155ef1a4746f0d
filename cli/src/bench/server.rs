//! The runtime under test: a child process (`arcp bench --serve-only`, whose RSS is read from
//! `/proc/<pid>/status`), a server in this process, or an external URL.

use super::super::Failure;
use arcp_agents::agents::{CONTRACT_VERSION, firehose};
use arcp_proto::runtime::Bounds;
use arcp_tokio::server::{Server, ServerBuilder, ServerHandle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The agent name of `--process-agent`'s command on the bench runtime.
pub(super) const PROCESS_FIREHOSE: &str = "firehose-process";

/// The bench runtime's durable store.
#[derive(Clone, Debug)]
pub(super) enum Durable {
    /// None: the in-memory runtime.
    Memory,
    /// SQLite, this file.
    Sqlite(PathBuf),
    /// PostgreSQL, as this node.
    Postgres(Postgres, String),
}

/// `--postgres URL [--postgres-schema NAME]`.
#[derive(Clone, Debug)]
pub(super) struct Postgres {
    /// A `postgresql://` URL or a `key=value` connection string.
    pub url: String,
    /// The schema holding the tables; `None`: the connection's current schema.
    pub schema: Option<String>,
}

/// The bench runtime: `arcp serve --demo`'s defaults (the demo tokens), the contract agents
/// plus `firehose` (never registered by `arcp serve`), `durable` as the store, and
/// `ring_events` (when given) as the per-session ring cap; with `process`, that command line
/// as the process agent `firehose-process@1.0.0`.
async fn builder(
    durable: &Durable,
    ring_events: Option<usize>,
    process: Option<&str>,
) -> Result<ServerBuilder, Failure> {
    let mut agents = arcp_agents::contract_agents();
    agents.register("firehose", Some(CONTRACT_VERSION), firehose);
    if let Some(cmd) = process {
        let p = arcp_tokio::process_agent::ProcessAgent::from_command_line(cmd)
            .map_err(|e| Failure::Usage(format!("--process-agent: {e}")))?;
        agents.register(PROCESS_FIREHOSE, Some(CONTRACT_VERSION), p);
    }
    let mut bounds = Bounds::default();
    if let Some(n) = ring_events {
        bounds.max_ring_events = n;
    }
    let b = Server::builder().demo().agents(agents).bounds(bounds);
    Ok(match durable {
        Durable::Memory => b,
        Durable::Sqlite(path) => b.db(Some(path.clone())),
        Durable::Postgres(pg, node_id) => with_postgres(b, pg, node_id).await?,
    })
}

/// Joins the PostgreSQL cluster as `node_id` (connect, migrate, liveness row; off the async
/// threads: the client blocks) and puts the store on `b`. The message names neither the URL
/// nor its password.
async fn with_postgres(
    b: ServerBuilder,
    pg: &Postgres,
    node_id: &str,
) -> Result<ServerBuilder, Failure> {
    let options = match &pg.schema {
        Some(name) => arcp_postgres::PostgresOptions::schema(name.clone()),
        None => arcp_postgres::PostgresOptions::default(),
    };
    let url = pg.url.clone();
    let id = node_id.to_owned();
    let (store, cluster) = tokio::task::spawn_blocking(move || {
        arcp_postgres::PostgresStore::join(
            &url,
            &options,
            &id,
            &arcp_postgres::ClusterOptions::default(),
        )
    })
    .await
    .map_err(|e| Failure::Error(e.to_string()))?
    .map_err(|e| Failure::Error(format!("cannot join the PostgreSQL cluster: {e}")))?;
    Ok(b.cluster(store, cluster).node_id(node_id))
}

/// `arcp bench --serve-only`: serves until stdin closes (the parent is gone) or a signal.
pub(super) async fn serve_only(
    port: u16,
    durable: &Durable,
    ring_events: Option<usize>,
    process: Option<&str>,
) -> Result<i32, Failure> {
    let (url, handle) = builder(durable, ring_events, process)
        .await?
        .bind_ws(("127.0.0.1", port), "/arcp")
        .await
        .map_err(|e| Failure::Error(format!("cannot serve on 127.0.0.1:{port}: {e}")))?;
    println!("LISTENING {url}");
    let _ = std::io::stdout().flush();
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    handle.shutdown().await;
    Ok(0)
}

/// Where the load goes.
pub(super) enum Target {
    Child { child: Child, url: String, pid: u32 },
    InProcess { handle: ServerHandle, url: String },
    External { url: String },
}

impl Target {
    pub(super) fn external(url: String) -> Self {
        Target::External { url }
    }

    pub(super) async fn in_process(
        durable: &Durable,
        ring_events: Option<usize>,
        process: Option<&str>,
    ) -> Result<Self, Failure> {
        let (url, handle) = builder(durable, ring_events, process)
            .await?
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .map_err(|e| Failure::Error(format!("cannot start the bench server: {e}")))?;
        Ok(Target::InProcess { handle, url })
    }

    /// Starts `arcp bench --serve-only` (this same executable) and reads its URL.
    pub(super) async fn child(
        durable: &Durable,
        ring_events: Option<usize>,
        process: Option<&str>,
        workers: Option<std::num::NonZeroUsize>,
    ) -> Result<Self, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| Failure::Error(format!("cannot find this executable: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.args(["bench", "--serve-only", "--port", "0"]);
        match durable {
            Durable::Memory => {}
            Durable::Sqlite(db) => {
                cmd.arg("--db").arg(db);
            }
            Durable::Postgres(pg, node_id) => {
                cmd.arg("--postgres").arg(&pg.url);
                if let Some(schema) = &pg.schema {
                    cmd.arg("--postgres-schema").arg(schema);
                }
                cmd.arg("--node-id").arg(node_id);
            }
        }
        if let Some(n) = ring_events {
            cmd.arg("--ring-events").arg(n.to_string());
        }
        if let Some(p) = process {
            cmd.arg("--process-agent").arg(p);
        }
        if let Some(n) = workers {
            cmd.arg("--workers").arg(n.to_string());
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Failure::Error(format!("cannot start the bench server: {e}")))?;
        let pid = child.id().unwrap_or(0);
        let Some(stdout) = child.stdout.take() else {
            return Err(Failure::Error("bench server: no stdout".into()));
        };
        let mut lines = BufReader::new(stdout).lines();
        let url = match lines.next_line().await {
            Ok(Some(l)) => match l.strip_prefix("LISTENING ") {
                Some(u) => u.trim().to_owned(),
                None => return Err(Failure::Error(format!("bench server said {l:?}"))),
            },
            _ => {
                return Err(Failure::Error(
                    "bench server exited before listening".into(),
                ));
            }
        };
        Ok(Target::Child { child, url, pid })
    }

    pub(super) fn url(&self) -> &str {
        match self {
            Target::Child { url, .. }
            | Target::InProcess { url, .. }
            | Target::External { url } => url,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Target::Child { .. } => "child-process",
            Target::InProcess { .. } => "in-process",
            Target::External { .. } => "external",
        }
    }

    /// The server's resident set size in KiB (child process only).
    pub(super) fn rss_kb(&self) -> Option<u64> {
        match self {
            Target::Child { pid, .. } => vm_rss_kb(*pid),
            _ => None,
        }
    }

    pub(super) async fn stop(self) {
        match self {
            Target::Child { mut child, .. } => {
                // Closing its stdin makes it shut down (flushing its store); then reap it.
                drop(child.stdin.take());
                let waited =
                    tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await;
                if waited.is_err() {
                    let _ = child.kill().await;
                }
            }
            Target::InProcess { handle, .. } => handle.shutdown().await,
            Target::External { .. } => {}
        }
    }
}

/// `VmRSS` of process `pid`, in KiB.
fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A SQLite file path in the temp directory, removed (with its WAL files) on drop.
pub(super) struct TempDb {
    path: PathBuf,
}

impl TempDb {
    pub(super) fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("arcp-bench-{}-{nanos}.sqlite", std::process::id()));
        TempDb { path }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_rss_is_read() {
        let kb = super::vm_rss_kb(std::process::id()).unwrap();
        assert!(kb > 0, "VmRSS {kb}");
    }
}
