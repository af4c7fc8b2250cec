//! The door's rules: the gates tickets are scanned at, what a scan made offline may claim, and
//! which of several scans of one ticket was its first.

use std::time::Duration;

use serde_json::json;

use super::{InvalidInput, time::Timestamp};

/// The longest gate name, in characters.
pub const MAX_GATE_CHARS: usize = 40;

/// How many offline scans one batch may carry.
pub const MAX_SCANS_PER_BATCH: usize = 500;

/// How far ahead of the server's clock a device's clock may run; a scan claiming a later time
/// counts as made now, so a wrong clock can never push a ticket's first scan into the future.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Where a ticket was scanned: a name the staff choose ("north", "Gate 2"), `main` by default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gate(String);

impl Gate {
    /// The gate of a scan that names none, and of tickets checked in before gates existed.
    pub const DEFAULT: &'static str = "main";

    /// 1 to [`MAX_GATE_CHARS`] letters, digits, spaces and `- _ . #`, trimmed; absent is `main`.
    pub fn parse(raw: Option<&str>) -> Result<Self, InvalidInput> {
        let Some(raw) = raw else {
            return Ok(Gate(Self::DEFAULT.to_owned()));
        };
        let name = raw.trim();
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '#');
        if name.is_empty() || name.chars().count() > MAX_GATE_CHARS || !name.chars().all(allowed) {
            return Err(InvalidInput::new(
                "invalid_gate",
                "Name the gate with 1 to 40 letters, digits, spaces or - _ . #.",
            ));
        }
        Ok(Gate(name.to_owned()))
    }

    /// The gate a stored check-in names; `None` (before gates existed) is `main`.
    pub fn stored(name: Option<String>) -> Self {
        Gate(name.unwrap_or_else(|| Self::DEFAULT.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One scan made offline, as its device recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineScan {
    /// The code the camera read or the staff typed.
    pub code: String,
    /// The gate the device stood at.
    pub gate: Gate,
    /// When the device scanned it, by its clock, never later than the server's clock now.
    pub scanned_at: Timestamp,
}

impl OfflineScan {
    /// A scan as a device sends it: its time is RFC 3339, and a time ahead of `now` by more than
    /// [`CLOCK_SKEW`] is taken as `now`. `index` names the scan in an error.
    pub fn parse(
        index: usize,
        code: &str,
        gate: Option<&str>,
        scanned_at: &str,
        now: Timestamp,
    ) -> Result<Self, InvalidInput> {
        let refuse = |message: &str| {
            let mut e = InvalidInput::new("invalid_scan", message);
            e.details = Some(json!({ "index": index }));
            e
        };
        let gate = Gate::parse(gate).map_err(|e| refuse(&e.message))?;
        let at = Timestamp::parse_rfc3339(scanned_at.trim())
            .ok_or_else(|| refuse("scanned_at must be an RFC 3339 time."))?;
        let at = if at > now.plus(CLOCK_SKEW) { now } else { at };
        Ok(OfflineScan {
            code: code.trim().to_owned(),
            gate,
            scanned_at: at,
        })
    }
}

/// A batch holds 1 to [`MAX_SCANS_PER_BATCH`] scans.
pub fn check_batch_size(count: usize) -> Result<(), InvalidInput> {
    if count == 0 || count > MAX_SCANS_PER_BATCH {
        return Err(InvalidInput::new(
            "invalid_scans",
            format!("Send 1 to {MAX_SCANS_PER_BATCH} scans at a time."),
        ));
    }
    Ok(())
}

/// Which of these scans of one ticket came first: the earliest, and of scans made at the same
/// moment the one listed first. `None` for no scans.
pub fn first_of<'a>(scans: impl IntoIterator<Item = &'a OfflineScan>) -> Option<usize> {
    scans
        .into_iter()
        .enumerate()
        .min_by_key(|(i, s)| (s.scanned_at, *i))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn scan(gate: &str, at: i64) -> OfflineScan {
        OfflineScan {
            code: "c".into(),
            gate: Gate::parse(Some(gate)).unwrap(),
            scanned_at: Timestamp(at),
        }
    }

    #[test]
    fn a_gate_is_a_short_plain_name_and_main_when_left_out() {
        assert_eq!(Gate::parse(None).unwrap().as_str(), "main");
        assert_eq!(Gate::parse(Some("  North 2 ")).unwrap().as_str(), "North 2");
        assert_eq!(Gate::parse(Some("Tür #3")).unwrap().as_str(), "Tür #3");
        for bad in ["", "   ", "a/b", "<script>", &"g".repeat(41)] {
            assert_eq!(
                Gate::parse(Some(bad)).unwrap_err().code,
                "invalid_gate",
                "{bad}"
            );
        }
        assert_eq!(Gate::stored(None).as_str(), "main");
    }

    #[test]
    fn an_offline_scan_needs_a_real_time_and_cannot_claim_the_future() {
        let s = OfflineScan::parse(0, " BO2.x ", Some("n"), "2027-01-15T08:00:00Z", NOW).unwrap();
        assert_eq!((s.code.as_str(), s.gate.as_str()), ("BO2.x", "n"));
        assert_eq!(
            s.scanned_at,
            Timestamp::parse_rfc3339("2027-01-15T08:00:00Z").unwrap()
        );
        let late = NOW
            .plus(CLOCK_SKEW)
            .plus(Duration::from_secs(1))
            .to_rfc3339();
        assert_eq!(
            OfflineScan::parse(0, "c", None, &late, NOW)
                .unwrap()
                .scanned_at,
            NOW
        );
        let slightly = NOW.plus(Duration::from_secs(10));
        let s = OfflineScan::parse(0, "c", None, &slightly.to_rfc3339(), NOW).unwrap();
        assert_eq!(s.scanned_at, slightly);
        let e = OfflineScan::parse(3, "c", None, "yesterday", NOW).unwrap_err();
        assert_eq!(
            (e.code, e.details),
            ("invalid_scan", Some(json!({ "index": 3 })))
        );
        let e = OfflineScan::parse(4, "c", Some(""), "2027-01-15T08:00:00Z", NOW).unwrap_err();
        assert_eq!(e.code, "invalid_scan");
    }

    #[test]
    fn the_earliest_scan_is_the_first_and_a_tie_goes_to_the_one_listed_first() {
        let scans = [scan("a", 30), scan("b", 10), scan("c", 10), scan("d", 20)];
        assert_eq!(first_of(&scans), Some(1));
        assert_eq!(first_of(&scans[2..]), Some(0));
        assert_eq!(first_of(&[]), None);
    }

    #[test]
    fn a_batch_holds_one_to_five_hundred_scans() {
        assert!(check_batch_size(1).is_ok() && check_batch_size(500).is_ok());
        assert_eq!(check_batch_size(0).unwrap_err().code, "invalid_scans");
        assert_eq!(check_batch_size(501).unwrap_err().code, "invalid_scans");
    }
}
