//! [`JwtAuthenticator`]: JSON Web Tokens, with keys given up front or fetched from JWKS.

use crate::jwks::JwksSource;
use crate::{AuthError, AuthFailure, Authenticator, Principal};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::time::Duration;

/// One verification key and the algorithms it may verify. Pinning the algorithms to the key
/// is what defeats key confusion: an RSA public key never verifies an HS256 token.
#[derive(Clone)]
pub struct JwtKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
    pub(crate) algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be built.
fn bad_key(e: jsonwebtoken::errors::Error) -> String {
    format!("invalid key: {e}")
}

impl JwtKey {
    /// An HMAC secret: verifies HS256, HS384 and HS512.
    pub fn hmac(secret: &[u8]) -> Self {
        JwtKey {
            kid: None,
            key: DecodingKey::from_secret(secret),
            algorithms: vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        }
    }

    /// An RSA public key in PEM (PKCS#1 or SPKI): verifies RS256, RS384 and RS512.
    pub fn rsa_pem(pem: &[u8]) -> Result<Self, String> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_rsa_pem(pem).map_err(bad_key)?,
            algorithms: vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        })
    }

    /// An EC public key in PEM (SPKI): verifies ES256 (P-256) and ES384 (P-384).
    pub fn ec_pem(pem: &[u8]) -> Result<Self, String> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_ec_pem(pem).map_err(bad_key)?,
            algorithms: vec![Algorithm::ES256, Algorithm::ES384],
        })
    }

    /// An Ed25519 public key in PEM (SPKI): verifies EdDSA.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, String> {
        Ok(JwtKey {
            kid: None,
            key: DecodingKey::from_ed_pem(pem).map_err(bad_key)?,
            algorithms: vec![Algorithm::EdDSA],
        })
    }

    /// Any of the PEM public keys above, recognised by trying RSA, EC, then Ed25519.
    pub fn public_pem(pem: &[u8]) -> Result<Self, String> {
        Self::rsa_pem(pem)
            .or_else(|_| Self::ec_pem(pem))
            .or_else(|_| Self::ed_pem(pem))
            .map_err(|_| "not an RSA, EC or Ed25519 public key in PEM".to_owned())
    }

    /// A raw key with an explicit algorithm list.
    pub fn new(key: DecodingKey, algorithms: Vec<Algorithm>) -> Self {
        JwtKey {
            kid: None,
            key,
            algorithms,
        }
    }

    /// Only tokens whose header names this `kid` use this key.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// `true` when this key may verify a token with this header.
    pub(crate) fn fits(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        let kid_ok = match (&self.kid, kid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        kid_ok && self.algorithms.contains(&alg)
    }
}

/// Where the verification keys come from.
#[derive(Debug)]
enum Keys {
    Fixed(Vec<JwtKey>),
    Jwks(JwksSource),
}

/// Verifies JWTs. Built with [`JwtAuthenticator::with_keys`] or [`JwtAuthenticator::jwks`],
/// then configured with the `with_*` methods.
#[derive(Debug)]
pub struct JwtAuthenticator {
    keys: Keys,
    issuer: Option<Vec<String>>,
    audience: Option<Vec<String>>,
    leeway: Duration,
    principal_claim: String,
}

/// The `alg` and `kid` of a header, read without trusting it. `alg: none` (any case) and
/// unknown algorithms are refused here, before any key is looked at.
fn read_header(token: &str) -> Result<(Algorithm, Option<String>), AuthError> {
    let malformed = || AuthError::new(AuthFailure::Malformed);
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .map_err(|_| malformed())?;
    let v: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    let alg = match v.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        _ => return Err(malformed()),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::new(AuthFailure::AlgorithmRefused));
    }
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| AuthError::new(AuthFailure::AlgorithmRefused))?;
    let kid = match v.get("kid") {
        Some(Value::String(k)) => Some(k.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(malformed()),
    };
    Ok((alg, kid))
}

fn map_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    let reason = match e.kind() {
        ErrorKind::InvalidSignature => AuthFailure::BadSignature,
        ErrorKind::ExpiredSignature => AuthFailure::Expired,
        ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
        ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthFailure::AlgorithmRefused,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => {
            AuthFailure::MissingClaim
        }
        // A key that cannot verify this token (e.g. a P-384 key for an ES256 token).
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidEddsaKey | ErrorKind::InvalidRsaKey(_) => {
            AuthFailure::BadSignature
        }
        _ => AuthFailure::Malformed,
    };
    AuthError::new(reason)
}

impl JwtAuthenticator {
    /// Verifies with these keys (each pinned to its algorithms and optional `kid`).
    pub fn with_keys(keys: Vec<JwtKey>) -> Self {
        Self::from_keys(Keys::Fixed(keys))
    }

    /// Verifies with keys fetched from a JWKS endpoint.
    pub fn jwks(source: JwksSource) -> Self {
        Self::from_keys(Keys::Jwks(source))
    }

    fn from_keys(keys: Keys) -> Self {
        JwtAuthenticator {
            keys,
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(60),
            principal_claim: "sub".into(),
        }
    }

    /// Requires `iss` to be `issuer` (may be called again to accept several).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer.get_or_insert_with(Vec::new).push(issuer.into());
        self
    }

    /// Requires `aud` to name `audience` (may be called again to accept several). Without
    /// it, `aud` is not checked.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// Clock-skew allowance for `exp` and `nbf` (whole seconds; default 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The claim holding the principal (default `sub`).
    pub fn with_principal_claim(mut self, claim: impl Into<String>) -> Self {
        self.principal_claim = claim.into();
        self
    }

    /// The JWKS source, when keys come from one.
    pub fn jwks_source(&self) -> Option<&JwksSource> {
        match &self.keys {
            Keys::Jwks(s) => Some(s),
            Keys::Fixed(_) => None,
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        match &self.audience {
            Some(a) => v.set_audience(a),
            None => v.validate_aud = false,
        }
        if let Some(i) = &self.issuer {
            v.set_issuer(i);
            v.set_required_spec_claims(&["exp", "iss"]);
        }
        v
    }

    fn verify_with(
        &self,
        token: &str,
        alg: Algorithm,
        keys: &[&JwtKey],
    ) -> Result<Principal, AuthError> {
        let validation = self.validation(alg);
        let mut last = AuthError::new(AuthFailure::UnknownKey);
        for k in keys {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &k.key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                Err(e) => {
                    last = map_error(&e);
                    // Only a bad signature may mean "another key": anything else is final.
                    if last.reason() != AuthFailure::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, AuthError> {
        match claims.get(&self.principal_claim) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Principal(s.clone())),
            _ => Err(AuthError::missing_claim(&self.principal_claim)),
        }
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::new(AuthFailure::Missing));
        }
        let (alg, kid) = read_header(token)?;
        match &self.keys {
            Keys::Fixed(keys) => {
                if !keys.iter().any(|k| k.algorithms.contains(&alg)) {
                    return Err(AuthError::new(AuthFailure::AlgorithmRefused));
                }
                let fit: Vec<&JwtKey> = keys
                    .iter()
                    .filter(|k| k.fits(kid.as_deref(), alg))
                    .collect();
                self.verify_with(token, alg, &fit)
            }
            Keys::Jwks(source) => {
                let keys = source.keys_for(kid.as_deref(), alg)?;
                let fit: Vec<&JwtKey> = keys.iter().collect();
                self.verify_with(token, alg, &fit)
            }
        }
    }
}
