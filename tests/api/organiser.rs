//! The organiser's reads of a sale: finding orders by e-mail, order id or seat, an order with its
//! buyer, the orders and attendees of an event as CSV, and the people who run the sale.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin::{ADMIN, app_with_admin},
    helpers::{Buyer, PASSWORD, SseReader, TestApp, WAIT, assert_error, plain_client},
};

async fn search(admin: &Buyer, query: &[(&str, &str)]) -> Vec<Value> {
    let r = admin
        .client
        .get(admin.url("/api/v1/admin/orders"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["orders"].as_array().unwrap().clone()
}

fn ids(orders: &[Value]) -> Vec<&str> {
    orders.iter().map(|o| o["id"].as_str().unwrap()).collect()
}

async fn named_buyer(app: &TestApp, email: &str, name: &str) -> Buyer {
    let r = app.register(email, PASSWORD, name).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    app.sign_in(email, PASSWORD).await
}

fn csv_rows(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test]
async fn an_admin_finds_orders_by_email_order_id_or_seat_newest_first() {
    let (app, admin) = app_with_admin().await;
    let alice = named_buyer(&app, "alice.smith@example.com", "Alice").await;
    let bob = named_buyer(&app, "bob@example.com", "Bob").await;
    let a1 = alice.buy(&["A-1"]).await;
    let a2 = alice.buy(&["B-3", "B-4"]).await;
    let b1 = bob.buy(&["C-7"]).await;
    let id = |o: &Value| o["id"].as_str().unwrap().to_owned();

    let found = search(&admin, &[("q", "Alice.S")]).await;
    assert_eq!(ids(&found), [id(&a2), id(&a1)], "by e-mail, newest first");
    assert_eq!(found[0]["buyer"]["email"], "alice.smith@example.com");
    assert_eq!(found[0]["seat_ids"], json!(["B-3", "B-4"]));
    assert_eq!(ids(&search(&admin, &[("q", &id(&b1))]).await), [id(&b1)]);
    assert_eq!(
        ids(&search(&admin, &[("q", " B-4 ")]).await),
        [id(&a2)],
        "by seat"
    );
    assert!(
        search(&admin, &[("q", "%")]).await.is_empty(),
        "no wildcards"
    );
    assert_eq!(
        search(&admin, &[("q", "")]).await.len(),
        3,
        "the newest orders"
    );
    let event_id = app.event_id().await;
    assert_eq!(
        search(&admin, &[("q", "alice"), ("event_id", &event_id)])
            .await
            .len(),
        2
    );
    assert!(
        search(&admin, &[("q", "alice"), ("event_id", "other")])
            .await
            .is_empty()
    );

    let r = admin
        .get(&format!("/api/v1/admin/orders/{}", id(&b1)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["order"]["buyer"]["name"], "Bob");
    assert_eq!(shown["order"]["tickets"].as_array().unwrap().len(), 1);
    let r = admin.get("/api/v1/admin/orders/unknown").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn only_an_admin_searches_orders_exports_them_and_lists_the_people() {
    let (app, _admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["A-2"]).await;
    let event_id = app.event_id().await;
    let anonymous = plain_client();
    for path in [
        "/api/v1/admin/orders?q=a".to_owned(),
        format!("/api/v1/admin/orders/{}", order["id"].as_str().unwrap()),
        format!("/api/v1/admin/events/{event_id}/orders.csv"),
        format!("/api/v1/admin/events/{event_id}/attendees.csv"),
        "/api/v1/admin/users".to_owned(),
    ] {
        let r = anonymous.get(app.url(&path)).send().await.unwrap();
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let r = buyer.get(&path).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn the_exports_list_every_order_and_ticket_quoted_as_csv_with_refunds_marked() {
    let (app, admin) = app_with_admin().await;
    let buyer = named_buyer(&app, "quote@example.com", "O'Brien, \"Jo\"").await;
    let order = buyer.buy(&["D-1", "D-2"]).await;
    let other = app.register_and_login().await;
    other.buy(&["E-5"]).await;
    let refund_ticket = order["tickets"][0]["id"].as_str().unwrap();
    let r = admin
        .post_json(
            &format!(
                "/api/v1/admin/orders/{}/refund",
                order["id"].as_str().unwrap()
            ),
            &json!({"ticket_ids": [refund_ticket]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let event_id = app.event_id().await;

    let r = admin
        .get(&format!("/api/v1/admin/events/{event_id}/orders.csv"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("\"O'Brien, \"\"Jo\"\"\""),
        "a name with a comma and quotes is quoted: {text}"
    );
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2);
    let row = rows
        .iter()
        .find(|r| &r[0] == order["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(&row[2], "partially_refunded");
    assert_eq!(&row[3], "quote@example.com");
    assert_eq!(&row[4], "O'Brien, \"Jo\"");
    assert_eq!(&row[6], "2");
    assert_eq!(&row[7], "1");
    let price = order["tickets"][0]["price_cents"]
        .as_i64()
        .unwrap_or_else(|| order["total_cents"].as_i64().unwrap() / 2);
    assert_eq!(row[9].parse::<i64>().unwrap(), price);

    let r = admin
        .get(&format!("/api/v1/admin/events/{event_id}/attendees.csv"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rows = csv_rows(&r.text().await.unwrap());
    assert_eq!(rows.len(), 3, "one line a ticket");
    let refunded = rows.iter().find(|r| &r[0] == refund_ticket).unwrap();
    assert_eq!(&refunded[6], "refunded");
    assert_eq!(&refunded[4], "O'Brien, \"Jo\"");
    assert!(
        refunded[3].contains("seat"),
        "the seat as printed: {refunded:?}"
    );
    assert_eq!(rows.iter().filter(|r| &r[6] == "valid").count(), 2);

    let r = admin.get("/api/v1/admin/events/unknown/orders.csv").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

async fn people(admin: &Buyer) -> Vec<(String, String)> {
    let body: Value = admin.get("/api/v1/admin/users").await.json().await.unwrap();
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let field = |k: &str| u[k].as_str().unwrap().to_owned();
            (field("email"), field("role"))
        })
        .collect()
}

async fn set_role(admin: &Buyer, email: &str, role: &str) -> StatusCode {
    admin
        .client
        .put(admin.url("/api/v1/admin/users/role"))
        .json(&json!({"email": email, "role": role}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_people_list_shows_staff_and_admins_as_roles_change() {
    let (app, admin) = app_with_admin().await;
    let door = app.register_and_login().await;
    assert_eq!(
        people(&admin).await,
        [(ADMIN.to_owned(), "admin".to_owned())]
    );
    assert_eq!(set_role(&admin, &door.email, "staff").await, StatusCode::OK);
    let listed = people(&admin).await;
    assert!(
        listed.contains(&(door.email.clone(), "staff".to_owned())),
        "{listed:?}"
    );
    assert_eq!(set_role(&admin, &door.email, "buyer").await, StatusCode::OK);
    assert_eq!(people(&admin).await.len(), 1);
}

#[tokio::test]
async fn the_dashboard_stream_sends_an_admin_the_sales_figures_as_seats_sell_and_are_refunded() {
    let (app, admin) = app_with_admin().await;
    let event_id = app.event_id().await;
    let path = format!("/api/v1/events/{event_id}/stream?sales=1");
    let r = SseReader::open(&app, &path, None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let buyer = app.register_and_login().await;
    let r = SseReader::open(&app, &path, Some(&buyer.token)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    let mut dashboard = SseReader::at(&app, &path, Some(&admin.token)).await;
    let (_, first) = dashboard.until(WAIT, |name, _| name == "sales").await;
    assert_eq!(first["type"], "sales");
    assert_eq!(first["seats_total"], 512);
    assert_eq!(first["sold"], 0);
    assert_eq!(first["revenue_cents"], 0);
    assert_eq!(first["currency"], "EUR");
    assert!(first["queue_length"].is_null(), "no waiting room");

    let order = buyer.buy(&["A-1", "L-1"]).await;
    let total = order["total_cents"].as_i64().unwrap();
    let (_, sold) = dashboard
        .until(WAIT, |name, data| name == "sales" && data["sold"] == 2)
        .await;
    assert_eq!(sold["revenue_cents"], total);
    assert_eq!(sold["available"], 510);
    assert_eq!(sold["held"], 0);
    assert!(sold["holds_seen"].as_u64().unwrap() > first["holds_seen"].as_u64().unwrap());
    assert_eq!(
        sold["sales_seen"].as_u64().unwrap(),
        first["sales_seen"].as_u64().unwrap() + 1,
        "one order"
    );

    let ticket = order["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["seat_id"] == "L-1")
        .unwrap()["id"]
        .clone();
    let r = admin
        .post_json(
            &format!(
                "/api/v1/admin/orders/{}/refund",
                order["id"].as_str().unwrap()
            ),
            &json!({ "ticket_ids": [ticket] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, refunded) = dashboard
        .until(WAIT, |name, data| name == "sales" && data["sold"] == 1)
        .await;
    let prices = app.prices().await;
    assert_eq!(refunded["revenue_cents"], prices["A-1"]);
    // The same figure as the database's report.
    let report: Value = admin
        .get(&format!("/api/v1/admin/events/{event_id}/sales"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["revenue_cents"], refunded["revenue_cents"]);
}
