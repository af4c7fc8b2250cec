//! A signed-in buyer of the test harness, and the readers of answers: the JSON error shape,
//! checkout bodies, lists and times.

use reqwest::{Client, Response, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use super::GOOD_CARD;

/// A signed-in buyer with their own cookie jar (requests go with the session cookie).
pub(crate) struct Buyer {
    pub client: Client,
    pub token: String,
    pub user_id: String,
    pub email: String,
    pub address: String,
    pub event_id: String,
}

impl Buyer {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub(crate) async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Tries to hold seats of the demo event.
    pub(crate) async fn hold(&self, seats: &[&str]) -> Response {
        self.post_json(
            &format!("/api/v1/events/{}/holds", self.event_id),
            &json!({ "seat_ids": seats }),
        )
        .await
    }

    /// Holds seats of the demo event, which must succeed; returns the `hold` object.
    pub(crate) async fn hold_ok(&self, seats: &[&str]) -> Value {
        let r = self.hold(seats).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "hold {seats:?}: {body}");
        body["hold"].clone()
    }

    pub(crate) async fn get_hold(&self, hold_id: &str) -> Response {
        self.get(&format!("/api/v1/holds/{hold_id}")).await
    }

    pub(crate) async fn release(&self, hold_id: &str) -> Response {
        self.delete(&format!("/api/v1/holds/{hold_id}")).await
    }

    pub(crate) async fn checkout(&self, hold_id: &str, key: &str, card: &str) -> Response {
        self.checkout_body(hold_id, Some(key), &checkout_body(card))
            .await
    }

    pub(crate) async fn checkout_body(
        &self,
        hold_id: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Response {
        let mut rb = self
            .client
            .post(self.url(&format!("/api/v1/holds/{hold_id}/checkout")))
            .json(body);
        if let Some(key) = key {
            rb = rb.header("Idempotency-Key", key);
        }
        rb.send().await.expect("checkout")
    }

    /// Holds the seats and pays with the good card; returns the `order` object.
    pub(crate) async fn buy(&self, seats: &[&str]) -> Value {
        let hold = self.hold_ok(seats).await;
        let r = self
            .checkout(
                hold["id"].as_str().unwrap(),
                &Uuid::new_v4().to_string(),
                GOOD_CARD,
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "checkout: {body}");
        body["order"].clone()
    }

    /// The `/seats` body as seen by this buyer.
    pub(crate) async fn seats(&self) -> Value {
        let r = self
            .get(&format!("/api/v1/events/{}/seats", self.event_id))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

pub(crate) fn checkout_body(card: &str) -> Value {
    json!({"payment": {"method": "sandbox", "card_number": card}})
}

/// Asserts the status and the documented error shape; returns the `error` object.
pub(crate) async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    let body = error_body(r).await;
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert_eq!(body["code"], code, "unexpected error code: {body}");
    body
}

/// Reads a response that must be a JSON error `{"error": {"code", "message", …}}`; returns the
/// `error` object.
pub(crate) async fn error_body(r: Response) -> Value {
    let status = r.status();
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{status}: the error is not JSON (content-type {ct:?}): {text:?}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: invalid JSON error body {text:?}: {e}"));
    let error = &body["error"];
    assert!(
        error["code"].as_str().is_some_and(
            |c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')
        ),
        "{status}: the error code is not snake_case: {body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{status}: the error has no message: {body}"
    );
    if let Some(d) = error.get("details") {
        assert!(d.is_object(), "{status}: details must be an object: {body}");
    }
    error.clone()
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn parse_time(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}
