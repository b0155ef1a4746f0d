//! `arcp serve --tls-self-signed`: a development CA and a server certificate signed by it,
//! made at start with rcgen and written to a fresh directory under the system temp dir
//! (removed when the server stops). Clients trust the CA with `--ca-file`.
//!
//! A CA and a separate server certificate, not one self-signed certificate: rustls (webpki)
//! refuses a CA certificate presented as the server's own (`CaUsedAsEndEntity`).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// The files of a development certificate; the directory is removed on drop.
#[derive(Debug)]
pub(super) struct DevTls {
    dir: PathBuf,
    /// The CA certificate (PEM), for clients' `--ca-file`.
    pub(super) ca: PathBuf,
    /// The server certificate chain (PEM).
    pub(super) cert: PathBuf,
    /// The server's private key (PEM, mode 0600 on unix).
    pub(super) key: PathBuf,
}

impl Drop for DevTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The names the certificate covers for `host`: `localhost`, `127.0.0.1` and `::1`, plus
/// `host` itself unless it is an unspecified address (`0.0.0.0`, `::`).
pub(super) fn names_for(host: &str) -> Vec<String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let unspecified = bare
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if !unspecified && !names.iter().any(|n| n.eq_ignore_ascii_case(bare)) {
        names.push(bare.to_owned());
    }
    names
}

impl DevTls {
    /// Generates the CA and the server certificate for `host` and writes them.
    pub(super) fn generate(host: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("arcp-dev-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tls = DevTls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        };
        let (ca_pem, cert_pem, key_pem) =
            make(host).map_err(|e| format!("cannot make a development certificate: {e}"))?;
        write(&tls.ca, &ca_pem, false)?;
        write(&tls.cert, &cert_pem, false)?;
        write(&tls.key, &key_pem, true)?;
        Ok(tls)
    }
}

/// The CA's PEM, the server certificate's PEM and the server key's PEM.
fn make(host: &str) -> Result<(String, String, String), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "arcp serve development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(names_for(host))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "arcp serve (development)");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .map_err(fail)?;
        f.write_all(text.as_bytes()).map_err(fail)
    }
    #[cfg(not(unix))]
    {
        let _ = private;
        std::fs::write(path, text).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::names_for;

    #[test]
    fn names_cover_loopback_and_the_host() {
        assert_eq!(names_for("127.0.0.1"), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(names_for("0.0.0.0"), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(names_for("[::]"), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(
            names_for("box.example"),
            ["localhost", "127.0.0.1", "::1", "box.example"]
        );
        assert_eq!(
            names_for("10.0.0.5"),
            ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
        );
    }
}
