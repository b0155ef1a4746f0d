//! arcp-store's shared conformance suite on PostgreSQL (one scratch schema per check).

mod support;

fn postgres() -> Option<(arcp_postgres::PostgresStore, support::Scratch)> {
    support::store("suite")
}

arcp_store::store_suite!(postgres);
