//! The outbox's leases, through the repository itself: a claimed message is no one else's until
//! its lease runs out (when an instance that died holding it is replaced by another), a claim
//! whose lease ran out cannot record an outcome, and claims racing each other never take the
//! same message.

use std::{collections::HashSet, time::Duration};

use boxoffice_domain::{new_id, time::Timestamp};
use boxoffice_store::{Database, MailKind, MailOutcome, NewMail};

use crate::helpers::TestApp;

/// `n` messages queued to a fresh buyer of an app that sends none itself (e-mail off).
async fn queued(n: usize) -> (TestApp, std::sync::Arc<dyn Database>, Vec<String>) {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let db = boxoffice_store::connect(&app.db_url, 4).await.unwrap();
    let mut ids = Vec::new();
    let mut tx = db.begin().await.unwrap();
    for _ in 0..n {
        let mail = NewMail {
            id: new_id(),
            kind: MailKind::OrderConfirmation,
            order_id: None,
            user_id: buyer.user_id.clone(),
            payload: "{}".into(),
            created_at: Timestamp::now(),
        };
        tx.queue_mail(&mail).await.unwrap();
        ids.push(mail.id);
    }
    tx.commit().await.unwrap();
    (app, db, ids)
}

async fn claim(db: &dyn Database, lease: &str, lease_ms: i64, limit: u32) -> Vec<String> {
    let mut tx = db.begin().await.unwrap();
    let claimed = tx.claim_due_mail(lease, lease_ms, limit).await.unwrap();
    tx.commit().await.unwrap();
    claimed.into_iter().map(|m| m.id).collect()
}

async fn settle(db: &dyn Database, id: &str, lease: &str) -> bool {
    let mut tx = db.begin().await.unwrap();
    let held = tx
        .settle_mail(
            id,
            lease,
            &MailOutcome::Sent {
                at: Timestamp::now(),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    held
}

#[tokio::test]
async fn a_claimed_message_is_nobody_elses_until_its_lease_runs_out() {
    let (_app, db, ids) = queued(1).await;
    let (dead, alive) = (new_id(), new_id());
    let first = claim(db.as_ref(), &dead, 1_000, 10).await;
    assert_eq!(first, ids, "the message is claimed");
    assert!(
        claim(db.as_ref(), &alive, 1_000, 10).await.is_empty(),
        "not while the lease holds"
    );
    // The first claimer never records anything, as if its instance had died mid-send.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(
        claim(db.as_ref(), &alive, 60_000, 10).await,
        ids,
        "taken over"
    );
    assert!(
        !settle(db.as_ref(), &ids[0], &dead).await,
        "a lease that ran out records nothing"
    );
    assert!(settle(db.as_ref(), &ids[0], &alive).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        claim(db.as_ref(), &new_id(), 1_000, 10).await.is_empty(),
        "a sent message is never due again"
    );
    assert_eq!(db.begin().await.unwrap().unsent_mail().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_racing_each_other_never_take_the_same_message() {
    let (_app, db, ids) = queued(30).await;
    let claims = (0..6).map(|_| {
        let db = db.clone();
        async move { claim(db.as_ref(), &new_id(), 60_000, 10).await }
    });
    let taken: Vec<Vec<String>> = futures_util::future::join_all(claims).await;
    let all: Vec<&String> = taken.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "no message claimed twice: {taken:?}"
    );
    assert_eq!(
        distinct.len(),
        ids.len(),
        "and every one claimed by someone"
    );
}
