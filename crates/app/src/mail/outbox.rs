//! Sending what the outbox holds: claim the due messages with a lease, send each, and record at
//! once what became of it. Any number of instances run this against one database; a message is
//! claimed by one of them at a time, because a claim sets the row's `due_at` to the end of its
//! lease and only rows whose `due_at` has passed can be claimed.
//!
//! Exactly once, as far as SMTP allows. The outbox row commits with the sale, so the message is
//! never lost; the lease means two instances never send it at the same time; the row is marked
//! sent the moment the server accepts it. What remains is one window: the server has accepted
//! the message (its `250` after the data) and this instance dies, or loses the database, before
//! the mark commits. The row's lease then runs out and another instance sends the message again.
//! SMTP has no way to ask a server whether it already has a message, so that window cannot be
//! closed from here, only made small (the mark is one short transaction right after the send) and
//! made recognisable: every attempt carries the same `Message-ID` (from the row's id), `Date`
//! and MIME boundaries, so the copy is byte-for-byte the same message, which receiving systems
//! that de-duplicate by `Message-ID` (Gmail does) fold into one, and which a person sees as a
//! repeat rather than a second order. A lease that runs out during a slow send would open a
//! second window (two live instances sending); it cannot, because no send starts unless it can
//! finish, command timeouts included, well before its lease ends.

use std::time::{Duration, Instant};

use super::{Mailer, compose};
use crate::{App, AppResult};
use boxoffice_domain::{new_id, outbox::retry_delay, time::Timestamp};
use boxoffice_store::{ClaimedMail, MailOutcome};

/// Messages claimed per round: the lease covers all of them.
const BATCH: u32 = 10;
/// The longest one message may take, from connecting to the server's answer to the data.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a claim keeps its messages: every message of the batch at its longest, and a margin
/// for the database. A message whose instance died is sent by another once this has passed.
const LEASE: Duration = Duration::from_secs(BATCH as u64 * SEND_TIMEOUT.as_secs() + 60);

/// Attempts after which a refusal (5xx) is taken as final.
const REFUSALS_BELIEVED: u32 = 3;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Messages claimed.
    pub claimed: usize,
    /// Accepted by the mail server.
    pub sent: usize,
    /// Not accepted this time; each waits its backoff before the next attempt.
    pub retried: usize,
    /// Refused for good (an address the server rejects): never tried again.
    pub failed: usize,
}

impl Delivery {
    /// Whether the round took as many as it could: there may be more due right away.
    pub fn was_full(&self) -> bool {
        self.claimed == BATCH as usize
    }
}

/// Sends the messages that are due, up to one batch; a no-op when e-mail is off.
pub async fn deliver_due(app: &App) -> AppResult<Delivery> {
    let Some(mailer) = app.mail.as_deref() else {
        return Ok(Delivery::default());
    };
    let lease = new_id();
    let claimed_at = Instant::now();
    let mut tx = app.db.begin().await?;
    let batch = tx
        .claim_due_mail(&lease, LEASE.as_millis() as i64, BATCH)
        .await?;
    tx.commit().await?;
    let mut round = Delivery {
        claimed: batch.len(),
        ..Delivery::default()
    };
    // Once the server cannot be reached, the rest of the batch is handed back untried. Each of
    // them still counts the round as a failure, so that its wait grows as the outage lasts:
    // otherwise only each round's first message would back off, and a long outage would cost a
    // connection attempt every second.
    let mut unreachable: Option<String> = None;
    for mail in &batch {
        let kind = mail.kind.as_str();
        let late = claimed_at.elapsed() + SEND_TIMEOUT + Duration::from_secs(30) > LEASE;
        let (outcome, tried) = match (&unreachable, late) {
            (Some(error), _) => (
                MailOutcome::Retry {
                    after_ms: backoff(mailer, mail.attempts + 1),
                    error: format!("not tried: {error}"),
                    counted: true,
                },
                false,
            ),
            (None, true) => (
                MailOutcome::Retry {
                    after_ms: 0,
                    error: "not tried: the round ran out of lease".into(),
                    counted: false,
                },
                false,
            ),
            (None, false) => {
                let (outcome, reachable) = attempt(mailer, mail).await;
                if !reachable && let MailOutcome::Retry { error, .. } = &outcome {
                    unreachable = Some(error.clone());
                }
                (outcome, true)
            }
        };
        match &outcome {
            MailOutcome::Sent { .. } => {
                round.sent += 1;
                metrics::counter!("boxoffice_mail_sent_total", "kind" => kind).increment(1);
                tracing::info!(mail_id = %mail.id, kind, order_id = mail.order_id.as_deref(), "e-mail sent");
            }
            MailOutcome::Retry { .. } if !tried => round.retried += 1,
            MailOutcome::Retry {
                error, after_ms, ..
            } => {
                round.retried += 1;
                metrics::counter!("boxoffice_mail_attempts_failed_total", "kind" => kind)
                    .increment(1);
                tracing::warn!(mail_id = %mail.id, kind, attempts = mail.attempts + 1, retry_in_ms = after_ms, error, "e-mail not sent; will retry");
            }
            MailOutcome::Failed { error } => {
                round.failed += 1;
                metrics::counter!("boxoffice_mail_rejected_total", "kind" => kind).increment(1);
                tracing::error!(mail_id = %mail.id, kind, order_id = mail.order_id.as_deref(), error, "e-mail refused for good; not retried");
            }
        }
        record(app, mail, &lease, &outcome).await?;
    }
    Ok(round)
}

/// One attempt at `mail`: what became of it, and whether the server could be reached at all
/// (false: the connection failed or timed out, and the next message would fare no better).
async fn attempt(mailer: &Mailer, mail: &ClaimedMail) -> (MailOutcome, bool) {
    let retry = |error: String| MailOutcome::Retry {
        after_ms: backoff(mailer, mail.attempts + 1),
        error,
        counted: true,
    };
    let message = match compose::message(mailer, mail) {
        Ok(m) => m,
        // A stored message that cannot be written (a corrupt row, an address that no longer
        // parses) will not get better by waiting.
        Err(e) => {
            return (
                MailOutcome::Failed {
                    error: format!("cannot write the message: {e:#}"),
                },
                true,
            );
        }
    };
    let sent = tokio::time::timeout(
        SEND_TIMEOUT,
        lettre::AsyncTransport::send(&mailer.transport, message),
    )
    .await;
    match sent {
        Ok(Ok(_)) => (
            MailOutcome::Sent {
                at: Timestamp::now(),
            },
            true,
        ),
        // A 5xx is final for the message it answers (an address that does not exist), but the
        // same code also answers a wrong password or a sender the relay refuses, which would be
        // every message: so a refusal is believed only once it was repeated, a long wait apart.
        Ok(Err(e)) if e.is_permanent() && mail.attempts + 1 >= REFUSALS_BELIEVED => (
            MailOutcome::Failed {
                error: error_chain(&e),
            },
            true,
        ),
        Ok(Err(e)) if e.is_permanent() => (
            MailOutcome::Retry {
                after_ms: mailer.retry_cap.as_millis() as i64,
                error: error_chain(&e),
                counted: true,
            },
            true,
        ),
        // A 4xx answer (greylisting, a full mailbox) is about this message; anything else
        // (refused, reset, TLS, a timeout) is about the server.
        Ok(Err(e)) => (retry(error_chain(&e)), e.is_transient()),
        Err(_) => (retry(format!("no answer within {SEND_TIMEOUT:?}")), false),
    }
}

fn backoff(mailer: &Mailer, failures: u32) -> i64 {
    retry_delay(failures, mailer.retry_cap).as_millis() as i64
}

/// Records an attempt's outcome in a transaction of its own, right away: the shorter the time
/// between the server's acceptance and this commit, the smaller the window in the header.
async fn record(
    app: &App,
    mail: &ClaimedMail,
    lease: &str,
    outcome: &MailOutcome,
) -> AppResult<()> {
    let mut tx = app.db.begin().await?;
    let held = tx.settle_mail(&mail.id, lease, outcome).await?;
    tx.commit().await?;
    if !held {
        // Only possible when the database's clock jumped, or the round stalled past its lease.
        tracing::warn!(mail_id = %mail.id, "e-mail outcome not recorded: its lease had run out, another instance may send it again");
    }
    Ok(())
}

/// How many messages wait to be sent, for the `boxoffice_mail_unsent` gauge.
pub async fn unsent_mail(app: &App) -> AppResult<i64> {
    let mut tx = app.db.read().await?;
    let n = tx.unsent_mail().await?;
    tx.commit().await?;
    Ok(n)
}

/// The error and its causes, one after another: lettre's own message is often only the outer one.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
