//! The seats best-available picks on this instance are trying to hold right now. A crowd asking
//! for "the best two" at the same moment would otherwise all choose the one best block and all
//! but one fail on it; with the claims each pick chooses among the seats the others are not
//! already trying, as if they had come one after another. A hint on one instance, never a lock:
//! the database still decides every hold, and picks on other instances are not seen here.

use std::{collections::HashSet, sync::Mutex};

/// The claimed seats of one event on this instance.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    seats: Mutex<HashSet<String>>,
}

impl Claims {
    /// Runs `pick` with the seats other picks have claimed and claims what it chooses, under one
    /// lock, so that two picks at once never choose the same seats. The claim lasts until the
    /// returned guard is dropped (once the hold is written or refused).
    pub(crate) fn claim(
        &self,
        pick: impl FnOnce(&HashSet<String>) -> Option<Vec<String>>,
    ) -> Option<Claim<'_>> {
        let mut seats = self.seats.lock().unwrap_or_else(|e| e.into_inner());
        let chosen = pick(&seats)?;
        seats.extend(chosen.iter().cloned());
        Some(Claim {
            claims: self,
            seats: chosen,
        })
    }

    /// Whether some pick in flight holds a claim now.
    pub(crate) fn any(&self) -> bool {
        !self
            .seats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// Seats claimed by one pick; dropping it gives them back.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    claims: &'a Claims,
    seats: Vec<String>,
}

impl Claim<'_> {
    /// The seats chosen.
    pub(crate) fn seats(&self) -> &[String] {
        &self.seats
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut seats = self.claims.seats.lock().unwrap_or_else(|e| e.into_inner());
        for seat in &self.seats {
            seats.remove(seat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_two_free(all: &[&str]) -> impl FnOnce(&HashSet<String>) -> Option<Vec<String>> {
        let all: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
        move |claimed| {
            let free: Vec<String> = all.into_iter().filter(|s| !claimed.contains(s)).collect();
            (free.len() >= 2).then(|| free[..2].to_vec())
        }
    }

    #[test]
    fn picks_at_the_same_time_choose_different_seats_until_a_claim_is_dropped() {
        let claims = Claims::default();
        let seats = ["A-1", "A-2", "A-3", "A-4"];
        let first = claims.claim(first_two_free(&seats)).unwrap();
        let second = claims.claim(first_two_free(&seats)).unwrap();
        assert_eq!(first.seats(), ["A-1", "A-2"]);
        assert_eq!(second.seats(), ["A-3", "A-4"]);
        assert!(claims.claim(first_two_free(&seats)).is_none());
        drop(first);
        assert!(claims.any());
        let third = claims.claim(first_two_free(&seats)).unwrap();
        assert_eq!(third.seats(), ["A-1", "A-2"]);
        drop((second, third));
        assert!(!claims.any());
    }
}
