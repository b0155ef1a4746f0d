//! arcp-store's shared conformance suite on SQLite: in memory, and on a WAL file.

use arcp_sqlite::SqliteStore;
use arcp_store::Store;

fn in_memory() -> Option<Box<dyn Store>> {
    Some(Box::new(SqliteStore::open_in_memory().unwrap()))
}

fn on_file() -> Option<(SqliteStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("arcp.db")).unwrap();
    Some((store, dir))
}

mod memory {
    arcp_store::store_suite!(super::in_memory);
}

mod file {
    arcp_store::store_suite!(super::on_file);
}
