//! What a payment provider is sent for an amount: Stripe's minor units per currency, and the
//! limits it accepts. Our prices are kept in ISO 4217 minor units; Stripe differs for a few
//! currencies, and refuses amounts it cannot represent or that fall outside its limits.
//!
//! Stripe's rules, from its currency documentation:
//! - zero-decimal currencies (JPY, KRW, …) are sent in whole units;
//! - ISK is zero-decimal in ISO 4217 but two-decimal at Stripe (sent ×100);
//! - three-decimal currencies (BHD, JOD, KWD, OMR, TND) are sent in thousandths whose last digit
//!   is 0 (Stripe charges whole hundredths);
//! - an amount has at most eight digits (99 999 999 minor units), and at least a per-currency
//!   minimum charge (0.50 for USD and EUR, …).

use super::money::Money;

/// The largest amount Stripe accepts, in its minor units: eight digits.
pub const MAX_PROVIDER_AMOUNT: i64 = 99_999_999;

/// Currencies with no minor unit in ISO 4217.
const ISO_ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
/// Currencies with three decimals in ISO 4217.
const ISO_THREE_DECIMAL: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
/// Stripe's zero-decimal currencies (MGA is two-decimal in ISO, zero-decimal at Stripe).
const STRIPE_ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Stripe's three-decimal currencies, whose amounts must end in 0.
const STRIPE_THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's minimum charge per currency, in Stripe's minor units (the currencies listed in its
/// documentation; others are only held to a minimum of 1).
const STRIPE_MINIMUMS: &[(&str, i64)] = &[
    ("USD", 50),
    ("EUR", 50),
    ("GBP", 30),
    ("AUD", 50),
    ("BRL", 50),
    ("CAD", 50),
    ("CHF", 50),
    ("CZK", 1500),
    ("DKK", 250),
    ("HKD", 400),
    ("HUF", 17500),
    ("INR", 50),
    ("JPY", 50),
    ("MXN", 1000),
    ("MYR", 200),
    ("NOK", 300),
    ("NZD", 50),
    ("PLN", 200),
    ("RON", 200),
    ("SEK", 300),
    ("SGD", 50),
    ("THB", 1000),
    ("AED", 200),
];

/// Why an amount cannot be sent to the provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not an ISO 4217 code.
    #[error("{0} is not a currency code")]
    UnknownCurrency(String),
    /// The provider takes only whole units of this currency, and the amount has a fraction.
    #[error("{amount} {currency} cannot be charged: the provider only takes whole {unit}")]
    NotRepresentable {
        /// In our minor units.
        amount: i64,
        /// The currency's code.
        currency: String,
        /// What the provider counts in, for the message.
        unit: &'static str,
    },
    /// Under the provider's minimum charge.
    #[error("{amount} {currency} is below the provider's minimum charge of {minimum}")]
    TooSmall {
        /// In our minor units.
        amount: i64,
        /// The currency's code.
        currency: String,
        /// The provider's minimum, in its minor units.
        minimum: i64,
    },
    /// Over eight digits.
    #[error("the total is above the provider's limit of {MAX_PROVIDER_AMOUNT} minor units")]
    TooLarge,
}

fn iso_exponent(code: &str) -> u32 {
    if ISO_ZERO_DECIMAL.contains(&code) {
        0
    } else if ISO_THREE_DECIMAL.contains(&code) {
        3
    } else {
        2
    }
}

fn stripe_exponent(code: &str) -> u32 {
    if STRIPE_ZERO_DECIMAL.contains(&code) {
        0
    } else if STRIPE_THREE_DECIMAL.contains(&code) {
        3
    } else {
        // ISK included: two-decimal at Stripe for backwards compatibility.
        2
    }
}

/// The smallest charge Stripe takes in `code`, in Stripe's minor units.
pub fn provider_minimum(code: &str) -> i64 {
    STRIPE_MINIMUMS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(1, |(_, m)| *m)
}

/// The amount as Stripe expects it for a charge: converted to Stripe's minor units, checked to be
/// representable, at least the currency's minimum and at most eight digits. Free orders never
/// get here (they skip the provider).
pub fn provider_amount(money: &Money) -> Result<i64, AmountError> {
    let code = money.currency.to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(AmountError::UnknownCurrency(money.currency.clone()));
    }
    let amount = to_provider_units(money.cents, &code)?;
    if amount > MAX_PROVIDER_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    let minimum = provider_minimum(&code);
    if amount < minimum {
        return Err(AmountError::TooSmall {
            amount: money.cents,
            currency: code,
            minimum,
        });
    }
    Ok(amount)
}

/// A refund's amount in Stripe's units: the same conversion, without the minimum (a partial
/// refund may be small).
pub fn provider_refund_amount(money: &Money) -> Result<i64, AmountError> {
    let code = money.currency.to_ascii_uppercase();
    let amount = to_provider_units(money.cents, &code)?;
    if amount > MAX_PROVIDER_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    Ok(amount)
}

fn to_provider_units(cents: i64, code: &str) -> Result<i64, AmountError> {
    let (iso, stripe) = (iso_exponent(code), stripe_exponent(code));
    let not_representable = |unit| AmountError::NotRepresentable {
        amount: cents,
        currency: code.to_owned(),
        unit,
    };
    let amount = if stripe >= iso {
        cents
            .checked_mul(10_i64.pow(stripe - iso))
            .ok_or(AmountError::TooLarge)?
    } else {
        let factor = 10_i64.pow(iso - stripe);
        if cents % factor != 0 {
            return Err(not_representable("units"));
        }
        cents / factor
    };
    if STRIPE_THREE_DECIMAL.contains(&code) && amount % 10 != 0 {
        return Err(not_representable("hundredths"));
    }
    Ok(amount)
}

/// An amount as a person reads it, in the currency's own decimals: `EUR 45.00`, `JPY 500`,
/// `KWD 12.345`, `EUR -0.50`. For e-mails and receipts, whose readers have no locale we know.
pub fn display_amount(cents: i64, code: &str) -> String {
    let code = code.to_ascii_uppercase();
    let exponent = iso_exponent(&code);
    let sign = if cents < 0 { "-" } else { "" };
    let units = cents.unsigned_abs();
    if exponent == 0 {
        return format!("{code} {sign}{units}");
    }
    let scale = 10u64.pow(exponent);
    format!(
        "{code} {sign}{}.{:0width$}",
        units / scale,
        units % scale,
        width = exponent as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(cents: i64, currency: &str) -> Money {
        Money {
            cents,
            currency: currency.into(),
        }
    }

    #[test]
    fn two_decimal_currencies_are_sent_as_they_are() {
        assert_eq!(provider_amount(&money(4200, "EUR")), Ok(4200));
        assert_eq!(provider_amount(&money(4200, "usd")), Ok(4200));
    }

    #[test]
    fn zero_decimal_currencies_are_sent_in_whole_units() {
        assert_eq!(provider_amount(&money(500, "JPY")), Ok(500));
        assert_eq!(provider_amount(&money(15000, "KRW")), Ok(15000));
    }

    #[test]
    fn iceland_kronur_are_two_decimal_at_the_provider() {
        assert_eq!(provider_amount(&money(1500, "ISK")), Ok(150_000));
    }

    #[test]
    fn malagasy_ariary_must_be_whole_at_the_provider() {
        assert_eq!(provider_amount(&money(120_000, "MGA")), Ok(1200));
        assert!(matches!(
            provider_amount(&money(120_050, "MGA")),
            Err(AmountError::NotRepresentable { .. })
        ));
    }

    #[test]
    fn three_decimal_amounts_must_end_in_zero() {
        assert_eq!(provider_amount(&money(12_340, "KWD")), Ok(12_340));
        assert!(matches!(
            provider_amount(&money(12_345, "KWD")),
            Err(AmountError::NotRepresentable { .. })
        ));
    }

    #[test]
    fn amounts_above_eight_digits_are_refused() {
        assert_eq!(
            provider_amount(&money(MAX_PROVIDER_AMOUNT, "EUR")),
            Ok(MAX_PROVIDER_AMOUNT)
        );
        assert_eq!(
            provider_amount(&money(MAX_PROVIDER_AMOUNT + 1, "EUR")),
            Err(AmountError::TooLarge)
        );
        // A million kronur is fine in ISO units, but a hundred million at the provider is not.
        assert_eq!(
            provider_amount(&money(1_000_000, "ISK")),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn charges_below_the_currency_minimum_are_refused() {
        assert!(matches!(
            provider_amount(&money(49, "EUR")),
            Err(AmountError::TooSmall { minimum: 50, .. })
        ));
        assert_eq!(provider_amount(&money(30, "GBP")), Ok(30));
        assert_eq!(provider_amount(&money(1, "XYZ")), Ok(1));
    }

    #[test]
    fn refunds_convert_the_same_way_without_a_minimum() {
        assert_eq!(provider_refund_amount(&money(1, "EUR")), Ok(1));
        assert_eq!(provider_refund_amount(&money(15, "ISK")), Ok(1500));
    }

    #[test]
    fn amounts_are_shown_in_the_currency_s_own_decimals() {
        assert_eq!(display_amount(4500, "EUR"), "EUR 45.00");
        assert_eq!(display_amount(5, "usd"), "USD 0.05");
        assert_eq!(display_amount(500, "JPY"), "JPY 500");
        assert_eq!(display_amount(12_345, "KWD"), "KWD 12.345");
        assert_eq!(display_amount(-50, "EUR"), "EUR -0.50");
        assert_eq!(display_amount(0, "EUR"), "EUR 0.00");
    }

    #[test]
    fn a_malformed_currency_is_refused() {
        assert!(matches!(
            provider_amount(&money(100, "EURO")),
            Err(AmountError::UnknownCurrency(_))
        ));
    }
}
