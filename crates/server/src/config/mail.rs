//! The e-mail settings: where the SMTP server is, who the mail is from, how long a message the
//! server did not take may wait between attempts.

use std::time::Duration;

use clap::Args;

use boxoffice_app::mail::MailConfig;

/// The sender when none is set: a name buyers recognise, at an address that says it is not read.
pub(crate) const DEFAULT_FROM: &str = "boxoffice <no-reply@localhost>";

#[derive(Debug, Clone, Args)]
pub(crate) struct MailArgs {
    /// The SMTP server buyers' e-mail goes through: `smtp://host:port` (plain; add
    /// `?tls=required` for STARTTLS), `smtps://host:port` (TLS), with `user:password@` if it
    /// asks. Unset: no e-mail, and none is queued.
    #[arg(
        long,
        env = "BOXOFFICE_SMTP_URL",
        hide_env_values = true,
        global = true
    )]
    pub(crate) smtp_url: Option<String>,
    /// The sender of buyers' e-mail, `Name <address>` or an address.
    #[arg(long, env = "BOXOFFICE_MAIL_FROM", default_value = DEFAULT_FROM, global = true)]
    pub(crate) mail_from: String,
    /// The longest wait, in seconds, between two attempts at a message the server did not take
    /// (the wait doubles from one second up to this).
    #[arg(
        long,
        env = "BOXOFFICE_MAIL_RETRY_MAX_SECS",
        default_value_t = 300,
        global = true
    )]
    pub(crate) mail_retry_max_secs: u64,
}

impl MailArgs {
    /// The mail settings, or `None` when no SMTP server is named.
    pub(crate) fn config(self) -> Option<MailConfig> {
        let smtp_url = self.smtp_url.filter(|u| !u.trim().is_empty())?;
        Some(MailConfig {
            smtp_url,
            from: self.mail_from,
            retry_cap: Duration::from_secs(self.mail_retry_max_secs.max(1)),
        })
    }
}
