//! Card numbers as entered at checkout: digits only, Luhn-checked, never stored or logged whole.

use super::InvalidInput;

/// A Luhn-valid card number; `Debug` shows only its last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

impl CardNumber {
    /// Accepts spaces and dashes as typed; requires 12–19 digits passing the Luhn check.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let bad = || InvalidInput::new("invalid_card_number", "Check the card number.");
        if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if !luhn_valid(&digits) {
            return Err(bad());
        }
        Ok(CardNumber(digits))
    }

    /// All the digits, to hand to the provider and nowhere else.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The last four digits, safe to show and log.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_cards_are_valid_numbers() {
        assert!(CardNumber::parse("4242 4242 4242 4242").is_ok());
        assert!(CardNumber::parse("4000-0000-0000-0002").is_ok());
    }

    #[test]
    fn a_number_failing_the_luhn_check_is_refused() {
        assert!(CardNumber::parse("4242424242424241").is_err());
        assert!(CardNumber::parse("42").is_err());
        assert!(CardNumber::parse("4242x24242424242").is_err());
    }

    #[test]
    fn debug_output_shows_only_the_last_four_digits() {
        let c = CardNumber::parse("4242424242424242").unwrap();
        assert_eq!(format!("{c:?}"), "CardNumber(…4242)");
    }
}
