//! The rules an event meets before it is stored: a name, a start still to come with the sale
//! opening before it, priced categories in one currency, and exactly one category for every seat
//! of its venue (a seat without a price could never be sold).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use super::{
    InvalidInput,
    money::DEFAULT_CURRENCY,
    time::Timestamp,
    venue::Layout,
    venue_rules::{is_display_name, parse_name},
};

/// Enough for any hall's price plan; more is a mistake (say, one category per seat).
pub(crate) const MAX_CATEGORIES: usize = 100;
/// The most a payment provider takes for one charge (Stripe: eight digits of minor units), so
/// that every seat can be sold on its own.
pub(crate) const MAX_PRICE_CENTS: i64 = super::currency::MAX_PROVIDER_AMOUNT;

/// A price category as an admin sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct CategoryInput {
    /// Unique within the event (ignoring case); `seat_categories` refers to it.
    pub name: String,
    /// Integer minor units, 0 or more.
    pub price_cents: i64,
    /// ISO 4217 (three capital letters), the same for every category of the event; EUR when
    /// left out.
    #[serde(default)]
    pub currency: Option<String>,
}

/// A checked price category, its currency being the event's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCategory {
    /// Trimmed, unique within the event ignoring case.
    pub name: String,
    /// Minor units of the event's currency.
    pub price_cents: i64,
}

/// An event ready to be stored once its seats are assigned with [`EventPlan::assign_seats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPlan {
    /// Trimmed and checked like any other name.
    pub name: String,
    /// Still to come when the event is created.
    pub starts_at: Timestamp,
    /// Before the start.
    pub sale_opens_at: Timestamp,
    /// ISO 4217, shared by every category.
    pub currency: String,
    /// In the order given: the order buyers see them in.
    pub categories: Vec<PlannedCategory>,
}

impl EventPlan {
    /// Checks the name, the dates and the categories an admin sent.
    pub fn parse(
        name: &str,
        starts_at: &str,
        sale_opens_at: &str,
        categories: &[CategoryInput],
        now: Timestamp,
    ) -> Result<Self, InvalidInput> {
        let name = parse_name(name, "invalid_event_name", "An event")?;
        let time = |field: &str, raw: &str| {
            Timestamp::parse_rfc3339(raw).ok_or_else(|| {
                let mut e = InvalidInput::new(
                    "invalid_time",
                    format!("{field} must be an RFC 3339 time, like 2030-05-01T19:30:00Z."),
                );
                e.details = Some(serde_json::json!({ "field": field }));
                e
            })
        };
        let starts_at = time("starts_at", starts_at)?;
        let sale_opens_at = time("sale_opens_at", sale_opens_at)?;
        if starts_at <= now {
            return Err(InvalidInput::new(
                "event_in_past",
                "The event must start in the future.",
            ));
        }
        if sale_opens_at >= starts_at {
            return Err(InvalidInput::new(
                "sale_opens_after_start",
                "The sale must open before the event starts.",
            ));
        }
        let (categories, currency) = parse_categories(categories)?;
        Ok(EventPlan {
            name,
            starts_at,
            sale_opens_at,
            currency,
            categories,
        })
    }

    /// Every seat of the venue, in layout order, with the index of its category in
    /// [`EventPlan::categories`]. `chosen` maps seat ids to category names: it must name every
    /// seat of the venue, nothing else, and only declared categories.
    pub fn assign_seats(
        &self,
        layout: &Layout,
        chosen: &HashMap<String, String>,
    ) -> Result<Vec<(String, usize)>, InvalidInput> {
        let venue_seats: HashSet<&str> = layout.seats().map(|(_, _, s)| s.id.as_str()).collect();
        let mut unknown: Vec<&str> = chosen
            .keys()
            .map(String::as_str)
            .filter(|id| !venue_seats.contains(id))
            .collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            return Err(InvalidInput::new(
                "unknown_seats",
                "seat_categories names seats that are not in this venue.",
            )
            .naming("seat_ids", &unknown));
        }
        let index: HashMap<&str, usize> = self
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let undeclared: BTreeSet<&str> = chosen
            .values()
            .map(String::as_str)
            .filter(|c| !index.contains_key(c))
            .collect();
        if !undeclared.is_empty() {
            let undeclared: Vec<&str> = undeclared.into_iter().collect();
            return Err(InvalidInput::new(
                "unknown_categories",
                "seat_categories refers to categories that are not declared in categories.",
            )
            .naming("categories", &undeclared));
        }
        let unpriced: Vec<&str> = layout
            .seats()
            .map(|(_, _, s)| s.id.as_str())
            .filter(|id| !chosen.contains_key(*id))
            .collect();
        if !unpriced.is_empty() {
            return Err(InvalidInput::new(
                "unpriced_seats",
                "Every seat of the venue needs a category: a seat without a price cannot be sold.",
            )
            .naming("seat_ids", &unpriced));
        }
        Ok(layout
            .seats()
            .map(|(_, _, s)| (s.id.clone(), index[chosen[&s.id].as_str()]))
            .collect())
    }
}

fn parse_categories(raw: &[CategoryInput]) -> Result<(Vec<PlannedCategory>, String), InvalidInput> {
    if raw.is_empty() {
        return Err(InvalidInput::new(
            "no_categories",
            "An event needs at least one price category.",
        ));
    }
    if raw.len() > MAX_CATEGORIES {
        return Err(InvalidInput::new(
            "too_many_categories",
            format!("An event has at most {MAX_CATEGORIES} price categories."),
        ));
    }
    let misnamed: Vec<&str> = raw
        .iter()
        .filter(|c| !is_display_name(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !misnamed.is_empty() {
        return Err(InvalidInput::new(
            "invalid_category_names",
            "Each category needs a name of 1 to 200 characters, without control characters.",
        )
        .naming("categories", &misnamed));
    }
    // "VIP" and "vip" side by side would puzzle a buyer; the database's unique key is exact.
    let mut seen = HashSet::new();
    let repeated: BTreeSet<&str> = raw
        .iter()
        .map(|c| c.name.trim())
        .filter(|n| !seen.insert(n.to_lowercase()))
        .collect();
    if !repeated.is_empty() {
        let repeated: Vec<&str> = repeated.into_iter().collect();
        return Err(InvalidInput::new(
            "duplicate_categories",
            "Each category name appears once in an event (ignoring case).",
        )
        .naming("categories", &repeated));
    }
    let mispriced: Vec<&str> = raw
        .iter()
        .filter(|c| !(0..=MAX_PRICE_CENTS).contains(&c.price_cents))
        .map(|c| c.name.trim())
        .collect();
    if !mispriced.is_empty() {
        return Err(InvalidInput::new(
            "invalid_prices",
            format!("price_cents is a whole number of minor units from 0 to {MAX_PRICE_CENTS}."),
        )
        .naming("categories", &mispriced));
    }
    let currencies: BTreeSet<&str> = raw.iter().filter_map(|c| c.currency.as_deref()).collect();
    let malformed: Vec<&str> = currencies
        .iter()
        .copied()
        .filter(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        .collect();
    if !malformed.is_empty() {
        return Err(InvalidInput::new(
            "invalid_currency",
            "A currency is an ISO 4217 code of three capital letters, like EUR.",
        )
        .naming("currencies", &malformed));
    }
    if currencies.len() > 1 {
        let all: Vec<&str> = currencies.into_iter().collect();
        return Err(InvalidInput::new(
            "mixed_currencies",
            "Every category of an event is priced in the same currency.",
        )
        .naming("currencies", &all));
    }
    let currency = currencies
        .into_iter()
        .next()
        .unwrap_or(DEFAULT_CURRENCY)
        .to_owned();
    let categories = raw
        .iter()
        .map(|c| PlannedCategory {
            name: c.name.trim().to_owned(),
            price_cents: c.price_cents,
        })
        .collect();
    Ok((categories, currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue_rules::tests::{room, seat};

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const OPENS: &str = "2027-01-15T10:00:00Z";
    const STARTS: &str = "2027-02-01T19:30:00Z";

    fn category(name: &str, price_cents: i64, currency: Option<&str>) -> CategoryInput {
        CategoryInput {
            name: name.into(),
            price_cents,
            currency: currency.map(Into::into),
        }
    }

    fn standard() -> Vec<CategoryInput> {
        vec![category("Front", 5000, None), category("Back", 2500, None)]
    }

    fn plan(categories: &[CategoryInput]) -> Result<EventPlan, InvalidInput> {
        EventPlan::parse("Gala", STARTS, OPENS, categories, NOW)
    }

    fn code(r: Result<impl std::fmt::Debug, InvalidInput>) -> &'static str {
        r.expect_err("refused").code
    }

    fn named(e: &InvalidInput, key: &str) -> Vec<String> {
        serde_json::from_value(e.details.as_ref().expect("details")[key].clone()).unwrap()
    }

    fn chosen(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(s, c)| ((*s).to_owned(), (*c).to_owned()))
            .collect()
    }

    #[test]
    fn a_valid_event_keeps_its_categories_in_order_and_defaults_to_euros() {
        let p = plan(&standard()).unwrap();
        assert_eq!(p.name, "Gala");
        assert_eq!(p.currency, DEFAULT_CURRENCY);
        assert_eq!(p.categories[1].name, "Back");
        assert_eq!(p.starts_at, Timestamp::parse_rfc3339(STARTS).unwrap());
        let gbp = [
            category("Stalls", 0, Some("GBP")),
            category("Circle", 1, Some("GBP")),
        ];
        assert_eq!(plan(&gbp).unwrap().currency, "GBP");
    }

    #[test]
    fn names_and_times_are_checked() {
        assert_eq!(
            code(EventPlan::parse(" ", STARTS, OPENS, &standard(), NOW)),
            "invalid_event_name"
        );
        let e = EventPlan::parse("Gala", "tomorrow", OPENS, &standard(), NOW).unwrap_err();
        assert_eq!(e.code, "invalid_time");
        assert_eq!(e.details.unwrap()["field"], "starts_at");
        assert_eq!(
            code(EventPlan::parse(
                "Gala",
                STARTS,
                "2027-01-15",
                &standard(),
                NOW
            )),
            "invalid_time"
        );
        assert_eq!(
            code(EventPlan::parse("Gala", STARTS, STARTS, &standard(), NOW)),
            "sale_opens_after_start"
        );
        assert_eq!(
            code(EventPlan::parse(
                "Gala",
                "2020-01-01T00:00:00Z",
                "2019-01-01T00:00:00Z",
                &standard(),
                NOW
            )),
            "event_in_past"
        );
        // Offsets are fine: the instant is what counts.
        assert!(
            EventPlan::parse("Gala", "2027-02-01T20:30:00+01:00", OPENS, &standard(), NOW).is_ok()
        );
    }

    #[test]
    fn categories_need_unique_names_sane_prices_and_one_currency() {
        assert_eq!(code(plan(&[])), "no_categories");
        let many: Vec<_> = (0..=MAX_CATEGORIES)
            .map(|i| category(&format!("C{i}"), 1, None))
            .collect();
        assert_eq!(code(plan(&many)), "too_many_categories");

        let e = plan(&[category("", 1, None), category("Ok", 1, None)]).unwrap_err();
        assert_eq!(
            (e.code, named(&e, "categories")),
            ("invalid_category_names", vec![String::new()])
        );

        let e = plan(&[category("VIP", 1, None), category(" vip ", 2, None)]).unwrap_err();
        assert_eq!(
            (e.code, named(&e, "categories")),
            ("duplicate_categories", vec!["vip".to_owned()])
        );

        let e = plan(&[category("Free", 0, None), category("Odd", -1, None)]).unwrap_err();
        assert_eq!(
            (e.code, named(&e, "categories")),
            ("invalid_prices", vec!["Odd".to_owned()])
        );
        assert_eq!(
            code(plan(&[category("Gold", MAX_PRICE_CENTS + 1, None)])),
            "invalid_prices"
        );

        for bad in ["eur", "EURO", "E1R", ""] {
            assert_eq!(
                code(plan(&[category("A", 1, Some(bad))])),
                "invalid_currency",
                "{bad}"
            );
        }
        let e = plan(&[category("A", 1, Some("EUR")), category("B", 1, Some("USD"))]).unwrap_err();
        assert_eq!(
            (e.code, named(&e, "currencies")),
            ("mixed_currencies", vec!["EUR".to_owned(), "USD".to_owned()])
        );
        // A category without a currency takes the event's.
        assert_eq!(
            plan(&[category("A", 1, Some("USD")), category("B", 1, None)])
                .unwrap()
                .currency,
            "USD"
        );
    }

    #[test]
    fn every_seat_of_the_venue_gets_exactly_one_declared_category() {
        let layout = room(vec![seat("A-1", 5.0, 50.0), seat("A-2", 6.0, 50.0)]);
        let p = plan(&standard()).unwrap();
        assert_eq!(
            p.assign_seats(&layout, &chosen(&[("A-2", "Back"), ("A-1", "Front")]))
                .unwrap(),
            vec![("A-1".to_owned(), 0), ("A-2".to_owned(), 1)]
        );

        let e = p
            .assign_seats(
                &layout,
                &chosen(&[("A-1", "Front"), ("A-2", "Back"), ("Z-9", "Back")]),
            )
            .unwrap_err();
        assert_eq!(
            (e.code, named(&e, "seat_ids")),
            ("unknown_seats", vec!["Z-9".to_owned()])
        );

        let e = p
            .assign_seats(&layout, &chosen(&[("A-1", "Front"), ("A-2", "Balcony")]))
            .unwrap_err();
        assert_eq!(
            (e.code, named(&e, "categories")),
            ("unknown_categories", vec!["Balcony".to_owned()])
        );

        let e = p
            .assign_seats(&layout, &chosen(&[("A-1", "Front")]))
            .unwrap_err();
        assert_eq!(
            (e.code, named(&e, "seat_ids")),
            ("unpriced_seats", vec!["A-2".to_owned()])
        );
    }
}
