//! The rules a venue meets before it is stored: a bounded name, and a layout whose seats are
//! uniquely and safely named, labelled, and drawn inside the map's view box.

use std::collections::HashSet;

use super::{
    InvalidInput,
    venue::{Layout, Stage},
};

/// Venue, event and category names: what fits on a ticket and in a list.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// The largest venue we sell: stadium-sized on-sales are what the design is measured against.
pub(crate) const MAX_SEATS: usize = 50_000;
/// Seat and section ids travel in URLs, logs and signed ticket codes: short and plain.
pub(crate) const MAX_ID_LEN: usize = 64;
/// Labels of seats, rows, sections and the stage.
pub(crate) const MAX_LABEL_CHARS: usize = 64;
/// The view box is in drawing units; anything larger is a mistake, not a venue.
pub(crate) const MAX_DIMENSION: f64 = 1_000_000.0;

/// A venue ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVenue {
    /// Trimmed, 1 to 200 characters.
    pub name: String,
    /// Checked, with no categories on its seats.
    pub layout: Layout,
}

impl NewVenue {
    /// Checks the name and the layout. Seats carry no category in a venue (prices belong to an
    /// event), so any `category_id` sent with a seat is dropped.
    pub fn parse(name: &str, mut layout: Layout) -> Result<Self, InvalidInput> {
        let name = parse_name(name, "invalid_venue_name", "A venue")?;
        check_layout(&layout)?;
        for row in layout.sections.iter_mut().flat_map(|s| &mut s.rows) {
            for seat in &mut row.seats {
                seat.category_id = None;
            }
        }
        Ok(NewVenue { name, layout })
    }
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub(crate) fn parse_name(
    raw: &str,
    code: &'static str,
    what: &str,
) -> Result<String, InvalidInput> {
    let name = raw.trim();
    if !is_display_name(name) {
        return Err(InvalidInput::new(
            code,
            format!(
                "{what} needs a name of 1 to {MAX_NAME_CHARS} characters, without control characters."
            ),
        ));
    }
    Ok(name.to_owned())
}

/// Whether `raw`, trimmed, is 1 to [`MAX_NAME_CHARS`] characters without control characters.
pub(crate) fn is_display_name(raw: &str) -> bool {
    let name = raw.trim();
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(char::is_control)
}

/// 1 to [`MAX_ID_LEN`] characters of `A–Z a–z 0–9 - _ .`: safe in a URL, a log line and a ticket.
pub fn is_well_formed_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_label(label: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !label.trim().is_empty())
        && label.chars().count() <= MAX_LABEL_CHARS
        && !label.chars().any(char::is_control)
}

fn invalid_layout(message: &str) -> InvalidInput {
    InvalidInput::new("invalid_layout", message)
}

/// Every rule of a layout; the first broken one is reported, naming every seat that breaks it.
pub(crate) fn check_layout(layout: &Layout) -> Result<(), InvalidInput> {
    let (width, height) = (layout.width, layout.height);
    let dimension = |v: f64| v.is_finite() && v > 0.0 && v <= MAX_DIMENSION;
    if !dimension(width) || !dimension(height) {
        return Err(invalid_layout(&format!(
            "The layout's width and height must be positive numbers up to {MAX_DIMENSION}."
        )));
    }
    let inside = |x: f64, y: f64| {
        x.is_finite() && y.is_finite() && (0.0..=width).contains(&x) && (0.0..=height).contains(&y)
    };
    let Stage {
        x,
        y,
        width: w,
        height: h,
        label,
    } = &layout.stage;
    let stage_fits = inside(*x, *y) && *w >= 0.0 && *h >= 0.0 && inside(x + w, y + h);
    if !stage_fits || !is_label(label, true) {
        return Err(invalid_layout(
            "The stage must lie inside the layout, with a label of at most 64 characters.",
        ));
    }

    let mut section_ids = HashSet::new();
    let bad_sections: Vec<&str> = layout
        .sections
        .iter()
        .filter(|s| {
            !is_well_formed_id(&s.id)
                || !section_ids.insert(s.id.as_str())
                || !is_label(&s.name, false)
        })
        .map(|s| s.id.as_str())
        .collect();
    if !bad_sections.is_empty() {
        return Err(invalid_layout(
            "Each section needs its own id (letters, digits, - _ .) and a name of at most 64 characters.",
        )
        .naming("section_ids", &bad_sections));
    }
    let bad_rows: Vec<String> = layout
        .sections
        .iter()
        .flat_map(|s| s.rows.iter().map(move |r| (s, r)))
        .filter(|(_, r)| !is_label(&r.label, false))
        .map(|(s, r)| format!("{}/{}", s.id, r.label))
        .collect();
    if !bad_rows.is_empty() {
        return Err(
            invalid_layout("Each row needs a label of 1 to 64 characters.")
                .naming("rows", &bad_rows),
        );
    }

    let count = layout.seat_count();
    if count == 0 {
        return Err(InvalidInput::new(
            "empty_layout",
            "A venue needs at least one seat.",
        ));
    }
    if count > MAX_SEATS {
        let mut e = InvalidInput::new(
            "too_many_seats",
            format!("A venue has at most {MAX_SEATS} seats; this one has {count}."),
        );
        e.details = Some(serde_json::json!({ "count": count, "max": MAX_SEATS }));
        return Err(e);
    }
    let seats = || layout.seats().map(|(_, _, seat)| seat);

    let malformed: Vec<&str> = seats()
        .filter(|s| !is_well_formed_id(&s.id))
        .map(|s| s.id.as_str())
        .collect();
    if !malformed.is_empty() {
        return Err(InvalidInput::new(
            "invalid_seat_ids",
            format!("Seat ids are 1 to {MAX_ID_LEN} letters, digits, '-', '_' or '.'."),
        )
        .naming("seat_ids", &malformed));
    }
    let mut seen = HashSet::with_capacity(count);
    let mut repeated: Vec<&str> = seats()
        .filter(|s| !seen.insert(s.id.as_str()))
        .map(|s| s.id.as_str())
        .collect();
    if !repeated.is_empty() {
        repeated.sort_unstable();
        repeated.dedup();
        return Err(InvalidInput::new(
            "duplicate_seat_ids",
            "Each seat id appears once in a venue.",
        )
        .naming("seat_ids", &repeated));
    }
    let unlabelled: Vec<&str> = seats()
        .filter(|s| !is_label(&s.label, false))
        .map(|s| s.id.as_str())
        .collect();
    if !unlabelled.is_empty() {
        return Err(InvalidInput::new(
            "invalid_seat_labels",
            format!("Each seat needs a label of 1 to {MAX_LABEL_CHARS} characters."),
        )
        .naming("seat_ids", &unlabelled));
    }
    let outside: Vec<&str> = seats()
        .filter(|s| !inside(s.x, s.y))
        .map(|s| s.id.as_str())
        .collect();
    if !outside.is_empty() {
        return Err(InvalidInput::new(
            "seats_outside_layout",
            "Seat coordinates must lie inside the layout (0 to width, 0 to height).",
        )
        .naming("seat_ids", &outside));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::venue::{Row, SeatPlace, Section, demo_hall};

    pub(crate) fn seat(id: &str, x: f64, y: f64) -> SeatPlace {
        SeatPlace {
            id: id.into(),
            label: id.into(),
            x,
            y,
            category_id: None,
            accessible: false,
            companion: false,
        }
    }

    /// A 100 × 100 room with one section and one row of the given seats.
    pub(crate) fn room(seats: Vec<SeatPlace>) -> Layout {
        Layout {
            width: 100.0,
            height: 100.0,
            stage: Stage {
                x: 10.0,
                y: 0.0,
                width: 80.0,
                height: 10.0,
                label: "Stage".into(),
            },
            sections: vec![Section {
                id: "floor".into(),
                name: "Floor".into(),
                rows: vec![Row {
                    label: "A".into(),
                    seats,
                }],
            }],
        }
    }

    fn refused(layout: Layout) -> InvalidInput {
        NewVenue::parse("Hall", layout).expect_err("the layout is refused")
    }

    fn named(e: &InvalidInput, key: &str) -> Vec<String> {
        serde_json::from_value(e.details.as_ref().expect("details")[key].clone()).unwrap()
    }

    #[test]
    fn the_demo_hall_meets_every_rule() {
        let venue = NewVenue::parse("  The Reference Hall ", demo_hall()).unwrap();
        assert_eq!(venue.name, "The Reference Hall");
        assert_eq!(venue.layout.seat_count(), 512);
    }

    #[test]
    fn a_venue_needs_a_bounded_name() {
        let layout = room(vec![seat("A-1", 5.0, 50.0)]);
        for name in ["", "   ", "tab\there", &"x".repeat(MAX_NAME_CHARS + 1)] {
            assert_eq!(
                NewVenue::parse(name, layout.clone()).unwrap_err().code,
                "invalid_venue_name",
                "{name:?}"
            );
        }
        assert!(NewVenue::parse(&"é".repeat(MAX_NAME_CHARS), layout).is_ok());
    }

    #[test]
    fn the_view_box_must_be_positive_and_finite() {
        for (w, h) in [
            (0.0, 10.0),
            (-1.0, 10.0),
            (f64::NAN, 10.0),
            (10.0, f64::INFINITY),
        ] {
            let mut layout = room(vec![seat("A-1", 0.0, 0.0)]);
            layout.width = w;
            layout.height = h;
            layout.stage.width = 0.0;
            layout.stage.x = 0.0;
            assert_eq!(refused(layout).code, "invalid_layout", "{w} × {h}");
        }
    }

    #[test]
    fn the_stage_must_lie_inside_the_view_box() {
        let mut layout = room(vec![seat("A-1", 5.0, 50.0)]);
        layout.stage.width = 95.0;
        assert_eq!(refused(layout).code, "invalid_layout");
    }

    #[test]
    fn a_venue_without_seats_is_refused() {
        assert_eq!(refused(room(vec![])).code, "empty_layout");
        let mut layout = room(vec![]);
        layout.sections.clear();
        assert_eq!(refused(layout).code, "empty_layout");
    }

    #[test]
    fn seat_ids_are_short_and_plain() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let e = refused(room(vec![
            seat("A-1", 5.0, 50.0),
            seat("", 6.0, 50.0),
            seat("a b", 7.0, 50.0),
            seat("<script>", 8.0, 50.0),
            seat("é", 9.0, 50.0),
            seat(&long, 10.0, 50.0),
        ]));
        assert_eq!(e.code, "invalid_seat_ids");
        let ids = named(&e, "seat_ids");
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert!(ids[4].ends_with('…') && ids[4].chars().count() == crate::MAX_ECHO_CHARS + 1);
        assert!(is_well_formed_id("Stalls_B.12-a"));
    }

    #[test]
    fn a_seat_id_appears_once_in_a_venue_even_across_sections() {
        let mut layout = room(vec![seat("A-1", 5.0, 50.0), seat("A-2", 6.0, 50.0)]);
        let mut balcony = layout.sections[0].clone();
        balcony.id = "balcony".into();
        balcony.rows[0].seats.truncate(1);
        layout.sections.push(balcony);
        let e = refused(layout);
        assert_eq!(e.code, "duplicate_seat_ids");
        assert_eq!(named(&e, "seat_ids"), ["A-1"]);
    }

    #[test]
    fn sections_need_their_own_ids_and_rows_their_labels() {
        let mut layout = room(vec![seat("A-1", 5.0, 50.0)]);
        let mut twin = layout.sections[0].clone();
        twin.rows[0].seats[0].id = "B-1".into();
        layout.sections.push(twin);
        let e = refused(layout);
        assert_eq!(e.code, "invalid_layout");
        assert_eq!(named(&e, "section_ids"), ["floor"]);

        let mut layout = room(vec![seat("A-1", 5.0, 50.0)]);
        layout.sections[0].rows[0].label = " ".into();
        assert_eq!(named(&refused(layout), "rows"), ["floor/ "]);
    }

    #[test]
    fn every_seat_needs_a_label() {
        let mut unlabelled = seat("A-2", 6.0, 50.0);
        unlabelled.label = String::new();
        let e = refused(room(vec![seat("A-1", 5.0, 50.0), unlabelled]));
        assert_eq!(e.code, "invalid_seat_labels");
        assert_eq!(named(&e, "seat_ids"), ["A-2"]);
    }

    #[test]
    fn seats_must_be_drawn_inside_the_view_box() {
        let e = refused(room(vec![
            seat("A-1", 0.0, 100.0),
            seat("A-2", 100.5, 50.0),
            seat("A-3", 5.0, -1.0),
            seat("A-4", f64::NAN, 5.0),
        ]));
        assert_eq!(e.code, "seats_outside_layout");
        assert_eq!(named(&e, "seat_ids"), ["A-2", "A-3", "A-4"]);
    }

    #[test]
    fn a_venue_has_at_most_the_largest_seat_count_and_errors_name_a_bounded_few() {
        let seats = |n: usize| (0..n).map(|i| seat(&format!("S{i}"), 1.0, 50.0)).collect();
        assert!(NewVenue::parse("Stadium", room(seats(MAX_SEATS))).is_ok());
        let e = refused(room(seats(MAX_SEATS + 1)));
        assert_eq!(e.code, "too_many_seats");
        assert_eq!(e.details.unwrap()["count"], MAX_SEATS + 1);

        let outside: Vec<_> = (0..500)
            .map(|i| seat(&format!("S{i}"), 500.0, 50.0))
            .collect();
        let e = refused(room(outside));
        assert_eq!(named(&e, "seat_ids").len(), crate::MAX_NAMED);
        assert_eq!(e.details.unwrap()["count"], 500);
    }

    #[test]
    fn categories_sent_with_a_venue_are_dropped() {
        let mut priced = seat("A-1", 5.0, 50.0);
        priced.category_id = Some("vip".into());
        let venue = NewVenue::parse("Hall", room(vec![priced])).unwrap();
        assert_eq!(venue.layout.sections[0].rows[0].seats[0].category_id, None);
    }
}
