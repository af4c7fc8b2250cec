//! The organiser's catalogue after creation: listing and reading venues, every event drafts
//! included, editing an event (prices may change until seats are taken), and publishing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    BACK_CENTS, FRONT_CENTS, buyer_for, create_event, create_venue, event_body, hall, in_days,
    seat_ids,
};
use crate::{
    admin::app_with_admin,
    helpers::{Buyer, SseReader, TestApp, assert_error, parse_time, plain_client},
};

async fn put_json(who: &Buyer, path: &str, body: &Value) -> reqwest::Response {
    who.client
        .put(who.url(path))
        .json(body)
        .send()
        .await
        .expect("PUT")
}

/// The standard event, edited: Front costs `front`, and rows up to `front_rows` are Front.
fn edit_body(layout: &Value, front: i64, front_rows: usize) -> Value {
    let seat_categories: serde_json::Map<String, Value> = seat_ids(layout)
        .into_iter()
        .map(|id| {
            let row: usize = id[1..id.find('-').unwrap()].parse().unwrap();
            let category = if row <= front_rows { "Front" } else { "Back" };
            (id, json!(category))
        })
        .collect();
    json!({
        "name": "Later Show",
        "starts_at": in_days(61),
        "sale_opens_at": in_days(-1),
        "categories": [
            {"name": "Front", "price_cents": front},
            {"name": "Back", "price_cents": BACK_CENTS},
        ],
        "seat_categories": seat_categories,
    })
}

fn category_of(event: &Value, seat: &str) -> String {
    let id = event["layout"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .flat_map(|r| r["seats"].as_array().unwrap())
        .find(|s| s["id"] == seat)
        .unwrap()["category_id"]
        .clone();
    event["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_admin_lists_venues_newest_first_and_reads_one_with_its_layout() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(2, 5);
    let venue = create_venue(&admin, "Annex", &layout).await;
    let venue_id = venue["id"].as_str().unwrap();
    create_event(&admin, &event_body(venue_id, &layout)).await;

    let list = admin.get("/api/v1/admin/venues").await;
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    let venues = list["venues"].as_array().unwrap();
    assert_eq!(venues.len(), 2, "the demo hall and the annex: {list}");
    assert_eq!(venues[0]["id"], venue_id, "newest first");
    assert_eq!(venues[0]["name"], "Annex");
    assert_eq!(venues[0]["events"], 1);
    assert_eq!(venues[1]["events"], 1, "the demo event");
    parse_time(venues[0]["created_at"].as_str().unwrap());
    assert!(
        venues[0].get("layout").is_none(),
        "the list leaves layouts out"
    );

    let shown = admin.get(&format!("/api/v1/admin/venues/{venue_id}")).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["venue"]["layout"], layout);
    assert_eq!(shown["venue"]["name"], "Annex");

    for missing in ["nope", "bad%20id"] {
        let r = admin.get(&format!("/api/v1/admin/venues/{missing}")).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let _ = app;
}

#[tokio::test]
async fn companion_seats_are_kept_in_the_layout_and_left_out_when_not_marked() {
    let (_app, admin) = app_with_admin().await;
    let mut layout = hall(1, 4);
    layout["sections"][0]["rows"][0]["seats"][0]["accessible"] = json!(true);
    layout["sections"][0]["rows"][0]["seats"][1]["companion"] = json!(true);
    let venue = create_venue(&admin, "Access", &layout).await;
    let seats = venue["layout"]["sections"][0]["rows"][0]["seats"].clone();
    assert_eq!(seats[0]["accessible"], true);
    assert_eq!(seats[1]["companion"], true);
    assert!(
        seats[2].get("companion").is_none(),
        "unmarked seats carry no companion flag: {seats}"
    );
}

#[tokio::test]
async fn only_an_admin_reads_and_edits_the_organisers_catalogue() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let event_id = app.event_id().await;
    let edit = json!({"name": "x", "starts_at": in_days(2), "sale_opens_at": in_days(1),
        "categories": [], "seat_categories": {}});
    let publish = json!({"published": false});
    let anonymous = plain_client();
    for (method, path, body) in [
        ("GET", "/api/v1/admin/venues".to_owned(), None),
        ("GET", "/api/v1/admin/venues/x".to_owned(), None),
        ("GET", "/api/v1/admin/events".to_owned(), None),
        ("GET", format!("/api/v1/admin/events/{event_id}"), None),
        (
            "PUT",
            format!("/api/v1/admin/events/{event_id}"),
            Some(&edit),
        ),
        (
            "PUT",
            format!("/api/v1/admin/events/{event_id}/published"),
            Some(&publish),
        ),
    ] {
        let send = |client: &reqwest::Client| {
            let rb = client.request(method.parse().unwrap(), app.url(&path));
            match body {
                Some(b) => rb.json(b).send(),
                None => rb.send(),
            }
        };
        let r = send(&anonymous).await.unwrap();
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let r = send(&buyer.client).await.unwrap();
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Nothing changed: the demo event is still listed, under its name.
    let listed = app.get_json("/api/v1/events").await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    let _ = admin;
}

/// Buyers find no trace of the event: not listed, and 404 for its page, map, stream and holds.
async fn assert_hidden(app: &TestApp, buyer: &Buyer, event_id: &str) {
    let listed = app.get_json("/api/v1/events").await;
    assert!(
        !listed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == event_id),
        "the draft is not listed"
    );
    for path in [
        "",
        "/seats",
        "/seats?format=compact",
        "/seats/mine",
        "/stream",
    ] {
        let r = buyer.get(&format!("/api/v1/events/{event_id}{path}")).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_error(
        buyer.hold(&["R1-1"]).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_draft_is_hidden_from_buyers_until_it_is_published_and_hidden_again_when_unpublished() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(2, 5);
    let venue = create_venue(&admin, "Drafts", &layout).await;
    let mut body = event_body(venue["id"].as_str().unwrap(), &layout);
    body["published"] = json!(false);
    let draft = create_event(&admin, &body).await;
    let event_id = draft["id"].as_str().unwrap().to_owned();
    let buyer = buyer_for(&app, &event_id).await;

    assert_hidden(&app, &buyer, &event_id).await;

    // The admin sees the draft in their own list and detail.
    let mine: Value = admin
        .get("/api/v1/admin/events")
        .await
        .json()
        .await
        .unwrap();
    let listed = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == event_id.as_str())
        .expect("the admin's list has the draft")
        .clone();
    assert_eq!(listed["published"], false);
    let detail: Value = admin
        .get(&format!("/api/v1/admin/events/{event_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["event"]["published"], false);
    assert_eq!(category_of(&detail["event"], "R1-1"), "Front");

    let r = put_json(
        &admin,
        &format!("/api/v1/admin/events/{event_id}/published"),
        &json!({"published": true}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["event"]["published"], true);
    let listed = app.get_json("/api/v1/events").await;
    assert!(
        listed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == event_id.as_str())
    );
    buyer.buy(&["R1-1"]).await;

    let r = put_json(
        &admin,
        &format!("/api/v1/admin/events/{event_id}/published"),
        &json!({"published": false}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_hidden(&app, &buyer, &event_id).await;
    // The buyer's order stays theirs.
    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);

    let r = put_json(
        &admin,
        "/api/v1/admin/events/unknown/published",
        &json!({"published": true}),
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn an_edit_renames_retimes_and_reprices_the_event_and_moves_free_seats() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(3, 4);
    let venue = create_venue(&admin, "Edits", &layout).await;
    let created = create_event(&admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    let event_id = created["id"].as_str().unwrap().to_owned();
    let front_id = created["categories"][0]["id"].clone();

    let r = put_json(
        &admin,
        &format!("/api/v1/admin/events/{event_id}"),
        &edit_body(&layout, 9900, 2),
    )
    .await;
    let status = r.status();
    let edited: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{edited}");
    let shown = app.get_json(&format!("/api/v1/events/{event_id}")).await["event"].clone();
    assert_eq!(shown["name"], "Later Show");
    assert_eq!(shown["categories"][0]["price_cents"], 9900);
    assert_eq!(
        shown["categories"][0]["id"], front_id,
        "a category keeps its id"
    );
    assert_eq!(category_of(&shown, "R2-3"), "Front", "a free seat moved");
    assert_eq!(category_of(&shown, "R3-3"), "Back");
    assert_ne!(
        shown["layout_url"], created["layout_url"],
        "a new layout document"
    );
    assert_eq!(edited["event"]["name"], "Later Show");

    // The buyer pays the new price.
    let buyer = buyer_for(&app, &event_id).await;
    let order = buyer.buy(&["R2-1"]).await;
    assert_eq!(order["total_cents"], 9900);
}

#[tokio::test]
async fn an_edit_that_would_reprice_or_move_a_sold_or_held_seat_is_refused_and_changes_nothing() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(3, 4);
    let venue = create_venue(&admin, "Sold", &layout).await;
    let created = create_event(&admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    let event_id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/events/{event_id}");
    let buyer = buyer_for(&app, &event_id).await;
    buyer.buy(&["R1-1"]).await;
    let holder = buyer_for(&app, &event_id).await;
    holder.hold_ok(&["R2-2"]).await;

    // Front's price changes while R1-1 is sold in it.
    let r = put_json(&admin, &path, &edit_body(&layout, FRONT_CENTS + 1, 1)).await;
    let e = assert_error(r, StatusCode::CONFLICT, "seats_taken").await;
    assert_eq!(e["details"]["seat_ids"], json!(["R1-1"]));
    // The held R2-2 would move to Front.
    let r = put_json(&admin, &path, &edit_body(&layout, FRONT_CENTS, 2)).await;
    let e = assert_error(r, StatusCode::CONFLICT, "seats_taken").await;
    assert_eq!(e["details"]["seat_ids"], json!(["R2-2"]));
    // Front renamed: the sold seat would change category.
    let mut renamed = edit_body(&layout, FRONT_CENTS, 1);
    renamed["categories"][0]["name"] = json!("Stalls");
    for v in renamed["seat_categories"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        if v == "Front" {
            *v = json!("Stalls");
        }
    }
    let r = put_json(&admin, &path, &renamed).await;
    assert_error(r, StatusCode::CONFLICT, "seats_taken").await;

    let shown = app.get_json(&format!("/api/v1/events/{event_id}")).await["event"].clone();
    assert_eq!(shown["name"], "Late Show", "nothing changed");
    assert_eq!(shown["categories"], created["categories"]);
    assert_eq!(category_of(&shown, "R2-2"), "Back");

    // Keeping the taken seats as they are, everything else may change.
    let mut fine = edit_body(&layout, FRONT_CENTS, 1);
    fine["categories"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Balcony", "price_cents": 1500}));
    fine["seat_categories"]["R3-4"] = json!("Balcony");
    fine["seat_categories"]["R1-4"] = json!("Back");
    let r = put_json(&admin, &path, &fine).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let shown = app.get_json(&format!("/api/v1/events/{event_id}")).await["event"].clone();
    assert_eq!(category_of(&shown, "R3-4"), "Balcony");
    assert_eq!(category_of(&shown, "R1-4"), "Back");
    assert_eq!(category_of(&shown, "R1-1"), "Front");
    assert_eq!(shown["categories"].as_array().unwrap().len(), 3);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn an_edit_is_checked_like_a_new_event_and_an_unknown_event_is_not_found() {
    let (_app, admin) = app_with_admin().await;
    let layout = hall(2, 3);
    let venue = create_venue(&admin, "Rules", &layout).await;
    let created = create_event(&admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    let path = format!("/api/v1/admin/events/{}", created["id"].as_str().unwrap());

    let mut unpriced = edit_body(&layout, 100, 1);
    unpriced["seat_categories"]
        .as_object_mut()
        .unwrap()
        .remove("R2-3");
    let e = assert_error(
        put_json(&admin, &path, &unpriced).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unpriced_seats",
    )
    .await;
    assert_eq!(e["details"]["seat_ids"], json!(["R2-3"]));
    let mut past = edit_body(&layout, 100, 1);
    past["starts_at"] = json!(in_days(-2));
    past["sale_opens_at"] = json!(in_days(-3));
    assert_error(
        put_json(&admin, &path, &past).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "event_in_past",
    )
    .await;
    let mut negative = edit_body(&layout, -1, 1);
    negative["name"] = json!("Fine");
    assert_error(
        put_json(&admin, &path, &negative).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_prices",
    )
    .await;
    assert_error(
        put_json(
            &admin,
            "/api/v1/admin/events/unknown",
            &edit_body(&layout, 1, 1),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_edit_made_on_one_instance_shows_on_another_sharing_the_database() {
    let (first, admin) = app_with_admin().await;
    let mut second = TestApp::spawn_on(first.db_url.clone(), |_| {}).await;
    second.keep_database();
    let layout = hall(2, 3);
    let venue = create_venue(&admin, "Shared", &layout).await;
    let created = create_event(&admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    let event_id = created["id"].as_str().unwrap().to_owned();
    let on_second = format!("/api/v1/events/{event_id}");
    assert_eq!(
        second.get_json(&on_second).await["event"]["categories"][0]["price_cents"],
        FRONT_CENTS
    );
    let mut watcher = SseReader::connect_to(&second, &event_id, None).await;
    assert_eq!(watcher.next().await.unwrap().0, "snapshot");

    let r = put_json(
        &admin,
        &format!("/api/v1/admin/events/{event_id}"),
        &edit_body(&layout, 4400, 1),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    loop {
        let shown = second.get_json(&on_second).await;
        if shown["event"]["categories"][0]["price_cents"] == 4400 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the second instance still shows {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let buyer = buyer_for(&second, &event_id).await;
    assert_eq!(buyer.buy(&["R1-2"]).await["total_cents"], 4400);
}
