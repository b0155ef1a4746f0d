//! A private CA and a server certificate for 127.0.0.1 and `localhost`, generated at test
//! time (never a committed private key).
#![allow(dead_code)] // Each test binary uses a part.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::{Path, PathBuf};

/// PEM files written to a directory, plus the CA's DER.
pub struct TestPki {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub ca_der: Vec<u8>,
}

/// Generates the CA and the server certificate and writes `ca.pem`, `cert.pem`, `key.pem`
/// into `dir`.
pub fn generate(dir: &Path) -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca cert");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &ca).expect("server cert");
    let pki = TestPki {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
        ca_der: ca.der().to_vec(),
    };
    std::fs::write(&pki.ca_pem, ca.pem()).expect("write ca");
    std::fs::write(&pki.cert_pem, cert.pem()).expect("write cert");
    std::fs::write(&pki.key_pem, key.serialize_pem()).expect("write key");
    pki
}
