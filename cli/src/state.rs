//! The CLI's local state file: per runtime URL and principal, the sessions the CLI opened
//! for `arcp submit` (session id, resume token, the jobs submitted in it), so that a later
//! `arcp cancel JOB` or `arcp tail JOB` can resume the submitting session. Only that session
//! may cancel a job (see docs/compat.md#d7--who-may-cancel).
//!
//! - Where: `--state-file PATH` / `ARCP_STATE_FILE`, else `$XDG_STATE_HOME/arcp/sessions.json`,
//!   else `~/.local/state/arcp/sessions.json`.
//! - Readable by the user only: the file is created mode 0600 (its directory 0700) and set
//!   back to 0600 on every write; it holds resume tokens, never bearer tokens. The principal
//!   is keyed by a SHA-256 fingerprint of the bearer token (the CLI never learns the
//!   principal's name).
//! - Bounded: entries older than their session's resume window are dropped on every write,
//!   and at most [`MAX_ENTRIES`] are kept (the oldest go first).
//! - Concurrent CLI processes take an exclusive lock on the file for each read-modify-write.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Sessions kept at most; past it the oldest entries are dropped.
pub(crate) const MAX_ENTRIES: usize = 256;

/// One session the CLI opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The runtime's URL, as given to `--url`.
    pub(crate) url: String,
    /// `sha256:` and the first 16 hex digits of the SHA-256 of the bearer token.
    pub(crate) principal: String,
    /// The session.
    pub(crate) session_id: String,
    /// Its latest resume token (rotated on every welcome).
    pub(crate) resume_token: String,
    /// The jobs submitted in it.
    pub(crate) jobs: Vec<String>,
    /// When the entry was last written (seconds since the Unix epoch).
    pub(crate) saved_at: u64,
    /// The session's resume window in seconds (from its welcome).
    pub(crate) resume_window_sec: u64,
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Content {
    sessions: Vec<Entry>,
}

/// The fingerprint that stands for the principal of `token`.
pub(crate) fn principal_of(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The default path (see the module docs), `None` without `XDG_STATE_HOME` and `HOME`.
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
            .join(".local")
            .join("state"),
    };
    Some(base.join("arcp").join("sessions.json"))
}

/// The state file at a path.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file at `path`.
    pub(crate) fn at(path: PathBuf) -> Self {
        StateFile { path }
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The entry of the session that submitted `job` on `url` for `principal`.
    pub(crate) fn find(
        &self,
        url: &str,
        principal: &str,
        job: &str,
    ) -> Result<Option<Entry>, String> {
        if !self.path.exists() {
            return Ok(None);
        }
        self.update(|c| {
            c.sessions
                .iter()
                .find(|e| {
                    e.url == url && e.principal == principal && e.jobs.iter().any(|j| j == job)
                })
                .cloned()
        })
    }

    /// `true` when another principal's session on `url` submitted `job`.
    pub(crate) fn foreign(&self, url: &str, principal: &str, job: &str) -> Result<bool, String> {
        if !self.path.exists() {
            return Ok(false);
        }
        self.update(|c| {
            c.sessions.iter().any(|e| {
                e.url == url && e.principal != principal && e.jobs.iter().any(|j| j == job)
            })
        })
    }

    /// Adds or replaces the entry of `entry.session_id` on `entry.url`.
    pub(crate) fn save(&self, entry: Entry) -> Result<(), String> {
        self.update(|c| {
            c.sessions
                .retain(|e| !(e.url == entry.url && e.session_id == entry.session_id));
            c.sessions.push(entry);
        })
    }

    /// Removes the entry of `session_id` on `url`.
    pub(crate) fn remove(&self, url: &str, session_id: &str) -> Result<(), String> {
        if !self.path.exists() {
            return Ok(());
        }
        self.update(|c| {
            c.sessions
                .retain(|e| !(e.url == url && e.session_id == session_id))
        })
    }

    /// Locks, reads, applies `f`, prunes and writes back.
    fn update<T>(&self, f: impl FnOnce(&mut Content) -> T) -> Result<T, String> {
        let fail = |e: std::io::Error| format!("state file {}: {e}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(fail)?;
        }
        let mut file = open_private(&self.path).map_err(fail)?;
        file.lock().map_err(fail)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(fail)?;
        // An unreadable file (another version, a partial write) starts over empty.
        let mut content: Content = serde_json::from_str(&text).unwrap_or_default();
        let out = f(&mut content);
        prune(&mut content, now());
        let bytes = serde_json::to_vec_pretty(&content).map_err(|e| e.to_string())?;
        file.set_len(0).map_err(fail)?;
        file.seek(SeekFrom::Start(0)).map_err(fail)?;
        file.write_all(&bytes).map_err(fail)?;
        file.write_all(b"\n").map_err(fail)?;
        set_private(&self.path).map_err(fail)?;
        Ok(out)
    }
}

/// Drops entries past their resume window, then the oldest beyond [`MAX_ENTRIES`].
fn prune(c: &mut Content, now: u64) {
    c.sessions
        .retain(|e| e.saved_at.saturating_add(e.resume_window_sec) >= now);
    if c.sessions.len() > MAX_ENTRIES {
        c.sessions.sort_by_key(|e| e.saved_at);
        let excess = c.sessions.len() - MAX_ENTRIES;
        c.sessions.drain(..excess);
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(session: &str, saved_at: u64, window: u64) -> Entry {
        Entry {
            url: "ws://h/arcp".to_owned(),
            principal: principal_of("alice-token"),
            session_id: session.to_owned(),
            resume_token: "rt".to_owned(),
            jobs: vec![format!("job_{session}")],
            saved_at,
            resume_window_sec: window,
        }
    }

    #[test]
    fn fingerprint_is_stable_and_not_the_token() {
        assert_eq!(principal_of("alice-token"), principal_of("alice-token"));
        assert_ne!(principal_of("alice-token"), principal_of("bob-token"));
        let p = principal_of("alice-token");
        assert_eq!(p.len(), "sha256:".len() + 16);
        assert!(!p.contains("alice"));
    }

    #[test]
    fn prune_drops_expired_then_the_oldest_beyond_the_cap() {
        let mut c = Content {
            sessions: vec![entry("a", 100, 10), entry("b", 100, 1000)],
        };
        prune(&mut c, 200);
        assert_eq!(c.sessions, vec![entry("b", 100, 1000)]);
        let mut c = Content {
            sessions: (0..MAX_ENTRIES as u64 + 2)
                .map(|i| entry(&i.to_string(), 1000 - i, 10_000))
                .collect(),
        };
        prune(&mut c, 1000);
        assert_eq!(c.sessions.len(), MAX_ENTRIES);
        // The two oldest (saved first: the highest i) are gone.
        assert!(
            !c.sessions
                .iter()
                .any(|e| e.session_id == MAX_ENTRIES.to_string())
        );
        assert!(
            !c.sessions
                .iter()
                .any(|e| e.session_id == (MAX_ENTRIES + 1).to_string())
        );
    }

    #[test]
    fn save_find_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("sub").join("s.json"));
        let e = entry("s1", now(), 600);
        f.save(e.clone()).unwrap();
        let p = principal_of("alice-token");
        assert_eq!(f.find("ws://h/arcp", &p, "job_s1").unwrap(), Some(e));
        assert_eq!(
            f.find("ws://h/arcp", &principal_of("x"), "job_s1").unwrap(),
            None
        );
        assert!(
            f.foreign("ws://h/arcp", &principal_of("x"), "job_s1")
                .unwrap()
        );
        assert!(!f.foreign("ws://h/arcp", &p, "job_s1").unwrap());
        f.remove("ws://h/arcp", "s1").unwrap();
        assert_eq!(f.find("ws://h/arcp", &p, "job_s1").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(dir.path().join("sub"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
    }
}
