//! Signed-in sessions remembered for a few seconds, so that a buyer's every click (a hold, a
//! checkout, a look at their place in line) does not read the session from the database again.
//!
//! What the cache costs: signing out, or an admin changing a role, applies at once on the
//! instance that did it, and within `TTL` on the others.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use boxoffice_domain::ids::UserId;
use boxoffice_store::UserRecord;

/// How long a session read from the database is trusted without reading it again.
pub(crate) const TTL: Duration = Duration::from_secs(10);
/// Past this many sessions the oldest half is dropped: memory stays bounded under any crowd.
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<String, (UserRecord, Instant)>>,
}

impl SessionCache {
    /// The user of the session with this digest, if it was read within `TTL`.
    pub(crate) fn get(&self, digest: &str) -> Option<UserRecord> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(user, _)| user.clone())
    }

    pub(crate) fn put(&self, digest: &str, user: &UserRecord) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = entries.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, (_, at)| *at > cut);
        }
        entries.insert(digest.to_owned(), (user.clone(), Instant::now()));
    }

    /// The session ended here: forget it at once.
    pub(crate) fn forget(&self, digest: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(digest);
    }

    /// The account changed (its role, say): every session of it is read again.
    pub(crate) fn forget_user(&self, user_id: &UserId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (user, _)| &user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::{account::Role, time::Timestamp};

    fn user(id: &str) -> UserRecord {
        UserRecord {
            id: UserId::parse(id).unwrap(),
            email: format!("{id}@example.com"),
            name: id.to_owned(),
            password_hash: String::new(),
            role: Role::Buyer,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn a_session_is_remembered_until_forgotten_by_digest_or_by_user() {
        let cache = SessionCache::default();
        cache.put("d1", &user("u1"));
        cache.put("d2", &user("u1"));
        cache.put("d3", &user("u2"));
        assert_eq!(
            cache.get("d1").map(|u| String::from(u.id)),
            Some("u1".to_owned())
        );
        cache.forget("d1");
        assert!(cache.get("d1").is_none());
        cache.forget_user(&UserId::parse("u1").unwrap());
        assert!(cache.get("d2").is_none());
        assert!(cache.get("d3").is_some());
    }
}
