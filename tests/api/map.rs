//! The seat map as a crowd fetches it: the layout at its content-addressed URL (immutable, ETag,
//! 304, gzip and brotli), the compact seat states with the caller's own seats apart, the compact
//! streams, and what a buyer's map costs on the wire for the 2,000-seat hall.

use std::{collections::HashMap, io::Read};

use reqwest::{StatusCode, header};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    admin::app_with_admin,
    helpers::{Buyer, SseReader, TestApp, WsReader, assert_error},
};

/// What a browser sends.
const BROWSER_ENCODINGS: &str = "gzip, deflate, br, zstd";

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// A GET with these request headers: (status, response headers, body bytes as sent).
async fn fetch(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    token: Option<&str>,
) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let mut rb = app.api.get(app.url(path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.expect("GET");
    let (status, h) = (r.status(), r.headers().clone());
    (status, h, r.bytes().await.expect("a body").to_vec())
}

fn header_of<'a>(h: &'a header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The body decoded as its `Content-Encoding` says.
fn decoded(h: &header::HeaderMap, body: &[u8]) -> Vec<u8> {
    match header_of(h, "content-encoding") {
        "" => body.to_vec(),
        "gzip" => gunzip(body),
        "br" => unbrotli(body),
        other => panic!("unexpected content-encoding {other}"),
    }
}

/// Seat ids in the layout's order: sections, rows, seats, as listed.
fn layout_order(layout: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for section in layout["sections"].as_array().unwrap() {
        for row in section["rows"].as_array().unwrap() {
            for seat in row["seats"].as_array().unwrap() {
                ids.push(seat["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

/// Reads the compact form as README documents it: seat id → (state, version).
fn read_compact(body: &Value, order: &[String]) -> HashMap<String, (String, i64)> {
    let base = body["version_base"].as_i64().expect("version_base");
    let states = body["states"].as_str().expect("states");
    let versions = body["versions"].as_object().expect("versions");
    assert_eq!(states.len(), order.len(), "one character per seat");
    states
        .chars()
        .zip(order)
        .enumerate()
        .map(|(i, (c, id))| {
            let (state, offset) = match c {
                'A'..='Z' => ("available", c as i64 - 'A' as i64),
                'a'..='z' => ("held", c as i64 - 'a' as i64),
                '0'..='9' => ("sold", c as i64 - '0' as i64),
                other => panic!("{other:?} is not a seat state"),
            };
            let version = versions
                .get(&i.to_string())
                .map(|v| v.as_i64().unwrap())
                .unwrap_or(base + offset);
            (id.clone(), (state.to_owned(), version))
        })
        .collect()
}

fn full_seats(body: &Value) -> HashMap<String, (String, i64)> {
    body["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                (
                    s["state"].as_str().unwrap().to_owned(),
                    s["version"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

fn row_label(r: usize) -> String {
    let letter = |i: usize| char::from(b'A' + i as u8);
    if r < 26 {
        letter(r).to_string()
    } else {
        format!("A{}", letter(r - 26))
    }
}

/// The benchmark's hall (crates/bench): 40 rows of 50, three price bands front to back.
async fn bench_hall_event(admin: &Buyer) -> String {
    const ROWS: usize = 40;
    const PER_ROW: usize = 50;
    let rows: Vec<Value> = (0..ROWS)
        .map(|r| {
            let label = row_label(r);
            let seats: Vec<Value> = (1..=PER_ROW)
                .map(|n| {
                    json!({"id": format!("{label}-{n}"), "label": n.to_string(),
                        "x": 10 + n * 12, "y": 60 + r * 14})
                })
                .collect();
            json!({"label": label, "seats": seats})
        })
        .collect();
    let layout = json!({
        "width": 30 + PER_ROW * 12, "height": 80 + ROWS * 14,
        "stage": {"x": 10, "y": 5, "width": PER_ROW * 12, "height": 30, "label": "Stage"},
        "sections": [{"id": "floor", "name": "Floor", "rows": rows}],
    });
    let r = admin
        .post_json(
            "/api/v1/admin/venues",
            &json!({"name": "Bench Arena", "layout": layout}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let venue: Value = r.json().await.unwrap();
    let mut seat_categories = Map::new();
    for r in 0..ROWS {
        let band = ["Front", "Middle", "Back", "Back"][r * 4 / ROWS];
        for n in 1..=PER_ROW {
            seat_categories.insert(format!("{}-{n}", row_label(r)), band.into());
        }
    }
    let rfc = |d: Duration| (OffsetDateTime::now_utc() + d).format(&Rfc3339).unwrap();
    let r = admin
        .post_json(
            "/api/v1/admin/events",
            &json!({
                "venue_id": venue["venue"]["id"], "name": "Bench: map bytes",
                "starts_at": rfc(Duration::days(30)), "sale_opens_at": rfc(Duration::hours(-1)),
                "categories": [
                    {"name": "Front", "price_cents": 9000},
                    {"name": "Middle", "price_cents": 6000},
                    {"name": "Back", "price_cents": 3500},
                ],
                "seat_categories": seat_categories,
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let event: Value = r.json().await.unwrap();
    event["event"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_event_names_its_layout_url_which_serves_the_same_layout_and_prices_immutably() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let event = app.event().await;
    let url = event["layout_url"].as_str().expect("layout_url");
    let hash = url
        .strip_prefix(&format!("/api/v1/events/{id}/layout/"))
        .unwrap_or_else(|| panic!("{url} is the event's layout URL"));
    assert!(
        hash.len() >= 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{hash}"
    );

    let (status, h, body) = fetch(&app, url, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_of(&h, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header_of(&h, "etag"),
        format!("\"{hash}\""),
        "a strong ETag: the hash"
    );
    assert_eq!(header_of(&h, "content-type"), "application/json");
    assert_eq!(
        header_of(&h, "content-encoding"),
        "",
        "identity without Accept-Encoding"
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["event_id"], id);
    assert_eq!(doc["layout"], event["layout"]);
    assert_eq!(doc["categories"], event["categories"]);

    // Without the inline layout, the event is everything else unchanged.
    let lean = app
        .get_json(&format!("/api/v1/events/{id}?layout=url"))
        .await["event"]
        .clone();
    assert!(lean.get("layout").is_none(), "{lean}");
    let mut full = event.clone();
    full.as_object_mut().unwrap().remove("layout");
    assert_eq!(lean, full);
    let r = app
        .get(&format!("/api/v1/events/{id}?layout=sideways"))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_layout_option").await;
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_and_a_wrong_hash_is_404() {
    let app = TestApp::spawn().await;
    let url = app.event().await["layout_url"].as_str().unwrap().to_owned();
    let (_, h, _) = fetch(&app, &url, &[], None).await;
    let etag = header_of(&h, "etag").to_owned();
    for sent in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
    ] {
        let (status, h, body) = fetch(&app, &url, &[("if-none-match", &sent)], None).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "If-None-Match: {sent}");
        assert!(body.is_empty());
        assert_eq!(header_of(&h, "etag"), etag);
        assert_eq!(
            header_of(&h, "cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
    let (status, _, _) = fetch(&app, &url, &[("if-none-match", "\"something-else\"")], None).await;
    assert_eq!(status, StatusCode::OK);

    let id = app.event_id().await;
    for wrong in [
        format!("/api/v1/events/{id}/layout/0000000000000000"),
        format!(
            "/api/v1/events/no-such-event/layout/{}",
            url.rsplit('/').next().unwrap()
        ),
    ] {
        let r = app.get(&wrong).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn gzip_and_brotli_are_chosen_by_accept_encoding_and_decode_to_the_same_json() {
    let app = TestApp::spawn().await;
    let url = app.event().await["layout_url"].as_str().unwrap().to_owned();
    let (_, _, identity) = fetch(&app, &url, &[("accept-encoding", "identity")], None).await;
    let id = app.event_id().await;
    let seats = format!("/api/v1/events/{id}/seats?format=compact");
    for path in [url.as_str(), seats.as_str()] {
        let (_, _, plain) = fetch(&app, path, &[], None).await;
        for (accept, expected) in [
            (BROWSER_ENCODINGS, "br"),
            ("gzip", "gzip"),
            ("br;q=0.4, gzip;q=0.8", "gzip"),
            ("gzip;q=0.2, br", "br"),
            ("br;q=0, gzip;q=0", ""),
            ("deflate", ""),
            ("*", "br"),
        ] {
            let (status, h, body) = fetch(&app, path, &[("accept-encoding", accept)], None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                header_of(&h, "content-encoding"),
                expected,
                "{path}: {accept}"
            );
            assert_eq!(header_of(&h, "vary"), "accept-encoding");
            assert_eq!(decoded(&h, &body), plain, "{path}: {accept}");
            if !expected.is_empty() {
                assert!(
                    body.len() * 3 < plain.len(),
                    "{path}: {accept}: {}",
                    body.len()
                );
            }
        }
    }
    assert!(serde_json::from_slice::<Value>(&identity).is_ok());
}

#[tokio::test]
async fn the_compact_snapshot_matches_the_full_seats_answer_seat_by_seat() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let buyer = app.register_and_login().await;
    buyer.buy(&["A-1", "A-2"]).await;
    let hold = buyer.hold_ok(&["C-5"]).await;
    buyer.release(hold["id"].as_str().unwrap()).await;
    buyer.hold_ok(&["P-32", "H-8"]).await;

    let url = app.event().await["layout_url"].as_str().unwrap().to_owned();
    let layout: Value = serde_json::from_slice(&fetch(&app, &url, &[], None).await.2).unwrap();
    let order = layout_order(&layout["layout"]);
    let (status, h, body) = fetch(
        &app,
        &format!("/api/v1/events/{id}/seats?format=compact"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&h, "cache-control"), "no-cache");
    let compact: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(compact["event_id"], id);
    assert_eq!(compact["format"], "compact");
    assert_eq!(compact["layout_hash"], url.rsplit('/').next().unwrap());
    let full = full_seats(&app.get_json(&format!("/api/v1/events/{id}/seats")).await);
    let read = read_compact(&compact, &order);
    assert_eq!(read, full);
    assert_eq!(read["A-1"].0, "sold");
    assert_eq!(read["C-5"], ("available".to_owned(), full["C-5"].1));
    assert!(
        read["C-5"].1 > read["C-6"].1,
        "a released seat keeps its newer version"
    );
    assert_eq!(read["P-32"].0, "held");

    // The same version of the map has the same tag; a change makes a new one.
    let etag = header_of(&h, "etag").to_owned();
    let (status, _, _) = fetch(
        &app,
        &format!("/api/v1/events/{id}/seats?format=compact"),
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    app.register_and_login().await.hold_ok(&["D-1"]).await;
    let (status, h, _) = fetch(
        &app,
        &format!("/api/v1/events/{id}/seats?format=compact"),
        &[("if-none-match", &etag)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(header_of(&h, "etag"), etag);

    let r = app
        .get(&format!("/api/v1/events/{id}/seats?format=tiny"))
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_format").await;
}

/// `…/seats/mine` as this buyer sees it: (id, state, mine), sorted.
async fn mine(buyer: &Buyer, event_id: &str) -> Vec<(String, String, bool)> {
    let r = buyer
        .get(&format!("/api/v1/events/{event_id}/seats/mine"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["event_id"], event_id);
    let mut seats: Vec<(String, String, bool)> = body["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
                s["mine"] == true,
            )
        })
        .collect();
    seats.sort();
    seats
}

#[tokio::test]
async fn every_caller_gets_the_same_compact_bytes_and_their_own_seats_apart() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let (alice, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    alice.hold_ok(&["B-3", "B-4"]).await;
    bob.buy(&["K-9"]).await;
    let compact = format!("/api/v1/events/{id}/seats?format=compact");
    let (_, _, anonymous) = fetch(&app, &compact, &[], None).await;
    let (_, _, as_alice) = fetch(&app, &compact, &[], Some(&alice.token)).await;
    let (_, _, as_bob) = fetch(&app, &compact, &[], Some(&bob.token)).await;
    assert_eq!(
        as_alice, anonymous,
        "nothing in the shared map is the caller's"
    );
    assert_eq!(as_bob, anonymous);

    assert_eq!(
        mine(&alice, &id).await,
        [
            ("B-3".into(), "held".into(), true),
            ("B-4".into(), "held".into(), true)
        ]
    );
    assert_eq!(mine(&bob, &id).await, [("K-9".into(), "sold".into(), true)]);
    let r = app.get(&format!("/api/v1/events/{id}/seats/mine")).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn compact_streams_send_the_shared_snapshot_then_the_callers_seats_then_changes() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let buyer = app.register_and_login().await;
    buyer.hold_ok(&["E-7"]).await;
    let (_, _, shared) = fetch(
        &app,
        &format!("/api/v1/events/{id}/seats?format=compact"),
        &[],
        None,
    )
    .await;
    let shared: Value = serde_json::from_slice(&shared).unwrap();

    let path = format!("/api/v1/events/{id}/stream?format=compact");
    let mut sse = SseReader::at(&app, &path, Some(&buyer.token)).await;
    let mut anonymous = SseReader::at(&app, &path, None).await;
    let ws_path = format!("/api/v1/events/{id}/ws?format=compact");
    let mut ws = WsReader::at(&app, &ws_path, Some(&buyer.token)).await;

    let (name, snapshot) = sse.next().await.expect("a snapshot");
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["type"], "snapshot");
    let mut expected = shared.clone();
    expected["type"] = json!("snapshot");
    assert_eq!(
        snapshot, expected,
        "the compact map as GET …/seats?format=compact has it"
    );
    let (name, mine) = sse.next().await.expect("the caller's seats");
    assert_eq!(name, "mine");
    assert_eq!(mine["seats"][0]["id"], "E-7");
    assert_eq!(mine["seats"][0]["mine"], true);

    let ws_snapshot = ws.next_json().await;
    assert_eq!(ws_snapshot, expected);
    let ws_mine = ws.next_json().await;
    assert_eq!(
        (ws_mine["type"].as_str(), ws_mine["seats"][0]["id"].as_str()),
        (Some("mine"), Some("E-7"))
    );

    let (name, anon_snapshot) = anonymous.next().await.unwrap();
    assert_eq!((name.as_str(), &anon_snapshot), ("snapshot", &expected));

    buyer.hold_ok(&["E-8"]).await;
    let (_, change) = sse.until(crate::helpers::WAIT, |n, _| n == "seats").await;
    assert_eq!(change["changes"][0]["id"], "E-8");
    assert_eq!(
        change["changes"][0]["mine"], true,
        "changes mark the caller's seats as before"
    );
    let (name, _) = anonymous.next().await.unwrap();
    assert_eq!(name, "seats", "no mine frame for a caller without seats");
    let ws_change = ws.next_json().await;
    assert_eq!(
        (
            ws_change["type"].as_str(),
            ws_change["changes"][0]["id"].as_str()
        ),
        (Some("seats"), Some("E-8"))
    );
    ws.close().await;

    let r = SseReader::open(
        &app,
        &format!("/api/v1/events/{id}/stream?format=tiny"),
        None,
    )
    .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_format").await;
}

#[tokio::test]
async fn for_the_2000_seat_hall_the_layout_is_under_40_kb_and_the_snapshot_under_4_kb_on_the_wire()
{
    let (app, admin) = app_with_admin().await;
    let id = bench_hall_event(&admin).await;
    let mut buyer = app.register_and_login().await;
    buyer.event_id = id.clone();
    // A sale under way: some seats sold, some held.
    buyer.buy(&["A-1", "A-2", "B-10"]).await;
    buyer.hold_ok(&["AN-50"]).await;

    let browser = [("accept-encoding", BROWSER_ENCODINGS)];
    let (_, _, before_event) = fetch(&app, &format!("/api/v1/events/{id}"), &browser, None).await;
    let (_, _, before_seats) =
        fetch(&app, &format!("/api/v1/events/{id}/seats"), &browser, None).await;
    let (_, _, event) = fetch(
        &app,
        &format!("/api/v1/events/{id}?layout=url"),
        &browser,
        None,
    )
    .await;
    let event: Value = serde_json::from_slice(&event).unwrap();
    assert_eq!(event["event"]["seats_total"], 2000);
    let url = event["event"]["layout_url"].as_str().unwrap().to_owned();
    let (_, h, layout) = fetch(&app, &url, &browser, None).await;
    assert_eq!(header_of(&h, "content-encoding"), "br");
    let (_, _, layout_gzip) = fetch(&app, &url, &[("accept-encoding", "gzip")], None).await;
    let compact_path = format!("/api/v1/events/{id}/seats?format=compact");
    let (_, _, snapshot) = fetch(&app, &compact_path, &browser, None).await;
    let (_, _, snapshot_gzip) =
        fetch(&app, &compact_path, &[("accept-encoding", "gzip")], None).await;
    let (_, _, snapshot_plain) = fetch(&app, &compact_path, &[], None).await;
    let (_, _, lean_event) = fetch(
        &app,
        &format!("/api/v1/events/{id}?layout=url"),
        &browser,
        None,
    )
    .await;
    let mut sse = SseReader::at(
        &app,
        &format!("/api/v1/events/{id}/stream?format=compact"),
        None,
    )
    .await;
    let (_, frame) = sse.next().await.unwrap();
    let frame_bytes = frame.to_string().len();
    let mut full_sse = SseReader::at(&app, &format!("/api/v1/events/{id}/stream"), None).await;
    let (_, full_frame) = full_sse.next().await.unwrap();
    let full_frame_bytes = full_frame.to_string().len();

    // A buyer's page reads the event, the seats and the stream's snapshot.
    let before = before_event.len() + before_seats.len() + full_frame_bytes;
    let after_first = lean_event.len() + layout.len() + snapshot.len() + frame_bytes;
    let after_again = lean_event.len() + snapshot.len() + frame_bytes;
    eprintln!(
        "2,000-seat hall on the wire: event {} + seats {} + stream snapshot {full_frame_bytes} = {before} bytes before; \
         event?layout=url {} + layout br {} (gzip {}, identity {}) + compact br {} (gzip {}, identity {}) \
         + compact stream snapshot {frame_bytes} = {after_first} bytes on a first visit, {after_again} on a second",
        before_event.len(),
        before_seats.len(),
        lean_event.len(),
        layout.len(),
        layout_gzip.len(),
        unbrotli(&layout).len(),
        snapshot.len(),
        snapshot_gzip.len(),
        snapshot_plain.len(),
    );
    assert!(layout.len() <= 40 * 1024 && layout_gzip.len() <= 40 * 1024);
    assert!(snapshot.len() <= 4 * 1024 && snapshot_gzip.len() <= 4 * 1024);
    assert!(
        frame_bytes <= 4 * 1024,
        "even the uncompressed stream frame: {frame_bytes}"
    );
    assert!(before >= 10 * after_first, "{before} vs {after_first}");
}
