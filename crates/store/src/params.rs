//! What a statement's `?` can be bound to: [`Param`] turns each value into the owned type every
//! dialect binds.

/// A value as it is bound: owned, so that every dialect binds the same few types.
pub(super) trait Param {
    type Owned;
    fn owned(self) -> Self::Owned;
}

impl<T: ?Sized + ToOwned> Param for &T {
    type Owned = T::Owned;
    fn owned(self) -> T::Owned {
        self.to_owned()
    }
}

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
