//! E-mail to buyers, against a real SMTP server of the test's own (aiosmtpd, see
//! `boxoffice_testkit::smtp`): the confirmation with the tickets, the refund notices (an
//! admin's, and a late payment's given back automatically), delivery
//! once each when the mail server was down and comes back (also with two instances sharing the
//! database), a checkout that never waits for the mail server, and nothing queued with e-mail off.
//! The leases themselves are tested in `mail/leases.rs`.

mod leases;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin::ADMIN,
    helpers::{Buyer, PASSWORD, TestApp},
    payments::{confirming_checkout, settled},
};
use boxoffice_app::mail::MailConfig;
use boxoffice_payments::sandbox::CARD_SLOW_SUCCESS;
use boxoffice_testkit::{
    free_port,
    smtp::{ReceivedMail, SmtpSink, smtp_url},
};

/// Long enough for any message that is coming; the checks for "no second copy" wait this too.
const MAIL_WAIT: Duration = Duration::from_secs(20);
const FROM: &str = "Box Office <tickets@boxoffice.test>";

/// An app that mails through `smtp://127.0.0.1:port`, retrying at least every second, with an
/// admin account.
async fn app_mailing_to(port: u16) -> TestApp {
    TestApp::spawn_with(|s| mail_settings(s, port)).await
}

fn mail_settings(s: &mut boxoffice_server::Settings, port: u16) {
    s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()));
    s.mail = Some(MailConfig {
        smtp_url: smtp_url(port),
        from: FROM.to_owned(),
        retry_cap: Duration::from_secs(1),
    });
}

/// `EUR 45.00`: the demo event's prices as the message shows them.
fn eur(cents: i64) -> String {
    format!("EUR {}.{:02}", cents / 100, cents % 100)
}

async fn seat_label(buyer: &Buyer, ticket_id: &str) -> String {
    let r = buyer.get(&format!("/api/v1/tickets/{ticket_id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["ticket"]["seat_label"].as_str().unwrap().to_owned()
}

async fn refund(admin: &Buyer, order_id: &str, body: Value) -> Value {
    let r = admin
        .client
        .post(admin.url(&format!("/api/v1/admin/orders/{order_id}/refund")))
        .json(&body)
        .send()
        .await
        .expect("refund");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The outbox row of each message about `order_id`, as `kind/status`, oldest first.
async fn outbox_rows(app: &TestApp, order_id: &str) -> Vec<String> {
    let order = "FROM outbox WHERE order_id = ? ORDER BY created_at, id";
    let kinds = app
        .texts(&format!("SELECT kind {order}"), &[order_id])
        .await;
    let statuses = app
        .texts(&format!("SELECT status {order}"), &[order_id])
        .await;
    kinds
        .iter()
        .zip(&statuses)
        .map(|(k, s)| format!("{k}/{s}"))
        .collect()
}

/// The messages about `order_id` (its id is in every message's text).
fn about<'a>(mails: &'a [ReceivedMail], order_id: &str) -> Vec<&'a ReceivedMail> {
    mails
        .iter()
        .filter(|m| m.text("text/plain").is_some_and(|t| t.contains(order_id)))
        .collect()
}

#[tokio::test]
async fn a_purchase_mails_one_confirmation_with_its_tickets_and_amounts_to_the_buyer() {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_mailing_to(sink.port()).await;
    let buyer = app.register_and_login().await;
    let prices = app.prices().await;
    let order = buyer.buy(&["C-3", "C-4"]).await;
    let order_id = order["id"].as_str().unwrap();

    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1, "one confirmation");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, std::slice::from_ref(&buyer.email));
    assert!(
        mail.header("to").contains(&buyer.email),
        "{}",
        mail.header("to")
    );
    assert_eq!(mail.header("from"), FROM);
    assert_eq!(mail.mail_from, "tickets@boxoffice.test");
    let event = app.event().await;
    assert!(
        mail.header("subject")
            .contains(event["name"].as_str().unwrap())
    );
    // The Message-ID is the outbox row's, so that a copy sent again is recognisably the same.
    let row_id = app
        .text("SELECT id FROM outbox WHERE order_id = ?", &[order_id])
        .await;
    assert_eq!(
        mail.header("message-id"),
        format!("<{row_id}@boxoffice.test>")
    );
    assert_eq!(
        mail.structure,
        [
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "image/png"
        ]
    );

    let text = mail.text("text/plain").unwrap();
    let html = mail.text("text/html").unwrap();
    let mut total = 0;
    let tickets = order["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    for ticket in tickets {
        let code = ticket["code"].as_str().unwrap();
        let price = prices[ticket["seat_id"].as_str().unwrap()];
        total += price;
        let seat = seat_label(&buyer, ticket["id"].as_str().unwrap()).await;
        assert!(text.contains(&seat), "the text names seat {seat}: {text}");
        assert!(text.contains(code), "the text carries the code");
        assert!(
            text.contains(&format!("{seat}  {}", eur(price))),
            "the text prices seat {seat}: {text}"
        );
        // Each ticket's QR code is an inline PNG the HTML part shows by its Content-ID.
        let cid = format!("ticket-{}@boxoffice.test", ticket["id"].as_str().unwrap());
        assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
        let image = mail
            .parts_of("image/png")
            .find(|p| p["content_id"] == format!("<{cid}>"))
            .unwrap_or_else(|| panic!("an image with Content-ID {cid}"));
        assert_eq!(image["disposition"], "inline");
        // The PNG signature, base64-encoded.
        let png = image["base64"].as_str().unwrap();
        assert!(png.starts_with("iVBORw0KGgo"), "a PNG");
    }
    assert_eq!(total, order["total_cents"].as_i64().unwrap());
    assert!(
        text.contains(&format!("Total paid: {}", eur(total))),
        "{text}"
    );
    assert!(html.contains(&format!("Total paid: {}", eur(total))));

    // Marked sent, and never sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.messages().len(), 1, "no second copy");
    assert_eq!(
        outbox_rows(&app, order_id).await,
        ["order_confirmation/sent"]
    );
}

#[tokio::test]
async fn a_refund_mails_a_notice_naming_the_refunded_tickets_and_the_amount() {
    let sink = SmtpSink::start(free_port()).await;
    let app = app_mailing_to(sink.port()).await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    let buyer = app.register_and_login().await;
    let prices = app.prices().await;
    let order = buyer.buy(&["D-1", "D-2", "D-3"]).await;
    let order_id = order["id"].as_str().unwrap();
    let tickets: Vec<(String, String)> = order["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["seat_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sink.wait_for(1, MAIL_WAIT).await.len(),
        1,
        "the confirmation"
    );

    // One ticket first: a partial refund of exactly its price.
    let (first, first_seat) = &tickets[0];
    refund(&admin, order_id, json!({ "ticket_ids": [first] })).await;
    let mails = sink.wait_for(2, MAIL_WAIT).await;
    assert_eq!(mails.len(), 2);
    let partial = &mails[1];
    assert_eq!(partial.rcpt_tos, std::slice::from_ref(&buyer.email));
    assert!(
        partial.header("subject").contains(&eur(prices[first_seat])),
        "{}",
        partial.header("subject")
    );
    let text = partial.text("text/plain").unwrap();
    let first_label = seat_label(&buyer, first).await;
    assert!(text.contains(&first_label), "{text}");
    assert!(text.contains(&format!("Amount refunded: {}", eur(prices[first_seat]))));
    assert!(text.contains("2 tickets still admit"), "{text}");
    for (id, _) in &tickets[1..] {
        let label = seat_label(&buyer, id).await;
        assert!(!text.contains(&label), "{label} was not refunded: {text}");
    }
    assert!(partial.text("text/html").unwrap().contains(&first_label));
    assert_eq!(
        partial.parts_of("image/png").count(),
        0,
        "no tickets to show"
    );

    // Then the rest: the notice names the two others and says the order is refunded in full.
    refund(&admin, order_id, json!({})).await;
    let mails = sink.wait_for(3, MAIL_WAIT).await;
    assert_eq!(mails.len(), 3);
    let rest = &mails[2];
    let text = rest.text("text/plain").unwrap();
    let rest_cents: i64 = tickets[1..].iter().map(|(_, s)| prices[s]).sum();
    assert!(text.contains("refunded in full"), "{text}");
    assert!(
        text.contains(&format!("Amount refunded: {}", eur(rest_cents))),
        "{text}"
    );
    for (id, _) in &tickets[1..] {
        assert!(text.contains(&seat_label(&buyer, id).await));
    }
    assert!(!text.contains(&format!("- {first_label} ")), "{text}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 3, "each message once");
    assert_eq!(
        outbox_rows(&app, order_id).await,
        [
            "order_confirmation/sent",
            "refund_notice/sent",
            "refund_notice/sent"
        ]
    );
}

#[tokio::test]
async fn a_payment_refunded_because_its_seats_were_taken_tells_the_buyer_by_mail() {
    let sink = SmtpSink::start(free_port()).await;
    let app = TestApp::spawn_with(|s| {
        mail_settings(s, sink.port());
        s.hold_ttl = Duration::from_secs(1);
    })
    .await;
    let late = app.register_and_login().await;
    let quick = app.register_and_login().await;
    let prices = app.prices().await;
    let (_, payment_id) =
        confirming_checkout(&late, &["K-9"], "late-mailed", CARD_SLOW_SUCCESS).await;
    // The hold expires and someone else takes the seat before the slow payment lands.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.seat_state("K-9").await != "available" {
        assert!(Instant::now() < deadline, "the hold never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    quick.hold_ok(&["K-9"]).await;
    let payment = settled(&late, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "refunded", "{payment}");

    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1, "one notice, and no confirmation");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, std::slice::from_ref(&late.email));
    assert!(
        mail.header("subject").contains("refunded"),
        "{}",
        mail.header("subject")
    );
    let text = mail.text("text/plain").unwrap();
    assert!(text.contains(&payment_id), "{text}");
    assert!(text.contains("no order and no ticket"), "{text}");
    assert!(
        text.contains(&format!("Amount refunded: {}", eur(prices["K-9"]))),
        "{text}"
    );
    assert!(
        mail.text("text/html")
            .unwrap()
            .contains(&eur(prices["K-9"]))
    );
    assert_eq!(
        app.texts("SELECT kind FROM outbox", &[]).await,
        ["payment_refunded"]
    );
}

#[tokio::test]
async fn mail_queued_while_the_mail_server_is_down_arrives_once_each_from_two_instances() {
    // Nothing listens on the port yet: every attempt is refused until the sink starts there.
    let port = free_port();
    let mut first = app_mailing_to(port).await;
    first.keep_database();
    let second = TestApp::spawn_on(first.db_url.clone(), |s| mail_settings(s, port)).await;

    // More than one round's batch, sold on both instances: both senders have work to share.
    let mut orders = Vec::new();
    for n in 1..=12 {
        let app = if n % 2 == 0 { &first } else { &second };
        let buyer = app.register_and_login().await;
        let order = buyer.buy(&[format!("E-{n}").as_str()]).await;
        orders.push((
            buyer.email.clone(),
            order["id"].as_str().unwrap().to_owned(),
        ));
    }

    // The failures are retried with a growing wait, and are visible: on every row (a round that
    // finds the server down hands the rest of its batch back untried, and says so), and in
    // /metrics.
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let retried = first
            .count(
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts >= 2 \
                 AND last_error IS NOT NULL",
                &[],
            )
            .await;
        if retried == orders.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every message is tried again while the server is down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = first.get("/metrics").await.text().await.unwrap();
    let failed = metrics
        .lines()
        .find(|l| {
            l.starts_with("boxoffice_mail_attempts_failed_total{kind=\"order_confirmation\"}")
        })
        .unwrap_or_else(|| panic!("failed attempts are counted: {metrics}"));
    assert!(!failed.ends_with(" 0"), "{failed}");

    let sink = SmtpSink::start(port).await;
    let mails = sink.wait_for(orders.len(), MAIL_WAIT).await;
    assert_eq!(mails.len(), orders.len(), "every message arrives");
    // Both instances keep looking for a few more rounds: still one copy each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mails = sink.messages();
    for (email, order_id) in &orders {
        let copies = about(&mails, order_id);
        assert_eq!(copies.len(), 1, "order {order_id}: one confirmation");
        assert_eq!(copies[0].rcpt_tos, std::slice::from_ref(email));
        assert_eq!(
            outbox_rows(&first, order_id).await,
            ["order_confirmation/sent"]
        );
    }
    let mut ids: Vec<&str> = mails.iter().map(|m| m.header("message-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), orders.len(), "distinct Message-IDs");
}

#[tokio::test]
async fn checkout_answers_at_once_while_the_mail_server_hangs() {
    // A server that accepts connections and never says a word: a send waits for its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let app = app_mailing_to(port).await;
    let buyer = app.register_and_login().await;
    // Wake the sender so that it is stuck on the silent server while the next purchases pay.
    let first = buyer.buy(&["F-1"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for seat in ["F-2", "F-3"] {
        let hold = buyer.hold_ok(&[seat]).await;
        let started = Instant::now();
        let r = buyer
            .checkout(
                hold["id"].as_str().unwrap(),
                &uuid::Uuid::new_v4().to_string(),
                crate::helpers::GOOD_CARD,
            )
            .await;
        let took = started.elapsed();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(
            took < Duration::from_secs(2),
            "checkout took {took:?} with the mail server hanging"
        );
    }
    // Nothing was sent, and the confirmations wait in the outbox.
    let pending = app
        .count("SELECT COUNT(*) FROM outbox WHERE status = 'pending'", &[])
        .await;
    assert_eq!(pending, 3);
    assert_eq!(
        outbox_rows(&app, first["id"].as_str().unwrap()).await,
        ["order_confirmation/pending"]
    );
    silent.abort();
}

#[tokio::test]
async fn with_e_mail_off_a_purchase_queues_nothing() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    buyer.buy(&["G-1"]).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox", &[]).await, 0);
}
