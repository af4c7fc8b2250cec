//! Typed ids: a hold's id cannot be passed where an order's is meant, and an id from a request
//! is checked once, where it is read, to be one this server could have made.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{new_id, venue_rules::is_well_formed_id};

macro_rules! id_types {
    ($($(#[doc = $doc:literal])* $name:ident;)*) => {$(
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id, unique and ordered by creation time.
            pub fn generate() -> Self {
                $name(new_id())
            }

            /// The id, if `s` is well formed (1 to 64 letters, digits, `-`, `_` or `.`); an id
            /// that is not could never have been made here, so it names nothing.
            pub fn parse(s: &str) -> Option<Self> {
                is_well_formed_id(s).then(|| $name(s.to_owned()))
            }

            /// The id as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom("not a well-formed id"))
            }
        }
    )*};
}

id_types! {
    /// Names an event.
    EventId;
    /// Names a hold: seats reserved while their buyer pays.
    HoldId;
    /// Names an order: what a paid hold became.
    OrderId;
    /// Names a payment attempt.
    PaymentId;
    /// Names an account.
    UserId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_parses_back_to_itself() {
        let id = HoldId::generate();
        assert_eq!(HoldId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_no_server_could_make_are_refused() {
        for bad in [
            "",
            "a b",
            "../etc",
            "x'; DROP TABLE seats; --",
            &"a".repeat(65),
        ] {
            assert_eq!(OrderId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_id_reads_and_writes_as_a_plain_json_string() {
        let id: EventId = serde_json::from_str("\"evt_1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"evt_1\"");
        assert!(serde_json::from_str::<EventId>("\"no spaces\"").is_err());
    }
}
