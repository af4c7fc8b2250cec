//! The door: the event's public key for devices that check codes offline, check-in at gates with
//! counts per gate, and batches of scans made offline settled by the earliest scan.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin::{app_with_admin, refund, set_role},
    helpers::{Buyer, TestApp, assert_error},
};
use boxoffice_domain::time::Timestamp;

async fn staff_of(app: &TestApp, admin: &Buyer) -> Buyer {
    let staff = app.register_and_login().await;
    let r = set_role(admin, &staff.email, "staff").await;
    assert_eq!(r.status(), StatusCode::OK);
    staff
}

fn codes(order: &Value) -> Vec<String> {
    order["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn scan_at(staff: &Buyer, code: &str, gate: Option<&str>) -> reqwest::Response {
    let body = match gate {
        Some(gate) => json!({ "code": code, "gate": gate }),
        None => json!({ "code": code }),
    };
    staff.post_json("/api/v1/checkin", &body).await
}

async fn batch(staff: &Buyer, scans: Value) -> reqwest::Response {
    staff
        .post_json("/api/v1/checkin/batch", &json!({ "scans": scans }))
        .await
}

async fn batch_ok(staff: &Buyer, scans: Value) -> Vec<Value> {
    let r = batch(staff, scans).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

fn ago(secs: u64) -> String {
    Timestamp::now()
        .minus(Duration::from_secs(secs))
        .to_rfc3339()
}

async fn counts(staff: &Buyer) -> Value {
    let r = staff
        .get(&format!("/api/v1/events/{}/checkins", staff.event_id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// `{gate: checked_in}` of the counts.
fn per_gate(counts: &Value) -> Vec<(String, u64)> {
    counts["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["gate"].as_str().unwrap().to_owned(),
                g["checked_in"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn gates(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(g, n)| ((*g).to_owned(), *n)).collect()
}

#[tokio::test]
async fn the_door_key_is_for_staff_and_admins_and_verifies_the_events_codes_offline() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let path = format!("/api/v1/events/{}/door-key", buyer.event_id);

    assert_error(buyer.get(&path).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.get(&path).await.status(), StatusCode::UNAUTHORIZED);
    let r = staff.get("/api/v1/events/no-such-event/door-key").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let key: Value = staff.get(&path).await.json().await.unwrap();
    let by_admin: Value = admin.get(&path).await.json().await.unwrap();
    assert_eq!(key, by_admin, "every caller and instance sees one key");
    assert_eq!(key["algorithm"], "Ed25519");
    assert_eq!(key["event_id"], buyer.event_id.as_str());
    let raw: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public_key = VerifyingKey::from_bytes(&raw).unwrap();

    // What a device holding only the key checks: the signature over the code before its last dot.
    let order = buyer.buy(&["D-3"]).await;
    let ticket = &order["tickets"][0];
    let code = ticket["code"].as_str().unwrap();
    let expected = format!(
        "BO2.{}.{}.D-3.",
        ticket["id"].as_str().unwrap(),
        buyer.event_id
    );
    assert!(code.starts_with(&expected), "{code}");
    let verifies = |code: &str| {
        let (message, sig) = code.rsplit_once('.').unwrap();
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&sig) else {
            return false;
        };
        public_key.verify_strict(message.as_bytes(), &sig).is_ok()
    };
    assert!(verifies(code));
    let other_seat = code.replacen(".D-3.", ".D-4.", 1);
    assert!(!verifies(&other_seat));
    // The server refuses the altered code too.
    assert_error(
        scan_at(&staff, &other_seat, None).await,
        StatusCode::NOT_FOUND,
        "invalid_ticket",
    )
    .await;
}

#[tokio::test]
async fn check_ins_record_their_gate_and_are_counted_per_gate() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let order = buyer.buy(&["E-1", "E-2", "E-3", "E-4"]).await;
    let codes = codes(&order);

    let empty = counts(&staff).await;
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["tickets"], 4);
    assert!(per_gate(&empty).is_empty());

    for (code, gate) in [
        (&codes[0], Some("North")),
        (&codes[1], None),
        (&codes[2], Some(" North ")),
    ] {
        let r = scan_at(&staff, code, gate).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["first_scan"], true);
    }
    let err = assert_error(
        scan_at(&admin, &codes[0], Some("South")).await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;
    assert_eq!(err["details"]["gate"], "North", "{err}");
    assert!(err["details"]["checked_in_at"].is_string(), "{err}");
    for bad in ["", "a/b", "<b>", &"g".repeat(41)] {
        assert_error(
            scan_at(&staff, &codes[3], Some(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_gate",
        )
        .await;
    }

    let now = counts(&admin).await;
    assert_eq!(per_gate(&now), gates(&[("North", 2), ("main", 1)]));
    assert_eq!(
        (now["total"].as_u64(), now["tickets"].as_u64()),
        (Some(3), Some(4))
    );

    // Counts are staff's and admins', of events that exist.
    let path = format!("/api/v1/events/{}/checkins", buyer.event_id);
    assert_error(buyer.get(&path).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.get(&path).await.status(), StatusCode::UNAUTHORIZED);
    let r = staff.get("/api/v1/events/no-such-event/checkins").await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // A refunded ticket leaves the counts, checked in or not.
    let r = refund(
        &admin,
        order["id"].as_str().unwrap(),
        Some(json!({ "ticket_ids": [order["tickets"][0]["id"]] })),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = counts(&staff).await;
    assert_eq!(per_gate(&after), gates(&[("North", 1), ("main", 1)]));
    assert_eq!(
        (after["total"].as_u64(), after["tickets"].as_u64()),
        (Some(2), Some(3))
    );
}

#[tokio::test]
async fn offline_scans_are_settled_by_the_earliest_scan_and_an_earlier_online_scan_stays_first() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let order = buyer.buy(&["F-1", "F-2", "F-3", "F-4"]).await;
    let codes = codes(&order);
    // F-4 is refunded before its (offline) scans reach the server.
    let refunded = refund(
        &admin,
        order["id"].as_str().unwrap(),
        Some(json!({ "ticket_ids": [order["tickets"][3]["id"]] })),
    )
    .await;
    assert_eq!(refunded.status(), StatusCode::OK);

    // F-2 and F-3 are scanned online now.
    assert_eq!(
        scan_at(&staff, &codes[1], Some("West")).await.status(),
        StatusCode::OK
    );
    let (head, sig) = codes[0].rsplit_once('.').unwrap();
    let forged = format!(
        "{head}.{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let online_later = scan_at(&staff, &codes[2], Some("West")).await;
    assert_eq!(online_later.status(), StatusCode::OK);

    let scans = json!([
        // Two devices scanned F-1: the later scan is listed first.
        { "code": codes[0], "gate": "East", "scanned_at": ago(60) },
        { "code": codes[0], "gate": "North", "scanned_at": ago(600) },
        // F-2's online scan (just now) came after this one made ten minutes ago: this one wins.
        { "code": codes[1], "gate": "East", "scanned_at": ago(600) },
        // F-3 was scanned online just now; this offline scan is later still (the device's clock
        // is slightly ahead), so the online scan stays first.
        { "code": codes[2], "gate": "East", "scanned_at": Timestamp::now().plus(Duration::from_secs(30)).to_rfc3339() },
        { "code": codes[3], "gate": "East", "scanned_at": ago(120) },
        { "code": forged, "gate": "East", "scanned_at": ago(120) },
        { "code": "hello", "scanned_at": ago(120) },
    ]);
    let results = batch_ok(&staff, scans.clone()).await;
    let outcome = |r: &Value| {
        (
            r["result"].as_str().unwrap().to_owned(),
            r["gate"].as_str().map(str::to_owned),
        )
    };
    let got: Vec<_> = results.iter().map(outcome).collect();
    let want = |r: &str, g: Option<&str>| (r.to_owned(), g.map(str::to_owned));
    assert_eq!(
        got,
        vec![
            want("already_checked_in", Some("North")),
            want("checked_in", Some("North")),
            want("checked_in", Some("East")),
            want("already_checked_in", Some("West")),
            want("invalid_ticket", None),
            want("invalid_ticket", None),
            want("invalid_ticket", None),
        ],
        "{results:#?}"
    );
    assert_eq!(
        results
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    assert_eq!(results[1]["first_scan"], true);
    assert_eq!(results[1]["ticket"]["seat_label"], "Stalls, row F, seat 1");
    assert_eq!(results[0]["checked_in_at"], results[1]["checked_in_at"]);

    // Sending the batch again (its answer was lost) settles nothing new and answers the same.
    let again = batch_ok(&staff, scans).await;
    assert_eq!(again.iter().map(outcome).collect::<Vec<_>>(), got);

    // The counts follow the settlement: F-1 at North, F-2 moved to East, F-3 stays at West.
    let now = counts(&staff).await;
    assert_eq!(
        per_gate(&now),
        gates(&[("East", 1), ("North", 1), ("West", 1)])
    );
    assert_eq!(
        (now["total"].as_u64(), now["tickets"].as_u64()),
        (Some(3), Some(3))
    );
    // And an online scan now is refused with the settled first scan.
    let err = assert_error(
        scan_at(&staff, &codes[1], None).await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;
    assert_eq!(err["details"]["gate"], "East");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn an_offline_scan_racing_an_online_scan_of_the_same_ticket_is_first_whichever_lands_first() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let seats: Vec<String> = (1..=6).map(|n| format!("K-{n}")).collect();
    let seat_refs: Vec<&str> = seats.iter().map(String::as_str).collect();
    let codes = codes(&buyer.buy(&seat_refs).await);

    // Each ticket is scanned online at the same moment as a batch carrying its scan from a
    // minute ago arrives: the two requests race, and either may commit first.
    let races = codes.iter().map(|code| {
        let (staff, admin) = (&staff, &admin);
        async move {
            let scans = json!([{ "code": code, "gate": "Offline", "scanned_at": ago(60) }]);
            let (online, offline) =
                tokio::join!(scan_at(admin, code, Some("Online")), batch(staff, scans));
            let online = online.status();
            let offline: Value = offline.json().await.unwrap();
            (
                online,
                offline["results"][0]["result"].as_str().unwrap().to_owned(),
            )
        }
    });
    for (online, offline) in futures_util::future::join_all(races).await {
        assert!(
            online == StatusCode::OK || online == StatusCode::CONFLICT,
            "{online}"
        );
        assert_eq!(offline, "checked_in");
    }
    let now = counts(&staff).await;
    assert_eq!(per_gate(&now), gates(&[("Offline", 6)]));
}

#[tokio::test]
async fn batches_are_for_staff_and_refuse_malformed_scans_whole() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let code = codes(&buyer.buy(&["L-1"]).await).remove(0);
    let one = json!([{ "code": code, "scanned_at": ago(5) }]);

    assert_error(
        batch(&buyer, one.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app
        .post_json("/api/v1/checkin/batch", &json!({ "scans": one }))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_error(
        batch(&staff, json!([])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_scans",
    )
    .await;
    let many: Vec<Value> = (0..501)
        .map(|_| json!({ "code": code, "scanned_at": ago(5) }))
        .collect();
    let r = staff
        .post_json("/api/v1/checkin/batch", &json!({ "scans": many }))
        .await;
    // 501 scans may also be over the body limit; either way nothing is settled.
    assert!(
        matches!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE
        ),
        "{}",
        r.status()
    );
    let bad_time = json!([{ "code": code, "scanned_at": ago(5) }, { "code": code, "scanned_at": "yesterday" }]);
    let err = assert_error(
        batch(&staff, bad_time).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_scan",
    )
    .await;
    assert_eq!(err["details"]["index"], 1);
    let bad_gate = json!([{ "code": code, "gate": "", "scanned_at": ago(5) }]);
    assert_error(
        batch(&staff, bad_gate).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_scan",
    )
    .await;
    assert_eq!(
        counts(&staff).await["total"],
        0,
        "a refused batch settles nothing"
    );

    let results = batch_ok(&staff, one).await;
    assert_eq!(results[0]["result"], "checked_in");
}

/// A `BO1` code, as tickets were issued before codes were signed with Ed25519.
fn old_code(secret: &[u8], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    use hmac::{Hmac, Mac};
    type HmacSha256 = Hmac<sha2::Sha256>;
    let mut mac = HmacSha256::new_from_slice(secret).unwrap();
    mac.update(b"ticket-key:");
    mac.update(event_id.as_bytes());
    let key = mac.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&key).unwrap();
    for part in [ticket_id, event_id, seat_id] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    let tag = mac.finalize().into_bytes();
    format!("BO1.{ticket_id}.{}", URL_SAFE_NO_PAD.encode(&tag[..16]))
}

#[tokio::test]
async fn a_ticket_issued_with_an_old_hmac_code_still_gets_in_once() {
    let (app, admin) = app_with_admin().await;
    let buyer = app.register_and_login().await;
    let staff = staff_of(&app, &admin).await;
    let order = buyer.buy(&["M-1", "M-2"]).await;
    let secret = app
        .text("SELECT value FROM settings WHERE key = 'secret'", &[])
        .await;
    let mut old = Vec::new();
    for t in order["tickets"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let code = old_code(
            secret.as_bytes(),
            id,
            &buyer.event_id,
            t["seat_id"].as_str().unwrap(),
        );
        app.scalars::<String>("UPDATE tickets SET code = ? WHERE id = ?", &[&code, id])
            .await;
        old.push(code);
    }
    let mine: Value = buyer
        .get(&format!("/api/v1/orders/{}", order["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mine["order"]["tickets"][0]["code"],
        old[0].as_str(),
        "the ticket now carries its old code"
    );

    let r = scan_at(&staff, &old[0], Some("North")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        scan_at(&staff, &old[0], None).await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;
    let (head, sig) = old[1].rsplit_once('.').unwrap();
    let forged = format!(
        "{head}.{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    assert_error(
        scan_at(&staff, &forged, None).await,
        StatusCode::NOT_FOUND,
        "invalid_ticket",
    )
    .await;
    // Old codes settle offline scans on the server too.
    let results = batch_ok(
        &staff,
        json!([
            { "code": old[0], "gate": "East", "scanned_at": ago(3600) },
            { "code": old[1], "gate": "East", "scanned_at": ago(30) },
            { "code": forged, "gate": "East", "scanned_at": ago(30) },
        ]),
    )
    .await;
    let got: Vec<&str> = results
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["checked_in", "checked_in", "invalid_ticket"]);
    assert_eq!(per_gate(&counts(&staff).await), gates(&[("East", 2)]));
}
