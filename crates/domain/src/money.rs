//! Money in integer minor units, and the price of a set of seats.

use std::collections::HashMap;

/// The currency of an event whose categories name none: the demo event's.
pub const DEFAULT_CURRENCY: &str = "EUR";

/// An amount in minor units of one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Minor units (cents for EUR).
    pub cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Why a total could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A seat belongs to no priced category.
    #[error("seat {0} has no price category")]
    Unpriced(String),
    /// The seats are priced in more than one currency.
    #[error("an order cannot mix currencies")]
    MixedCurrencies,
    /// The sum overflows.
    #[error("the total does not fit in 64 bits")]
    Overflow,
}

/// A category's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Minor units (cents for EUR).
    pub cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The total for `seat_ids`, from each seat's category and each category's price. The client never
/// sends an amount; this is the only place a total is computed.
pub fn total_for<'a>(
    seat_ids: impl IntoIterator<Item = &'a str>,
    category_of_seat: &HashMap<String, String>,
    price_of_category: &HashMap<String, Price>,
) -> Result<(Money, Vec<(String, i64)>), PricingError> {
    let mut total: i64 = 0;
    let mut currency: Option<&str> = None;
    let mut lines = Vec::new();
    for seat in seat_ids {
        let price = category_of_seat
            .get(seat)
            .and_then(|c| price_of_category.get(c))
            .ok_or_else(|| PricingError::Unpriced(seat.to_owned()))?;
        match currency {
            None => currency = Some(&price.currency),
            Some(c) if c != price.currency => return Err(PricingError::MixedCurrencies),
            Some(_) => {}
        }
        total = total
            .checked_add(price.cents)
            .ok_or(PricingError::Overflow)?;
        lines.push((seat.to_owned(), price.cents));
    }
    let currency = currency.unwrap_or(DEFAULT_CURRENCY).to_owned();
    Ok((
        Money {
            cents: total,
            currency,
        },
        lines,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> (HashMap<String, String>, HashMap<String, Price>) {
        let seats = [("A-1", "premium"), ("A-2", "premium"), ("P-1", "standard")]
            .into_iter()
            .map(|(s, c)| (s.to_owned(), c.to_owned()))
            .collect();
        let prices = [("premium", 8900), ("standard", 3900)]
            .into_iter()
            .map(|(c, p)| {
                (
                    c.to_owned(),
                    Price {
                        cents: p,
                        currency: "EUR".into(),
                    },
                )
            })
            .collect();
        (seats, prices)
    }

    #[test]
    fn the_total_is_the_sum_of_each_seats_category_price() {
        let (s, p) = tables();
        let (total, lines) = total_for(["A-1", "A-2", "P-1"], &s, &p).unwrap();
        assert_eq!(
            total,
            Money {
                cents: 8900 * 2 + 3900,
                currency: "EUR".into()
            }
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_seat_without_a_category_cannot_be_priced() {
        let (s, p) = tables();
        assert_eq!(
            total_for(["Z-9"], &s, &p).unwrap_err(),
            PricingError::Unpriced("Z-9".into())
        );
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let (s, mut p) = tables();
        p.insert(
            "standard".into(),
            Price {
                cents: 1,
                currency: "USD".into(),
            },
        );
        assert_eq!(
            total_for(["A-1", "P-1"], &s, &p).unwrap_err(),
            PricingError::MixedCurrencies
        );
    }
}
