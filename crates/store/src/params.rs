//! What a statement's `?` can be bound to: [`Param`] turns each value into the owned type every
//! dialect binds, so that a typed id binds as the text it is stored as.

use boxoffice_domain::ids::{EventId, HoldId, OrderId, PaymentId, UserId};

/// A value as it is bound: owned, so that every dialect binds the same few types.
pub(super) trait Param {
    type Owned;
    fn owned(self) -> Self::Owned;
}

/// Borrowed values bind as their owned copies.
macro_rules! borrowed_params {
    ($($t:ty),*) => {$(
        impl Param for &$t {
            type Owned = <$t as ToOwned>::Owned;
            fn owned(self) -> Self::Owned {
                self.to_owned()
            }
        }
    )*};
}

borrowed_params!(str, String, Option<String>, i64);

/// Typed ids bind as the text they are stored as, alone or optional.
macro_rules! id_params {
    ($($t:ty),*) => {$(
        impl Param for &$t {
            type Owned = String;
            fn owned(self) -> String {
                self.as_str().to_owned()
            }
        }

        impl Param for &Option<$t> {
            type Owned = Option<String>;
            fn owned(self) -> Option<String> {
                self.as_ref().map(|id| id.as_str().to_owned())
            }
        }
    )*};
}

id_params!(EventId, HoldId, OrderId, PaymentId, UserId);

/// Owned values bind as they are.
macro_rules! owned_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            type Owned = $t;
            fn owned(self) -> $t {
                self
            }
        }
    )*};
}

owned_params!(String, Option<String>, i64, bool);
