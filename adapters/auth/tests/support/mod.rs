//! Test keys generated at test time (no private key is committed) and a tiny JWKS server.
#![allow(dead_code)]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now_secs() -> u64 {
    now()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A private key for signing and its public half (PEM and JWK).
pub struct TestKey {
    pub encoding: EncodingKey,
    pub public_pem: String,
    /// The public JWK without `kid`.
    pub jwk: Value,
}

pub fn rsa_key() -> TestKey {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let sk = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pk = sk.to_public_key();
    TestKey {
        encoding: EncodingKey::from_rsa_pem(sk.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes())
            .unwrap(),
        public_pem: pk.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({"kty":"RSA","n":b64(&pk.n().to_bytes_be()),"e":b64(&pk.e().to_bytes_be())}),
    }
}

/// One RSA key per test binary: generation is the slow part.
pub fn shared_rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(rsa_key)
}

pub fn p256_key() -> TestKey {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let sk = p256::SecretKey::random(&mut rand::thread_rng());
    let pk = sk.public_key();
    let pt = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false);
    TestKey {
        encoding: EncodingKey::from_ec_pem(sk.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes())
            .unwrap(),
        public_pem: pk.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({"kty":"EC","crv":"P-256","x":b64(pt.x().unwrap()),"y":b64(pt.y().unwrap())}),
    }
}

pub fn p384_key() -> TestKey {
    use p384::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let sk = p384::SecretKey::random(&mut rand::thread_rng());
    let pk = sk.public_key();
    let pt = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false);
    TestKey {
        encoding: EncodingKey::from_ec_pem(sk.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes())
            .unwrap(),
        public_pem: pk.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({"kty":"EC","crv":"P-384","x":b64(pt.x().unwrap()),"y":b64(pt.y().unwrap())}),
    }
}

pub fn ed_key() -> TestKey {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    let sk = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
    let vk = sk.verifying_key();
    TestKey {
        encoding: EncodingKey::from_ed_pem(sk.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes())
            .unwrap(),
        public_pem: vk.to_public_key_pem(LineEnding::LF).unwrap(),
        jwk: json!({"kty":"OKP","crv":"Ed25519","x":b64(vk.as_bytes())}),
    }
}

/// Claims valid for an hour, issued by `https://issuer.test` for `arcp`.
pub fn claims(sub: &str) -> Value {
    let t = now();
    json!({"sub":sub,"iss":"https://issuer.test","aud":"arcp","iat":t,"nbf":t - 10,"exp":t + 3600})
}

pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

/// A JWKS document: each (kid, jwk).
pub fn jwks(keys: &[(&str, &Value)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, jwk)| {
            let mut j = (*jwk).clone();
            j["kid"] = json!(kid);
            j
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// A JWKS server on 127.0.0.1: serves `body`, counts requests.
pub struct JwksServer {
    pub url: String,
    pub body: Arc<Mutex<String>>,
    pub hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, n) = (body.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                n.fetch_add(1, Ordering::SeqCst);
                let body = b.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = s.write_all(resp.as_bytes());
            }
        });
        JwksServer { url, body, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
}
