//! Arbitrary Unicode in every text field, path segment and query of every route: whatever comes
//! in, the answer is never a server error.

use proptest::{
    prelude::*,
    strategy::{Strategy, ValueTree},
    test_runner::{Config, TestRunner},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin::app_with_admin, helpers::Buyer};

/// Any string at all, and strings made mostly of what tends to break things: control and
/// format characters, quotes, separators, and text that looks like an e-mail or a seat.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}\\u{feff}'\"\\\\/%a-z@.-]{0,24}",
        "\\PC{0,40}",
        // Always one character the server must refuse, somewhere in ordinary text.
        ("\\PC{0,12}", prop::sample::select(REFUSED), "\\PC{0,12}")
            .prop_map(|(a, c, b)| format!("{a}{c}{b}")),
    ]
}

const REFUSED: &[char] = &[
    '\0', '\u{1}', '\n', '\u{7f}', '\u{85}', '\u{200b}', '\u{200d}', '\u{202e}', '\u{2066}',
    '\u{feff}',
];

/// Every route that reads text from its caller, with the text put in each of its fields.
fn requests(s: &str, event_id: &str, ticket_id: &str) -> Vec<(Method, String, Option<Value>)> {
    let seg = urlencode(s);
    // The text inside an otherwise valid address, so that it gets past the e-mail's shape to
    // wherever it would go next (PostgreSQL, for one, cannot store a NUL).
    let email = format!("f{}@example.com", s.replace(char::is_whitespace, ""));
    vec![
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            Some(json!({"email": email, "password": "long enough password", "name": "N"})),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            Some(json!({"email": email, "password": "long enough password"})),
        ),
        (
            Method::PUT,
            "/api/v1/admin/users/role".into(),
            Some(json!({"email": email, "role": "staff"})),
        ),
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            Some(json!({"email": s, "password": "long enough password", "name": "N"})),
        ),
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            Some(
                json!({"email": format!("{}@example.com", uuid::Uuid::new_v4().simple()), "password": s, "name": s}),
            ),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            Some(json!({"email": s, "password": s})),
        ),
        (Method::GET, format!("/api/v1/events/{seg}"), None),
        (Method::GET, format!("/api/v1/events/{seg}/seats"), None),
        (
            Method::POST,
            format!("/api/v1/events/{event_id}/holds"),
            Some(json!({"seat_ids": [s]})),
        ),
        (
            Method::POST,
            format!("/api/v1/events/{seg}/holds"),
            Some(json!({"seat_ids": ["A-1"]})),
        ),
        (Method::GET, format!("/api/v1/holds/{seg}"), None),
        (Method::DELETE, format!("/api/v1/holds/{seg}"), None),
        (
            Method::POST,
            format!("/api/v1/holds/{seg}/checkout"),
            Some(json!({"payment": {"method": s, "card_number": s}})),
        ),
        (Method::GET, format!("/api/v1/orders/{seg}"), None),
        (Method::GET, format!("/api/v1/tickets/{seg}"), None),
        (Method::GET, format!("/api/v1/tickets/{seg}/qr.svg"), None),
        (Method::GET, format!("/api/v1/payments/{seg}"), None),
        (
            Method::POST,
            "/api/v1/checkin".into(),
            Some(json!({"code": s})),
        ),
        (
            Method::POST,
            "/api/v1/checkin".into(),
            Some(json!({"code": format!("{ticket_id}.{s}")})),
        ),
        (
            Method::PUT,
            "/api/v1/admin/users/role".into(),
            Some(json!({"email": s, "role": s})),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/orders/{seg}/refund"),
            Some(json!({"ticket_ids": [s]})),
        ),
        (
            Method::GET,
            format!("/api/v1/admin/events/{seg}/sales"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/admin/venues".into(),
            Some(json!({"name": s, "layout": {
            "stage": {"x": 0, "y": 0, "width": 10, "height": 5},
            "sections": [{"id": s, "name": s, "rows": [{"label": s, "seats": [{"id": s, "label": s, "x": 1, "y": 1}]}]}]}})),
        ),
        (
            Method::POST,
            "/api/v1/admin/events".into(),
            Some(json!({"venue_id": s, "name": s,
            "starts_at": s, "sale_opens_at": s,
            "categories": [{"name": s, "price_cents": 100, "currency": s}],
            "seat_categories": {s: s}})),
        ),
        (Method::GET, format!("/readyz?optional={seg}"), None),
    ]
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn arbitrary_unicode_in_any_field_of_any_route_is_never_a_server_error() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["P-1"]).await;
    let ticket_id = order["tickets"][0]["id"].as_str().unwrap().to_owned();
    let event_id = app.event_id().await;
    let mut runner = TestRunner::new(Config {
        cases: 32,
        ..Config::default()
    });
    let strategy = text();
    for _ in 0..runner.config().cases {
        let s = strategy.new_tree(&mut runner).unwrap().current();
        for (method, path, body) in requests(&s, &event_id, &ticket_id) {
            for caller in [&admin, &buyer] {
                let status = send(caller, method.clone(), &path, body.as_ref()).await;
                assert!(
                    status.as_u16() < 500,
                    "{method} {path} with {s:?} ({body:?}) answered {status}"
                );
            }
            let mut anonymous = app.api.request(method.clone(), app.url(&path));
            if let Some(body) = &body {
                anonymous = anonymous.json(body);
            }
            let status = anonymous.send().await.unwrap().status();
            assert!(
                status.as_u16() < 500,
                "{method} {path} with {s:?} signed out: {status}"
            );
        }
    }
}

async fn send(caller: &Buyer, method: Method, path: &str, body: Option<&Value>) -> StatusCode {
    let mut request = caller
        .client
        .request(method, caller.url(path))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap().status()
}
