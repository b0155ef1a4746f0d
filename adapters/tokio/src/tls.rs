//! TLS (`wss://`) with rustls and its `ring` provider (never aws-lc-rs, which needs cmake and
//! nasm to build).
//!
//! - A client verifies a runtime's certificate against the webpki roots (Mozilla's set,
//!   compiled in) plus any private CA given with [`ClientBuilder::ca_file`] or
//!   [`ClientBuilder::root_certificate_der`]; or against a whole
//!   [`rustls::ClientConfig`] given with [`ClientBuilder::tls_config`].
//! - A server reads a PEM certificate chain and private key ([`ServerBuilder::tls`]) or takes a
//!   ready [`rustls::ServerConfig`] ([`ServerBuilder::tls_config`]).
//!
//! [`ClientBuilder::ca_file`]: crate::client::ClientBuilder::ca_file
//! [`ClientBuilder::root_certificate_der`]: crate::client::ClientBuilder::root_certificate_der
//! [`ClientBuilder::tls_config`]: crate::client::ClientBuilder::tls_config
//! [`ServerBuilder::tls`]: crate::server::ServerBuilder::tls
//! [`ServerBuilder::tls_config`]: crate::server::ServerBuilder::tls_config

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The rustls crypto provider every config here is built with.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file at `path`.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// A server config from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = read_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("bad certificate or key: {e}"))?;
    Ok(Arc::new(cfg))
}

/// What a client trusts: the webpki roots plus extra roots (DER) and CA files (PEM).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientTrust {
    pub(crate) ca_files: Vec<PathBuf>,
    pub(crate) roots: Vec<Vec<u8>>,
    pub(crate) config: Option<Arc<ClientConfig>>,
}

impl ClientTrust {
    /// The client config (built once per `connect`, reused by reconnects).
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        if let Some(cfg) = &self.config {
            return Ok(cfg.clone());
        }
        let mut store = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for path in &self.ca_files {
            for cert in read_certificates(path)? {
                store
                    .add(cert)
                    .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
            }
        }
        for der in &self.roots {
            store
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| format!("bad root certificate: {e}"))?;
        }
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(cfg))
    }
}
