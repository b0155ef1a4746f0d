//! JWT authentication over `wss://`: a runtime that accepts HS256 JWTs (principal from `sub`)
//! on a TLS listener, and a client that trusts its CA and presents a token.
//!
//! ```text
//! cargo run -p arcp-tokio --example jwt_tls
//! ```
//!
//! The CA and certificate are generated at start (a development PKI in a temporary
//! directory; use your own certificate and key files in a deployment). Prints
//! `LISTENING wss://127.0.0.1:PORT/arcp` then `result {"principal":"carol"}`.

use arcp_agents::{AgentError, AgentRegistry, JobContext};
use arcp_auth::{JwtAuthenticator, JwtKey};
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use arcp_tokio::server::Server;
use serde_json::{Value, json};

const SECRET: &[u8] = b"a shared secret of at least 32 bytes!!";

async fn whoami(_input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    Ok(json!({"principal": ctx.principal()}))
}

/// A development CA and a certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
fn dev_pki(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &ca)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("cert.pem"), cert.pem())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    dev_pki(dir.path())?;

    let mut agents = AgentRegistry::new();
    agents.register("whoami", None, whoami);
    let (url, server) = Server::builder()
        .agents(agents)
        .authenticator(JwtAuthenticator::with_keys(vec![JwtKey::hmac(SECRET)]))
        .tls(dir.path().join("cert.pem"), dir.path().join("key.pem"))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await?;
    println!("LISTENING {url}");

    // A token as an identity provider would issue it.
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 300;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "carol", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )?;
    let client = Client::builder(&url)
        .token(token)
        .ca_file(dir.path().join("ca.pem"))
        .connect()
        .await?;
    let job = client
        .submit(SubmitRequest::new("whoami", json!(null)))
        .await?;
    if let Some(ResultValue::Inline(v)) = job.done().await?.result() {
        println!("result {v}");
    }
    client.close().await?;
    server.shutdown().await;
    Ok(())
}
