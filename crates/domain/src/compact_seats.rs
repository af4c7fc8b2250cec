//! The compact seat map: one character per seat, in layout order, telling both its state and its
//! version. A 2,000-seat hall fits in about 2 KB before compression, small enough for the stream's
//! snapshot frame too, which nothing compresses.
//!
//! A seat's version is `version_base` plus an offset, and the character says both: `A`–`Z` an
//! available seat with offset 0–25, `a`–`z` a held one (0–25), `0`–`9` a sold one (0–9). A seat
//! whose offset does not fit is written with its state's first character and its version is
//! given in `versions` (seat index → version). Clients need the versions to merge the stream's
//! changes with a snapshot (only strictly newer ones apply), as with the full `/seats` form.

use std::collections::BTreeMap;

use super::seat::SeatState;

/// The characters of each state, offset 0 first.
fn alphabet(state: SeatState) -> std::ops::RangeInclusive<u8> {
    match state {
        SeatState::Available => b'A'..=b'Z',
        SeatState::Held => b'a'..=b'z',
        SeatState::Sold => b'0'..=b'9',
    }
}

/// The order of the compact map: every seat id of an event's layout as the layout lists them
/// (sections, rows, seats), and the hash of the layout document that lists them so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatOrder {
    /// Hash of the layout document; a client with another hash must refetch.
    pub layout_hash: String,
    /// Every seat id, in layout order.
    pub seat_ids: Vec<String>,
}

/// The compact map: one character per seat, with versions stored as offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactSeats {
    /// The lowest version; each character's version is an offset from it.
    pub version_base: i64,
    /// One character per seat, in layout order, encoding state and version offset.
    pub states: String,
    /// Versions too far above the base for one character, by seat index.
    pub versions: BTreeMap<usize, i64>,
}

/// Encodes seats in layout order; a seat the map lacks (`None`) reads as available at version 0,
/// older than any real version, so any change to it applies.
pub fn encode(seats: &[Option<(SeatState, i64)>]) -> CompactSeats {
    let version_base = seats.iter().flatten().map(|(_, v)| *v).min().unwrap_or(0);
    let mut states = String::with_capacity(seats.len());
    let mut versions = BTreeMap::new();
    for (i, seat) in seats.iter().enumerate() {
        let (state, version) = seat.unwrap_or((SeatState::Available, 0));
        let chars = alphabet(state);
        let (first, last) = (*chars.start(), *chars.end());
        let offset = version - version_base;
        if (0..=i64::from(last - first)).contains(&offset) {
            states.push(char::from(first + offset as u8));
        } else {
            states.push(char::from(first));
            versions.insert(i, version);
        }
    }
    CompactSeats {
        version_base,
        states,
        versions,
    }
}

/// The seats back, in layout order; `None` when a character is not one of the alphabet.
pub fn decode(compact: &CompactSeats) -> Option<Vec<(SeatState, i64)>> {
    compact
        .states
        .bytes()
        .enumerate()
        .map(|(i, c)| {
            let (state, offset) = [SeatState::Available, SeatState::Held, SeatState::Sold]
                .into_iter()
                .find_map(|s| {
                    let chars = alphabet(s);
                    chars
                        .contains(&c)
                        .then(|| (s, i64::from(c - chars.start())))
                })?;
            let version = compact
                .versions
                .get(&i)
                .copied()
                .unwrap_or(compact.version_base + offset);
            Some((state, version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeatState::{Available, Held, Sold};

    #[test]
    fn a_fresh_hall_is_one_capital_a_per_seat() {
        let c = encode(&[Some((Available, 1)); 5]);
        assert_eq!(c.states, "AAAAA");
        assert_eq!(c.version_base, 1);
        assert!(c.versions.is_empty());
    }

    #[test]
    fn each_character_tells_the_state_and_the_offset_from_the_base() {
        let seats = [
            Some((Available, 3)),
            Some((Held, 4)),
            Some((Sold, 5)),
            Some((Available, 28)),
            Some((Held, 28)),
        ];
        let c = encode(&seats);
        assert_eq!(c.version_base, 3);
        assert_eq!(c.states, "Ab2Zz");
        assert_eq!(decode(&c).unwrap(), seats.map(Option::unwrap).to_vec());
    }

    #[test]
    fn versions_beyond_the_alphabet_are_listed_apart_and_decode_exactly() {
        let seats = [Some((Available, 1)), Some((Sold, 11)), Some((Held, 500))];
        let c = encode(&seats);
        assert_eq!(c.states, "A0a");
        assert_eq!(c.versions, BTreeMap::from([(1, 11), (2, 500)]));
        assert_eq!(decode(&c).unwrap(), seats.map(Option::unwrap).to_vec());
    }

    #[test]
    fn a_missing_seat_reads_as_available_and_older_than_anything() {
        let c = encode(&[Some((Held, 2)), None]);
        assert_eq!(decode(&c).unwrap(), vec![(Held, 2), (Available, 0)]);
    }

    #[test]
    fn a_character_outside_the_alphabet_is_refused() {
        let c = CompactSeats {
            version_base: 1,
            states: "A?".into(),
            versions: BTreeMap::new(),
        };
        assert_eq!(decode(&c), None);
    }
}
