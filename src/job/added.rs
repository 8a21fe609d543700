//! The "add an optional parameter" pattern.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};

/// A parameter added in a minor version: present in payloads written since,
/// [`Added::Missing`] in older ones.
///
/// It works with a plain `#[derive(Deserialize)]`: like `Option`, a missing
/// field reads as `Missing` with no `#[serde(default)]` to remember. Older
/// code ignores the field, because jobwire never denies unknown fields. So
/// adding a parameter is one deploy, not two: the handler sees whether the
/// producer knew about the parameter, and decides.
///
/// The seed's story: a confirmation job gains a date.
///
/// ```
/// use jobwire::{Added, Context, Delivery, HandlerError, Job, NoPrevious, Router};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct UserConfirmation {
///     id: u64,
///     message: String,
///     date: Added<String>, // new in 1.1.0
/// }
///
/// impl Job for UserConfirmation {
///     const NAME: &'static str = "user.confirmation";
///     const VERSION: Version = Version::new(1, 1, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, _ctx: &mut Context<'_>) -> Result<(), HandlerError> {
///         match self.date.as_option() {
///             Some(date) => println!("confirm {} on {date}: {}", self.id, self.message),
///             None => println!("confirm {}: {}", self.id, self.message),
///         }
///         Ok(())
///     }
/// }
///
/// let router = Router::builder().job::<UserConfirmation>().build()?;
/// // Written by release N, before the date existed:
/// let old = br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":42,"message":"hello!"}}"#;
/// assert!(router.dispatch_blocking(old, &mut Delivery::new()).is_performed());
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Added<T> {
    /// The payload was written before the parameter existed (or wrote `null`).
    #[default]
    Missing,
    /// The payload carries the parameter.
    Present(T),
}

impl<T> Added<T> {
    /// The value, if present.
    ///
    /// ```
    /// assert_eq!(jobwire::Added::Present(3).as_option(), Some(&3));
    /// ```
    pub fn as_option(&self) -> Option<&T> {
        match self {
            Added::Present(value) => Some(value),
            Added::Missing => None,
        }
    }

    /// Converts into an `Option`.
    ///
    /// ```
    /// assert_eq!(jobwire::Added::<u8>::Missing.into_option(), None);
    /// ```
    pub fn into_option(self) -> Option<T> {
        self.into()
    }

    /// Whether the payload carried the parameter.
    ///
    /// ```
    /// assert!(jobwire::Added::Present(()).is_present());
    /// ```
    pub fn is_present(&self) -> bool {
        matches!(self, Added::Present(_))
    }

    /// The value, or `default` for payloads written before it existed.
    ///
    /// ```
    /// assert_eq!(jobwire::Added::Missing.unwrap_or(7), 7);
    /// ```
    pub fn unwrap_or(self, default: T) -> T {
        self.into_option().unwrap_or(default)
    }

    /// The value, or one computed for payloads written before it existed.
    ///
    /// ```
    /// assert_eq!(jobwire::Added::Missing.unwrap_or_else(|| 7), 7);
    /// ```
    pub fn unwrap_or_else(self, default: impl FnOnce() -> T) -> T {
        self.into_option().unwrap_or_else(default)
    }
}

impl<T> From<T> for Added<T> {
    fn from(value: T) -> Self {
        Added::Present(value)
    }
}

impl<T> From<Option<T>> for Added<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Added::Missing, Added::Present)
    }
}

impl<T> From<Added<T>> for Option<T> {
    fn from(value: Added<T>) -> Self {
        match value {
            Added::Present(value) => Some(value),
            Added::Missing => None,
        }
    }
}

impl<T: Serialize> Serialize for Added<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_option().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Added<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `Option`'s impl asks for `deserialize_option`, which serde's derive
        // answers with `None` for a missing field: no attribute needed.
        Option::<T>::deserialize(deserializer).map(Added::from)
    }
}
