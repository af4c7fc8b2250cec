//! Accounts: e-mail addresses, passwords, display names and roles, each parsed once.

use super::InvalidInput;

/// An e-mail address, lower-cased and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Lower-cases and trims, so that one mailbox is one account.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        super::text::check("email", raw)?;
        let s = raw.trim().to_lowercase();
        let bad = || InvalidInput::new("invalid_email", "Enter a valid e-mail address.");
        if s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.len() < 3 || !domain.contains('.') || domain.contains('@') {
            return Err(bad());
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad());
        }
        Ok(Email(s))
    }

    /// The address as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    pub(crate) const MIN_CHARS: usize = 8;
    /// Argon2 accepts more, but hashing megabytes on request would be a cheap denial of service.
    pub(crate) const MAX_CHARS: usize = 256;

    /// Checks a new password's length and characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        super::text::check("password", raw)?;
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(InvalidInput::new(
                "password_too_short",
                format!(
                    "Choose a password of at least {} characters.",
                    Self::MIN_CHARS
                ),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(InvalidInput::new(
                "password_too_long",
                format!("Passwords are limited to {} characters.", Self::MAX_CHARS),
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// For verifying a login: any length is compared, nothing is revealed by refusing early.
    pub fn for_login(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.chars().count() <= Self::MAX_CHARS)
            .then(|| Password(raw.to_owned()))
    }

    /// The password in clear, for hashing or verifying only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The name a buyer goes by: 1 to 100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims, and refuses empty or over-long names.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        super::text::check("name", raw)?;
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidInput::new("invalid_name", "Tell us your name."));
        }
        if s.chars().count() > 100 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "invalid_name",
                "Names are up to 100 printable characters.",
            ));
        }
        Ok(DisplayName(s.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Buys tickets for themself.
    Buyer,
    /// Checks tickets in at the door.
    Staff,
    /// Manages venues, events and refunds.
    Admin,
}

impl Role {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// The role stored under `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "buyer" => Some(Role::Buyer),
            "staff" => Some(Role::Staff),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_to_lower_case() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn short_passwords_are_refused_and_never_printed() {
        assert_eq!(
            Password::parse("short").unwrap_err().code,
            "password_too_short"
        );
        let p = Password::parse("long enough secret").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn emails_and_names_with_nul_bidi_or_zero_width_characters_are_refused() {
        for bad in [
            "ann\0@example.com",
            "\u{202E}moc@example.com",
            "ad\u{200B}min@example.com",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().code, "invalid_characters");
        }
        for bad in ["Ann\0", "Ann\u{202E}", "A\u{200D}nn"] {
            assert_eq!(
                DisplayName::parse(bad).unwrap_err().code,
                "invalid_characters"
            );
        }
    }
}
