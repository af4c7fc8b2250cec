//! Venues and their seat layouts, including the demo hall of the product brief. The rules a
//! layout must meet live in `venue_rules`.

use serde::{Deserialize, Serialize};

/// A venue's seat map, drawn as SVG by the buyer's site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Layout {
    /// The SVG viewBox is `0 0 width height`; seat coordinates are seat centres in it.
    pub width: f64,
    /// The height of the view box.
    pub height: f64,
    /// Where the stage is drawn.
    pub stage: Stage,
    /// The seating, section by section.
    pub sections: Vec<Section>,
}

/// The stage's rectangle in the view box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stage {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// In view-box units.
    pub width: f64,
    /// In view-box units.
    pub height: f64,
    /// Text drawn on it.
    pub label: String,
}

/// A named part of the hall, such as the floor or a balcony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Section {
    /// Unique within the layout.
    pub id: String,
    /// Shown to buyers.
    pub name: String,
    /// Its rows, in layout order.
    pub rows: Vec<Row>,
}

/// One row of seats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Row {
    /// Shown to buyers, such as `C`.
    pub label: String,
    /// Its seats in the order they sit.
    pub seats: Vec<SeatPlace>,
}

/// One seat as drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeatPlace {
    /// Unique in the venue and well formed: it ends up in URLs and tickets.
    pub id: String,
    /// The number on the seat, shown to buyers.
    pub label: String,
    /// Centre, horizontally.
    pub x: f64,
    /// Centre, vertically.
    pub y: f64,
    /// Filled in per event: the venue itself has no prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    /// A wheelchair place.
    #[serde(default)]
    pub accessible: bool,
    /// A seat kept beside a wheelchair place for the person accompanying its user. Left out of
    /// the JSON when false, so layouts stored before it existed read and hash as they did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub companion: bool,
}

impl Layout {
    /// Every seat with its section and row, in layout order.
    pub fn seats(&self) -> impl Iterator<Item = (&Section, &Row, &SeatPlace)> {
        self.sections
            .iter()
            .flat_map(|s| s.rows.iter().map(move |r| (s, r)))
            .flat_map(|(s, r)| r.seats.iter().map(move |p| (s, r, p)))
    }

    /// How many seats the layout has.
    pub fn seat_count(&self) -> usize {
        self.seats().count()
    }
}

/// A price category of the demo event: name, price in cents, and the rows it covers.
pub struct DemoCategory {
    /// Its name.
    pub name: &'static str,
    /// Its price in EUR cents.
    pub price_cents: i64,
    /// The first and last row letters it covers.
    pub rows: std::ops::RangeInclusive<char>,
}

/// The demo event's three categories, front to back.
pub const DEMO_CATEGORIES: [DemoCategory; 3] = [
    DemoCategory {
        name: "Premium",
        price_cents: 8900,
        rows: 'A'..='E',
    },
    DemoCategory {
        name: "Standard",
        price_cents: 6500,
        rows: 'F'..='K',
    },
    DemoCategory {
        name: "Value",
        price_cents: 3900,
        rows: 'L'..='P',
    },
];

pub(crate) const DEMO_SEATS_PER_ROW: u32 = 32;

/// The reference hall: rows A–P of 32 seats on arcs around the stage, with two aisles splitting
/// each row 8 / 16 / 8. Seats keep a constant spacing, so rear rows curve more gently.
pub fn demo_hall() -> Layout {
    const SPACING: f64 = 19.0;
    const FIRST_RADIUS: f64 = 430.0;
    const ROW_GAP: f64 = 24.0;
    const SLOTS: f64 = 34.0; // 32 seats + 2 aisle gaps
    const PAD: f64 = 36.0;
    let mut rows_raw = Vec::new();
    for (i, label) in ('A'..='P').enumerate() {
        let radius = FIRST_RADIUS + ROW_GAP * i as f64;
        let step = SPACING / radius;
        let mut seats = Vec::new();
        for n in 1..=DEMO_SEATS_PER_ROW {
            let slot = f64::from(n - 1) + f64::from(u8::from(n > 8)) + f64::from(u8::from(n > 24));
            let theta = (slot - (SLOTS - 1.0) / 2.0) * step;
            let accessible =
                (label == 'P' && (n <= 2 || n >= 31)) || (label == 'H' && (n == 8 || n == 25));
            seats.push((n, radius * theta.sin(), radius * theta.cos(), accessible));
        }
        rows_raw.push((label, seats));
    }
    let min_x = rows_raw
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(f64::MAX, f64::min);
    let max_x = rows_raw
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(f64::MIN, f64::max);
    let min_y = rows_raw
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.2))
        .fold(f64::MAX, f64::min);
    let max_y = rows_raw
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.2))
        .fold(f64::MIN, f64::max);
    let stage_height = 44.0;
    let stage_gap = 40.0;
    let top = PAD + stage_height + stage_gap;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let to_x = |x: f64| round(x - min_x + PAD + 16.0);
    let to_y = |y: f64| round(y - min_y + top);
    let width = round(max_x - min_x + 2.0 * PAD + 32.0);
    let height = round(max_y - min_y + top + PAD);
    let stage_width = width * 0.42;
    let rows_of = |range: std::ops::RangeInclusive<char>| -> Vec<Row> {
        rows_raw
            .iter()
            .filter(|(l, _)| range.contains(l))
            .map(|(label, seats)| Row {
                label: label.to_string(),
                seats: seats
                    .iter()
                    .map(|&(n, x, y, accessible)| SeatPlace {
                        id: format!("{label}-{n}"),
                        label: n.to_string(),
                        x: to_x(x),
                        y: to_y(y),
                        category_id: None,
                        accessible,
                        companion: false,
                    })
                    .collect(),
            })
            .collect()
    };
    Layout {
        width,
        height,
        stage: Stage {
            x: round((width - stage_width) / 2.0),
            y: PAD,
            width: round(stage_width),
            height: stage_height,
            label: "Stage".to_owned(),
        },
        sections: vec![
            Section {
                id: "stalls".into(),
                name: "Stalls".into(),
                rows: rows_of('A'..='H'),
            },
            Section {
                id: "rear-stalls".into(),
                name: "Rear stalls".into(),
                rows: rows_of('I'..='P'),
            },
        ],
    }
}

/// The demo category name for a seat id like `C-14`.
pub fn demo_category_of(seat_id: &str) -> Option<&'static str> {
    let row = seat_id.chars().next()?;
    DEMO_CATEGORIES
        .iter()
        .find(|c| c.rows.contains(&row))
        .map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_hall_has_sixteen_rows_of_thirty_two_seats() {
        let hall = demo_hall();
        assert_eq!(hall.seat_count(), 16 * 32);
        let rows: Vec<_> = hall
            .sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.label.clone())
            .collect();
        assert_eq!(rows.first().map(String::as_str), Some("A"));
        assert_eq!(rows.last().map(String::as_str), Some("P"));
    }

    #[test]
    fn demo_seats_lie_inside_the_view_box_and_below_the_stage() {
        let hall = demo_hall();
        for (_, _, s) in hall.seats() {
            assert!(s.x > 0.0 && s.x < hall.width, "{} x={}", s.id, s.x);
            assert!(
                s.y > hall.stage.y + hall.stage.height && s.y < hall.height,
                "{} y={}",
                s.id,
                s.y
            );
        }
    }

    #[test]
    fn demo_rows_curve_towards_the_stage_at_their_ends() {
        let hall = demo_hall();
        let row_a = &hall.sections[0].rows[0];
        let middle = &row_a.seats[15];
        assert!(row_a.seats[0].y < middle.y && row_a.seats[31].y < middle.y);
    }

    #[test]
    fn neighbouring_demo_seats_do_not_overlap() {
        let hall = demo_hall();
        for row in hall.sections.iter().flat_map(|s| &s.rows) {
            for pair in row.seats.windows(2) {
                let d = ((pair[0].x - pair[1].x).powi(2) + (pair[0].y - pair[1].y).powi(2)).sqrt();
                assert!(d >= 18.0, "{} and {} are {d} apart", pair[0].id, pair[1].id);
            }
        }
    }

    #[test]
    fn every_demo_seat_has_a_price_category() {
        for (_, _, s) in demo_hall().seats() {
            assert!(demo_category_of(&s.id).is_some(), "{}", s.id);
        }
    }

    #[test]
    fn a_layout_with_a_repeated_seat_is_invalid() {
        let mut hall = demo_hall();
        let dup = hall.sections[0].rows[0].seats[0].clone();
        hall.sections[0].rows[0].seats.push(dup);
        assert!(super::super::venue_rules::check_layout(&hall).is_err());
    }
}
