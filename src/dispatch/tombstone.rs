//! A retired job's marker: its name and aliases, reserved for ever.

/// The marker of a retired job: its name and aliases, reserved for ever.
///
/// ```
/// use jobwire::Tombstone;
/// const FAX: Tombstone = Tombstone::new("user.send_welcome_fax").with_aliases(&["fax.welcome"]);
/// assert_eq!(FAX.name(), "user.send_welcome_fax");
/// assert_eq!(FAX.aliases(), &["fax.welcome"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
}

impl Tombstone {
    /// A tombstone for `name`.
    ///
    /// ```
    /// let _ = jobwire::Tombstone::new("old.job");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        Tombstone { name, aliases: &[] }
    }

    /// The names the job was known by before.
    ///
    /// ```
    /// let t = jobwire::Tombstone::new("b").with_aliases(&["a"]);
    /// assert_eq!(t.aliases(), &["a"]);
    /// ```
    pub const fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// The retired name.
    ///
    /// ```
    /// assert_eq!(jobwire::Tombstone::new("b").name(), "b");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The retired aliases.
    ///
    /// ```
    /// assert!(jobwire::Tombstone::new("b").aliases().is_empty());
    /// ```
    pub const fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }
}
