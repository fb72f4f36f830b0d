//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane), the
//! `argon2` crate's defaults. Hashing is slow on purpose, so it runs off the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest and longest password accepted (bytes). The upper bound keeps a request from
/// buying minutes of hashing.
pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1 (written out, not defaulted, so
    // a change of the crate's defaults cannot weaken it silently).
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused (field message).
pub fn check_new(password: &str) -> Result<(), String> {
    if password.len() < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// The PHC string of a new hash (salted).
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Whether `password` matches `phc`. With no stored hash it verifies against a fixed hash of
/// a random string, so an unknown account costs the same time as a wrong password.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| DECOY.to_string());
    let matched = tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    known && matched
}

/// argon2id (m=19456, t=2, p=1) of a random string nobody knows: the decoy for unknown accounts.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$7VXlWbS7sVb2wT7c1EkxrMc1cZ0s3wLqK3GnF2k8a0Q";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_is_argon2id_with_owasp_parameters() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(phc.clone())).await);
        // Salted: the same password hashes differently.
        assert_ne!(phc, hash("correct horse battery".into()).await.unwrap());
    }

    #[tokio::test]
    async fn the_decoy_parses_and_never_matches() {
        assert!(PasswordHash::new(DECOY).is_ok());
        assert!(!verify("anything at all".into(), None).await);
    }

    #[test]
    fn new_passwords_are_bounded() {
        assert!(check_new("short").is_err());
        assert!(check_new(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(check_new("twelve chars").is_ok());
    }
}
