//! What an admin may change in an event that already exists: its categories are matched to the
//! stored ones by name, and a seat someone holds or bought keeps exactly its category and price
//! (a buyer pays, and the door checks, what they were shown).

use std::collections::HashMap;

use super::event_plan::EventPlan;

/// A category as stored: its id, name, price and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCategory {
    /// Its id, which seats refer to.
    pub id: String,
    /// Its name, unique in the event ignoring case.
    pub name: String,
    /// Minor units.
    pub price_cents: i64,
    /// ISO 4217.
    pub currency: String,
}

/// For each category of the plan, in its order, the stored category it continues (same name,
/// ignoring case), if any. A category keeps its id across an edit, so seats that stay in it are
/// not touched; a renamed category is a new one.
pub fn match_categories(stored: &[StoredCategory], plan: &EventPlan) -> Vec<Option<usize>> {
    let by_name: HashMap<String, usize> = stored
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.to_lowercase(), i))
        .collect();
    plan.categories
        .iter()
        .map(|c| by_name.get(&c.name.to_lowercase()).copied())
        .collect()
}

/// The taken seats (held or sold) the edit would reprice: moved to another category, or left in
/// one whose price or currency changes. `taken` maps each such seat to its stored category's
/// index in `stored`; `assigned` maps every seat to its category's index in the plan, and
/// `matched` is [`match_categories`]' answer. Sorted, for a stable answer.
pub fn repriced_taken_seats(
    stored: &[StoredCategory],
    plan: &EventPlan,
    matched: &[Option<usize>],
    assigned: &HashMap<&str, usize>,
    taken: &[(String, usize)],
) -> Vec<String> {
    let mut repriced: Vec<String> = taken
        .iter()
        .filter(|(seat, old)| {
            let Some(&new) = assigned.get(seat.as_str()) else {
                return true;
            };
            let before = &stored[*old];
            let after = &plan.categories[new];
            matched[new] != Some(*old)
                || after.price_cents != before.price_cents
                || plan.currency != before.currency
        })
        .map(|(seat, _)| seat.clone())
        .collect();
    repriced.sort_unstable();
    repriced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event_plan::CategoryInput, time::Timestamp};

    fn stored() -> Vec<StoredCategory> {
        [("c1", "Front", 7300), ("c2", "Back", 2100)]
            .into_iter()
            .map(|(id, name, price)| StoredCategory {
                id: id.into(),
                name: name.into(),
                price_cents: price,
                currency: "EUR".into(),
            })
            .collect()
    }

    fn plan(categories: &[(&str, i64, &str)]) -> EventPlan {
        let input: Vec<CategoryInput> = categories
            .iter()
            .map(|(name, price, currency)| CategoryInput {
                name: (*name).into(),
                price_cents: *price,
                currency: Some((*currency).into()),
            })
            .collect();
        let now = Timestamp(1_000_000);
        EventPlan::parse(
            "Show",
            "2100-01-02T00:00:00Z",
            "2100-01-01T00:00:00Z",
            &input,
            now,
        )
        .unwrap()
    }

    #[test]
    fn categories_continue_by_name_ignoring_case_and_new_names_are_new() {
        let p = plan(&[("back", 2100, "EUR"), ("Balcony", 1000, "EUR")]);
        assert_eq!(match_categories(&stored(), &p), [Some(1), None]);
    }

    #[test]
    fn a_taken_seat_may_stay_in_its_category_at_its_price_while_free_seats_move() {
        let p = plan(&[("Front", 7300, "EUR"), ("Back", 2500, "EUR")]);
        let matched = match_categories(&stored(), &p);
        // A-1 is sold in Front and stays there; B-1 is free and moves from Back to Front.
        let assigned = HashMap::from([("A-1", 0), ("B-1", 0)]);
        let taken = [("A-1".to_owned(), 0)];
        assert!(repriced_taken_seats(&stored(), &p, &matched, &assigned, &taken).is_empty());
    }

    #[test]
    fn a_taken_seat_may_not_change_category_price_or_currency() {
        let taken = [("A-1".to_owned(), 0), ("B-1".to_owned(), 1)];
        // Moved from Back to Front, at the same price as before or not.
        let p = plan(&[("Front", 7300, "EUR"), ("Back", 2100, "EUR")]);
        let assigned = HashMap::from([("A-1", 0), ("B-1", 0)]);
        let matched = match_categories(&stored(), &p);
        assert_eq!(
            repriced_taken_seats(&stored(), &p, &matched, &assigned, &taken),
            ["B-1"]
        );
        // Its category's price changes.
        let p = plan(&[("Front", 7400, "EUR"), ("Back", 2100, "EUR")]);
        let assigned = HashMap::from([("A-1", 0), ("B-1", 1)]);
        let matched = match_categories(&stored(), &p);
        assert_eq!(
            repriced_taken_seats(&stored(), &p, &matched, &assigned, &taken),
            ["A-1"]
        );
        // The event's currency changes.
        let p = plan(&[("Front", 7300, "USD"), ("Back", 2100, "USD")]);
        let matched = match_categories(&stored(), &p);
        assert_eq!(
            repriced_taken_seats(&stored(), &p, &matched, &assigned, &taken),
            ["A-1", "B-1"]
        );
        // Its category is renamed: a new category, so the seat would change category.
        let p = plan(&[("Stalls", 7300, "EUR"), ("Back", 2100, "EUR")]);
        let matched = match_categories(&stored(), &p);
        assert_eq!(
            repriced_taken_seats(&stored(), &p, &matched, &assigned, &taken),
            ["A-1"]
        );
    }
}
