//! Access tokens (JWT, HS256, 15 minutes) and refresh tokens (opaque random strings, stored
//! only as their SHA-256).

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use domain::Role;

/// How long an access token is valid.
pub const ACCESS_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// How long a refresh token is valid (each use replaces it).
pub const REFRESH_TTL: chrono::Duration = chrono::Duration::days(30);
const ISSUER: &str = "recon";
/// Shortest configured signing secret accepted (HS256 wants at least the hash's 32 bytes).
pub const MIN_SECRET_BYTES: usize = 32;

/// What an access token says. The role is informative for clients; authorisation reads the
/// user's current role from the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens with one HMAC key.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens already verified, with their claims: a client sends the same token with every
    /// request for 15 minutes, and checking it again is a pure function of it and the key.
    /// Only valid tokens are kept; expiry is checked on every use.
    verified: moka::sync::Cache<String, Claims>,
}

/// Most verified tokens kept (the least used go first).
const VERIFIED_CAPACITY: u64 = 10_000;
/// Seconds of clock skew allowed on `exp`, as in the validation.
const LEEWAY: u64 = 5;

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("AccessTokens { .. }")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the configured token secret must be at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
    #[error("cannot read or store the token signing key: {0}")]
    Database(#[from] sqlx::Error),
}

impl AccessTokens {
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::TooShort);
        }
        // Only HS256: a token naming another algorithm (`none`, RS256 with our secret as a
        // public key) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = LEEWAY;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            // A token lives at most ACCESS_TTL; nothing is kept longer.
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(
                    ACCESS_TTL
                        .to_std()
                        .unwrap_or(std::time::Duration::from_secs(900)),
                )
                .build(),
        })
    }

    /// The configured secret, or else the deployment's key in the database (made at first
    /// start and shared by every process).
    pub async fn load(pool: &PgPool, configured: Option<&str>) -> Result<Self, KeyError> {
        if let Some(secret) = configured {
            return Self::from_secret(secret.as_bytes());
        }
        let mut fresh = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        sqlx::query(
            "INSERT INTO auth_signing_keys (name, secret) VALUES ('access-tokens', $1)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&fresh)
        .execute(pool)
        .await?;
        let secret: Vec<u8> =
            sqlx::query_scalar("SELECT secret FROM auth_signing_keys WHERE name = 'access-tokens'")
                .fetch_one(pool)
                .await?;
        Self::from_secret(&secret)
    }

    /// A token for `user` valid from `now` for [`ACCESS_TTL`].
    pub fn issue(&self, user: Uuid, role: Role, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user,
            role,
            iss: ISSUER.to_string(),
            iat: now.timestamp(),
            exp: (now + ACCESS_TTL).timestamp(),
        };
        // Encoding HS256 claims of plain types cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The claims of a valid token: our signature, HS256, our issuer, not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, Utc::now().timestamp())
    }

    /// [`verify`](Self::verify), with the memo's expiry check at `now` (Unix seconds).
    fn verify_at(&self, token: &str, now: i64) -> Option<Claims> {
        if let Some(claims) = self.verified.get(token) {
            return (claims.exp + LEEWAY as i64 > now).then_some(claims);
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        self.verified.insert(token.to_string(), claims.clone());
        Some(claims)
    }
}

/// A new refresh token: 32 random bytes as hex.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// What is stored of a refresh token.
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::from_secret(&[7u8; 32]).unwrap()
    }

    fn b64(raw: &str) -> String {
        // base64url without padding, as JWT segments are written.
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = raw.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let user = Uuid::from_u128(5);
        let token = tokens().issue(user, Role::Viewer, Utc::now());
        let claims = tokens().verify(&token).unwrap();
        assert_eq!((claims.sub, claims.role), (user, Role::Viewer));
        let other = AccessTokens::from_secret(&[8u8; 32]).unwrap();
        assert!(other.verify(&token).is_none());
        // One changed character of the signature.
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(tokens().verify(&tampered).is_none());
    }

    #[test]
    fn expired_and_unsigned_tokens_are_refused() {
        let old = Utc::now() - ACCESS_TTL - chrono::Duration::minutes(1);
        let expired = tokens().issue(Uuid::from_u128(5), Role::Admin, old);
        assert!(tokens().verify(&expired).is_none());
        let now = Utc::now().timestamp();
        let body = format!(
            r#"{{"sub":"{}","role":"admin","iss":"recon","iat":{now},"exp":{}}}"#,
            Uuid::from_u128(5),
            now + 600
        );
        let unsigned = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&body));
        assert!(tokens().verify(&unsigned).is_none());
    }

    #[test]
    fn a_remembered_token_still_expires_and_others_are_still_checked() {
        let tokens = tokens();
        let token = tokens.issue(Uuid::from_u128(5), Role::Viewer, Utc::now());
        let claims = tokens.verify(&token).unwrap();
        assert!(tokens.verify(&token).is_some(), "remembered");
        assert!(
            tokens
                .verify_at(&token, claims.exp + LEEWAY as i64 + 1)
                .is_none(),
            "a remembered token expires like any other"
        );
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(tokens.verify(&tampered).is_none());
    }

    #[test]
    fn short_secrets_are_refused_and_refresh_tokens_are_random() {
        assert!(AccessTokens::from_secret(b"short").is_err());
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(refresh_token_hash(&a).len(), 32);
    }
}
