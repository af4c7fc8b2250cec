//! The hall the `scenarios` phase sells: 2,000 seats in 40 rows of 50, row A nearest the stage,
//! in three price bands from front to back, created through the admin API.

use serde_json::{Value, json};

use crate::{Result, admin::admin_post, fail};

/// 40 rows of 50: the 2,000 seats.
pub(crate) const ROWS: usize = 40;
pub(crate) const SEATS_PER_ROW: usize = 50;

fn row_label(r: usize) -> String {
    let letter = |i: usize| char::from(b'A' + i as u8);
    if r < 26 {
        letter(r).to_string()
    } else {
        format!("A{}", letter(r - 26))
    }
}

/// A plain rectangular hall: 40 rows of 50 seats, row A nearest the stage.
pub(crate) async fn create_venue(c: &reqwest::Client, base: &str, token: &str) -> Result<String> {
    let rows: Vec<Value> = (0..ROWS)
        .map(|r| {
            let label = row_label(r);
            let seats: Vec<Value> = (1..=SEATS_PER_ROW)
                .map(|n| {
                    json!({
                        "id": format!("{label}-{n}"), "label": n.to_string(),
                        "x": 10 + n * 12, "y": 60 + r * 14,
                    })
                })
                .collect();
            json!({ "label": label, "seats": seats })
        })
        .collect();
    let layout = json!({
        "width": 30 + SEATS_PER_ROW * 12, "height": 80 + ROWS * 14,
        "stage": { "x": 10, "y": 5, "width": SEATS_PER_ROW * 12, "height": 30, "label": "Stage" },
        "sections": [{ "id": "floor", "name": "Floor", "rows": rows }],
    });
    let body = admin_post(
        c,
        format!("{base}/api/v1/admin/venues"),
        token,
        &json!({ "name": "Bench Arena", "layout": layout }),
    )
    .await?;
    body["venue"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("no venue id"))
}

/// A fresh on-sale event in the venue, three price bands from front to back.
pub(crate) async fn create_event(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    venue: &str,
    name: &str,
) -> Result<String> {
    let mut seat_categories = serde_json::Map::new();
    for r in 0..ROWS {
        let band = match r * 4 / ROWS {
            0 => "Front",
            1 => "Middle",
            _ => "Back",
        };
        for n in 1..=SEATS_PER_ROW {
            seat_categories.insert(format!("{}-{n}", row_label(r)), band.into());
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let body = admin_post(
        c,
        format!("{base}/api/v1/admin/events"),
        token,
        &json!({
            "venue_id": venue, "name": format!("Bench: {name}"),
            "starts_at": rfc(now + time::Duration::days(30)),
            "sale_opens_at": rfc(now - time::Duration::hours(1)),
            "categories": [
                { "name": "Front", "price_cents": 9000 },
                { "name": "Middle", "price_cents": 6000 },
                { "name": "Back", "price_cents": 3500 },
            ],
            "seat_categories": seat_categories,
        }),
    )
    .await?;
    body["event"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("no event id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_z_get_two_letters() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(39), "AN");
    }
}
