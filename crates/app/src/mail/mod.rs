//! E-mail to buyers: the order confirmation with the tickets, and the refund notice. A message is
//! queued in the outbox table by the transaction that records the sale or the refund (so a
//! crash never loses one, and a rolled-back sale never sends one), and sent over SMTP by
//! [`deliver_due`], which any instance's background task runs (see `outbox.rs` for the leases
//! and what "exactly once" can and cannot mean over SMTP).
//!
//! Off unless an SMTP server is configured: then nothing is queued at all, and a sale costs not
//! one statement more.

mod compose;
pub(crate) mod facts;
mod outbox;
mod qr;

use std::time::Duration;

use lettre::{AsyncSmtpTransport, Tokio1Executor, message::Mailbox};
use tokio::sync::Notify;

pub use outbox::{Delivery, deliver_due, unsent_mail};

/// How e-mail is sent, from the settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or `smtps://host:port`, with
    /// `user:password@` when the server wants them.
    pub smtp_url: String,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// The longest wait between two attempts at a message the server did not take.
    pub retry_cap: Duration,
}

/// Why e-mail could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    /// The SMTP URL does not parse.
    #[error("BOXOFFICE_SMTP_URL is not an SMTP URL")]
    Url(#[source] lettre::transport::smtp::Error),
    /// The sender is not an address.
    #[error("BOXOFFICE_MAIL_FROM is not an e-mail address")]
    From(#[source] lettre::address::AddressError),
}

/// The SMTP connection pool and what every message is sent with.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The sender's domain: the right-hand side of every `Message-ID` and `Content-ID`.
    domain: String,
    retry_cap: Duration,
    wake: Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// How long one SMTP command may take before the attempt counts as failed. Well inside the lease
/// (see `outbox.rs`), so that a slow server cannot let a message's lease run out mid-send.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

impl Mailer {
    /// A mailer for `config`; it connects only when there is something to send.
    pub fn new(config: &MailConfig) -> Result<Mailer, MailSetupError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(MailSetupError::Url)?
            .timeout(Some(COMMAND_TIMEOUT))
            .build();
        let from: Mailbox = config.from.parse().map_err(MailSetupError::From)?;
        let domain = from.email.domain().to_owned();
        Ok(Mailer {
            transport,
            from,
            domain,
            retry_cap: config.retry_cap,
            wake: Notify::new(),
        })
    }

    /// Tells this instance's sender that a message was just queued, so it need not wait for its
    /// next round.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when [`Mailer::wake`] was called since the last time.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The `Message-ID` of the outbox row `id`: the same on every attempt, so a message sent
    /// twice is recognisably one message to the servers and clients that receive it.
    fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.domain)
    }
}
