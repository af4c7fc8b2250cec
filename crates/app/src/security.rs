//! Password hashing (argon2, off the async threads and bounded) and session tokens.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use boxoffice_domain::{account::Password, idempotency::hex};

/// Hashes on the blocking pool, on at most half the cores at a time (at least one), with a
/// bounded line of its own: a crowd signing in waits for the hashers or is told to come back
/// (503), and never takes the CPU that holds and checkouts need.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// Too many sign-ins are already waiting for a hasher.
#[derive(Debug, thiserror::Error)]
#[error("every password hasher is busy and the line for them is full")]
pub struct HashersBusy;

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Waiting sign-ins per hasher: a few seconds of argon2 work each.
const WAITING_PER_HASHER: usize = 256;

impl PasswordHasher {
    /// Hashers for half of this machine's cores (at least one).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self::with_hashers((cores / 2).max(1))
    }

    pub(crate) fn with_hashers(hashers: usize) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(hashers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: hashers * WAITING_PER_HASHER,
        }
    }

    /// A hasher, once one is free; `HashersBusy` at once when the line is full.
    async fn hasher(&self) -> anyhow::Result<tokio::sync::SemaphorePermit<'_>> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("boxoffice_password_hashes_refused_total").increment(1);
            return Err(HashersBusy.into());
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Ok(permit?)
    }

    /// An argon2id hash of `password`, with a fresh salt, as the database stores it.
    pub(crate) async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.hasher().await?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let salt =
                SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(anyhow::Error::msg)?;
            let hash = Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map_err(anyhow::Error::msg)?;
            Ok(hash.to_string())
        })
        .await?
    }

    /// Checks a password against a stored hash. With no hash (unknown e-mail) it still does the
    /// work against a dummy hash, so response times do not reveal which e-mails exist.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> anyhow::Result<bool> {
        let _permit = self.hasher().await?;
        let password = password.clone();
        let known = stored.is_some();
        let stored = stored.unwrap_or(DUMMY_HASH).to_owned();
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(anyhow::Error::msg)?;
            let ok = Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok();
            Ok(ok && known)
        })
        .await?
    }
}

/// An argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9Ww1zhZt4Vaw6Jgr0rZ3gUIhkdJ0p7yW7N8F0zl3Pk8";

/// A new session token (given to the client) and its digest (the only form stored).
pub fn new_session_token() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let digest = token_digest(&token);
    (token, digest)
}

/// The hex SHA-256 of a session token: the form the database stores and looks it up by.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random secret for signing, when the operator did not configure one.
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A key for one purpose derived from the server secret, so that one leaked key (a webhook
/// secret shared with a provider, say) reveals nothing about the others.
pub fn derive_key(secret: &[u8], purpose: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"derive:");
    mac.update(purpose.as_bytes());
    hex(&mac.finalize().into_bytes()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sign_ins_beyond_the_hashers_line_are_refused_at_once_and_the_line_still_drains() {
        let h = PasswordHasher::with_hashers(1);
        let password = Password::parse("correct horse battery staple").unwrap();
        let busy = h.permits.clone().acquire_owned().await.unwrap();
        let waiting: Vec<_> = (0..WAITING_PER_HASHER)
            .map(|_| {
                let (h, p) = (h.clone(), password.clone());
                tokio::spawn(async move { h.verify(&p, None).await })
            })
            .collect();
        while h.waiting.load(Ordering::Acquire) < WAITING_PER_HASHER {
            tokio::task::yield_now().await;
        }
        let refused = h.verify(&password, None).await.unwrap_err();
        assert!(refused.is::<HashersBusy>(), "{refused}");
        drop(busy);
        for w in waiting {
            assert!(!w.await.unwrap().unwrap(), "unknown account: never a match");
        }
        assert_eq!(h.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_another_does_not() {
        let h = PasswordHasher::new();
        let p = Password::parse("correct horse battery").unwrap();
        let hash = h.hash(&p).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify(&p, Some(&hash)).await.unwrap());
        assert!(
            !h.verify(&Password::parse("wrong password").unwrap(), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let h = PasswordHasher::new();
        assert!(
            !h.verify(&Password::parse("anything at all").unwrap(), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn session_tokens_are_random_and_stored_only_as_digests() {
        let (t1, d1) = new_session_token();
        let (t2, _) = new_session_token();
        assert_ne!(t1, t2);
        assert_eq!(d1, token_digest(&t1));
        assert_ne!(d1, t1);
    }
}
