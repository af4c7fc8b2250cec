//! Administration and the door: refunds (whole or some tickets), the sales report, roles, and
//! checking tickets in.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Buyer, PASSWORD, TestApp, WAIT, assert_error};

pub(crate) const ADMIN: &str = "admin@boxoffice.test";

/// An application whose admin account is signed in.
pub(crate) async fn app_with_admin() -> (TestApp, Buyer) {
    let app =
        TestApp::spawn_with(|s| s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()))).await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    (app, admin)
}

pub(crate) async fn refund(
    admin: &Buyer,
    order_id: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = admin
        .client
        .post(admin.url(&format!("/api/v1/admin/orders/{order_id}/refund")));
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    request.send().await.expect("refund")
}

async fn sales(admin: &Buyer) -> Value {
    let r = admin
        .get(&format!("/api/v1/admin/events/{}/sales", admin.event_id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub(crate) async fn set_role(admin: &Buyer, email: &str, role: &str) -> reqwest::Response {
    admin
        .client
        .put(admin.url("/api/v1/admin/users/role"))
        .json(&json!({"email": email, "role": role}))
        .send()
        .await
        .expect("set role")
}

async fn scan(staff: &Buyer, code: &str) -> reqwest::Response {
    staff
        .post_json("/api/v1/checkin", &json!({ "code": code }))
        .await
}

fn ticket_ids(order: &Value) -> Vec<String> {
    order["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_refund_returns_the_money_frees_the_seats_and_voids_the_tickets() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["A-1", "A-2"]).await;
    let order_id = order["id"].as_str().unwrap();
    let total = order["total_cents"].as_i64().unwrap();
    assert_eq!(sales(&admin).await["revenue_cents"], total);

    let r = refund(&admin, order_id, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["order"]["status"], "refunded");
    for t in body["order"]["tickets"].as_array().unwrap() {
        assert_eq!(t["status"], "refunded");
    }
    assert_eq!(app.seat_state("A-1").await, "available");
    assert_eq!(app.seat_state("A-2").await, "available");
    let report = sales(&admin).await;
    assert_eq!(
        (report["sold"].as_u64(), report["revenue_cents"].as_i64()),
        (Some(0), Some(0))
    );
    // One refund entry; its amount is proven by the audit below (charges minus refunds must
    // equal the valid tickets' prices once the seats have sold again).
    let refunds = app
        .count(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'refund' AND order_id = ?",
            &[order_id],
        )
        .await;
    assert_eq!(refunds, 1);
    // The buyer sees the refund too, and the seats sell again to someone else.
    let mine: Value = buyer
        .get(&format!("/api/v1/orders/{order_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["order"]["status"], "refunded");
    let other = app.register_and_login().await;
    other.buy(&["A-1", "A-2"]).await;
    assert_eq!(sales(&admin).await["revenue_cents"], total);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_partial_refund_refunds_only_the_named_tickets_and_the_rest_stay_valid() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["B-1", "B-2", "B-3"]).await;
    let order_id = order["id"].as_str().unwrap();
    let tickets = order["tickets"].as_array().unwrap().clone();
    let first = tickets[0]["id"].as_str().unwrap();
    let first_seat = tickets[0]["seat_id"].as_str().unwrap();
    let first_price = tickets[0]["price_cents"].as_i64().unwrap();

    let r = refund(&admin, order_id, Some(json!({ "ticket_ids": [first] }))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["order"]["status"], "partially_refunded");
    let statuses: Vec<&str> = body["order"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            if t["id"] == first {
                t["status"].as_str().unwrap()
            } else {
                "other"
            }
        })
        .collect();
    assert!(statuses.contains(&"refunded"));
    assert_eq!(app.seat_state(first_seat).await, "available");
    let others: Vec<&str> = tickets[1..]
        .iter()
        .map(|t| t["seat_id"].as_str().unwrap())
        .collect();
    for seat in &others {
        assert_eq!(app.seat_state(seat).await, "sold");
    }
    let total = order["total_cents"].as_i64().unwrap();
    assert_eq!(sales(&admin).await["revenue_cents"], total - first_price);
    app.assert_audit_ok().await;

    // The same ticket twice: refused, and nothing moves.
    let r = refund(&admin, order_id, Some(json!({ "ticket_ids": [first] }))).await;
    let err = assert_error(r, StatusCode::CONFLICT, "ticket_already_refunded").await;
    assert_eq!(err["details"]["ticket_ids"], json!([first]));
    // The rest, then nothing left.
    let r = refund(&admin, order_id, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["order"]["status"], "refunded");
    let r = refund(&admin, order_id, None).await;
    assert_error(r, StatusCode::CONFLICT, "order_already_refunded").await;
    let refunds = app
        .count(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'refund' AND order_id = ?",
            &[order_id],
        )
        .await;
    assert_eq!(refunds, 2);
    assert_eq!(sales(&admin).await["revenue_cents"], 0);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn refunds_refuse_buyers_unknown_orders_and_foreign_tickets() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["C-1"]).await;
    let other = buyer.buy(&["C-2"]).await;
    let order_id = order["id"].as_str().unwrap();

    let r = refund(&buyer, order_id, None).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .post_json(
            &format!("/api/v1/admin/orders/{order_id}/refund"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = refund(&admin, "no-such-order", None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let foreign = ticket_ids(&other);
    let r = refund(&admin, order_id, Some(json!({ "ticket_ids": foreign }))).await;
    let err = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "ticket_not_in_order").await;
    assert_eq!(err["details"]["ticket_ids"], json!(foreign));
    let r = refund(&admin, order_id, Some(json!({ "ticket_ids": [] }))).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_ticket_ids").await;
    let r = admin
        .client
        .post(admin.url(&format!("/api/v1/admin/orders/{order_id}/refund")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // None of that changed anything.
    assert_eq!(app.seat_state("C-1").await, "sold");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn admins_racing_to_refund_one_order_send_the_money_back_once() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["D-1", "D-2"]).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let attempts = (0..8).map(|_| {
        let admin = &admin;
        let order_id = order_id.clone();
        async move { refund(admin, &order_id, None).await.status() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK
            || *s == StatusCode::CONFLICT
            || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    let refunds = app
        .count(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'refund' AND order_id = ?",
            &[&order_id],
        )
        .await;
    assert_eq!(refunds, 1);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_live_map_sees_refunded_seats_return_to_sale() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["E-5"]).await;
    let mut feed = app.sse().await;
    let (_, snapshot) = feed.until(WAIT, |name, _| name == "snapshot").await;
    let sold = snapshot["seats"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "E-5" && s["state"] == "sold");
    assert!(sold, "the snapshot shows the seat sold");
    let r = refund(&admin, order["id"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    feed.until(WAIT, |name, data| {
        name == "seats"
            && data["changes"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|s| s["id"] == "E-5" && s["state"] == "available")
            })
    })
    .await;
}

#[tokio::test]
async fn the_sales_report_counts_seats_by_state_and_revenue() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["F-1", "F-2"]).await;
    buyer.hold_ok(&["F-3"]).await;
    let report = sales(&admin).await;
    assert_eq!(report["seats_total"], 512);
    assert_eq!(report["sold"], 2);
    assert_eq!(report["held"], 1);
    assert_eq!(report["available"], 509);
    assert_eq!(report["revenue_cents"], order["total_cents"]);
    assert_eq!(report["currency"], "EUR");

    let r = buyer
        .get(&format!("/api/v1/admin/events/{}/sales", buyer.event_id))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = admin.get("/api/v1/admin/events/nope/sales").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn only_an_admin_gives_roles_and_only_to_existing_accounts() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let r = set_role(&buyer, &buyer.email, "admin").await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = set_role(&admin, "nobody@example.com", "staff").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = set_role(&admin, &buyer.email, "emperor").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_role").await;
    let r = set_role(&admin, &buyer.email.to_uppercase(), "staff").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "staff");
    let me: Value = buyer.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["user"]["role"], "staff");
}

#[tokio::test]
async fn a_ticket_gets_in_once_and_forged_refunded_or_unknown_codes_never() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = app.register_and_login().await;
    assert_eq!(
        set_role(&admin, &staff.email, "staff").await.status(),
        StatusCode::OK
    );
    let order = buyer.buy(&["G-7", "G-8"]).await;
    let tickets = order["tickets"].as_array().unwrap();
    let code = tickets[0]["code"].as_str().unwrap();

    // Buyers and strangers cannot scan.
    assert_error(scan(&buyer, code).await, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app
        .post_json("/api/v1/checkin", &json!({ "code": code }))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = scan(&staff, code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["first_scan"], true);
    assert_eq!(body["ticket"]["id"], tickets[0]["id"]);
    assert_eq!(body["ticket"]["seat_label"], "Stalls, row G, seat 7");
    let err = assert_error(
        scan(&staff, code).await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;
    assert!(err["details"]["checked_in_at"].is_string(), "{err}");
    // Admins may scan too; the code is the same ticket, so it stays refused.
    assert_error(
        scan(&admin, code).await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;

    // A forged signature, an unknown ticket id, and garbage.
    let (head, sig) = code.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    for bad in [
        forged.as_str(),
        "BO1.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAA",
        "hello",
        "",
    ] {
        assert_error(
            scan(&staff, bad).await,
            StatusCode::NOT_FOUND,
            "invalid_ticket",
        )
        .await;
    }
    // A refunded ticket's genuine code no longer gets in.
    let second = tickets[1]["code"].as_str().unwrap();
    let r = refund(
        &admin,
        order["id"].as_str().unwrap(),
        Some(json!({ "ticket_ids": [tickets[1]["id"]] })),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        scan(&staff, second).await,
        StatusCode::NOT_FOUND,
        "invalid_ticket",
    )
    .await;
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn two_gates_scanning_one_code_at_once_let_it_in_once() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["H-9"]).await;
    let code = order["tickets"][0]["code"].as_str().unwrap().to_owned();
    let scans = (0..10).map(|_| {
        let admin = &admin;
        let code = code.clone();
        async move { scan(admin, &code).await.status() }
    });
    let statuses = futures_util::future::join_all(scans).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );
    drop(app);
}
