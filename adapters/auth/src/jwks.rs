//! [`JwksSource`]: verification keys fetched from a JWKS URL, cached with a TTL, refreshed on
//! an unknown `kid`, with those refreshes rate-limited.

use crate::jwt::JwtKey;
use crate::{AuthError, AuthFailure};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest JWKS document read (bytes); a larger one is a fetch failure.
pub const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Most keys kept from one document; the rest are ignored.
pub const MAX_JWKS_KEYS: usize = 64;

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Default)]
struct State {
    keys: Vec<JwtKey>,
    /// When `keys` were fetched (successfully).
    fetched_at: Option<Instant>,
    /// When the last fetch was attempted (success or failure).
    attempted_at: Option<Instant>,
    fetches: u64,
}

/// Keys from a JWKS URL.
///
/// - The first verification fetches the document; it is reused for `ttl` (default 10 min).
/// - A token whose `kid` (or algorithm) matches no cached key triggers a refresh, but at
///   most one fetch per `min_refresh_interval` (default 30 s): a stream of tokens with made-up
///   `kid`s costs the issuer one request per interval, not one per token. Refused tokens
///   meanwhile fail `UNAUTHENTICATED` ([`AuthFailure::UnknownKey`]).
/// - A failed refresh keeps the keys already cached.
/// - Symmetric (`oct`) keys in the document are ignored: a JWKS carries public keys, and
///   accepting an HMAC key from it would let key confusion in.
///
/// Fetches are serialised (a mutex is held across the request), so concurrent verifications
/// never fetch twice; each request has a timeout (default 5 s) and a body cap
/// ([`MAX_JWKS_BYTES`]).
pub struct JwksSource {
    url: String,
    ttl: Duration,
    min_refresh_interval: Duration,
    agent: ureq::Agent,
    clock: Clock,
    state: Mutex<State>,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.url)
            .field("ttl", &self.ttl)
            .field("min_refresh_interval", &self.min_refresh_interval)
            .finish_non_exhaustive()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// The key and algorithms a JWK describes; `None` for what we do not accept.
fn jwt_key(jwk: &Jwk) -> Option<JwtKey> {
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        Some(ka) => {
            let alg = Algorithm::try_from(ka).ok()?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
        None => family,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let mut k = JwtKey::new(key, algorithms);
    if let Some(kid) = &jwk.common.key_id {
        k = k.with_kid(kid.clone());
    }
    Some(k)
}

/// Parses a JWKS document, skipping keys that are unsupported or malformed.
fn parse_jwks(body: &str) -> Option<Vec<JwtKey>> {
    let doc: Value = serde_json::from_str(body).ok()?;
    let keys = doc.get("keys")?.as_array()?;
    Some(
        keys.iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|j| jwt_key(&j))
            .take(MAX_JWKS_KEYS)
            .collect(),
    )
}

impl JwksSource {
    /// Keys from `url` (`http://` or, with the `tls` feature, `https://`).
    pub fn new(url: impl Into<String>) -> Self {
        JwksSource {
            url: url.into(),
            ttl: Duration::from_secs(600),
            min_refresh_interval: Duration::from_secs(30),
            agent: agent(Duration::from_secs(5)),
            clock: Arc::new(Instant::now),
            state: Mutex::new(State::default()),
        }
    }

    /// How long a fetched document is used before it is fetched again.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The least time between two fetches triggered by unknown `kid`s (or by a failed fetch).
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// The timeout of one fetch.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self
    }

    /// Replaces the clock (tests step time with it).
    pub fn with_clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches attempted so far.
    pub fn fetch_count(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.fetches)
    }

    fn fetch(&self) -> Option<Vec<JwtKey>> {
        let mut resp = self.agent.get(&self.url).call().ok()?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_string()
            .ok()?;
        parse_jwks(&body)
    }

    /// Fetches when the cache is empty or past its TTL, or when `forced` (an unknown `kid`);
    /// in every case at most once per `min_refresh_interval` since the last attempt, so a
    /// failing or hammered issuer sees at most one request per interval.
    fn refresh(&self, st: &mut State, now: Instant, forced: bool) {
        let since_attempt = st.attempted_at.map(|t| now.saturating_duration_since(t));
        let stale = st
            .fetched_at
            .is_none_or(|t| now.saturating_duration_since(t) >= self.ttl);
        let rate_ok = since_attempt.is_none_or(|d| d >= self.min_refresh_interval);
        if !rate_ok || !(stale || forced) {
            return;
        }
        st.attempted_at = Some(now);
        st.fetches += 1;
        if let Some(keys) = self.fetch() {
            st.keys = keys;
            st.fetched_at = Some(now);
        }
    }

    /// The cached keys that fit (`kid`, `alg`), refreshing as the policy allows.
    pub(crate) fn keys_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<JwtKey>, AuthError> {
        let now = (self.clock)();
        let mut st = self
            .state
            .lock()
            .map_err(|_| AuthError::new(AuthFailure::KeySource))?;
        self.refresh(&mut st, now, false);
        let fit = |st: &State| -> Vec<JwtKey> {
            st.keys
                .iter()
                .filter(|k| k.fits(kid, alg) && (kid.is_none() || k.kid().is_some()))
                .cloned()
                .collect()
        };
        let mut keys = fit(&st);
        if keys.is_empty() {
            self.refresh(&mut st, now, true);
            keys = fit(&st);
        }
        if !keys.is_empty() {
            return Ok(keys);
        }
        if st.fetched_at.is_none() {
            return Err(AuthError::new(AuthFailure::KeySource));
        }
        Err(AuthError::new(AuthFailure::UnknownKey))
    }
}
