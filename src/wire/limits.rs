//! Bounds on what a router accepts from the queue.

/// Limits on incoming payloads. A payload over a limit is rejected with a
/// typed error before any of it is parsed.
///
/// Nesting depth has no limit of its own. Where a value is skipped (unknown
/// fields, the envelope's other keys, arguments read later, the fields a
/// JSON-level upcaster does not touch) it is skipped iteratively, at any
/// depth. Where a value is decoded into a type, serde_json's recursion limit
/// applies, and it counts every open container from the `args` object
/// itself: `args` and 126 nested containers inside one of its fields (127
/// levels) are read, one more is `Rejected(Arguments)` with "recursion limit
/// exceeded". Never a stack overflow.
///
/// ```
/// use jobwire::wire::Limits;
/// let limits = Limits::default().with_max_payload_bytes(64 * 1024);
/// assert_eq!(limits.max_payload_bytes(), 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_payload_bytes: usize,
    max_name_bytes: usize,
    max_version_bytes: usize,
}

impl Default for Limits {
    /// 1 MiB payloads, 128-byte names and 64-byte versions.
    fn default() -> Self {
        Limits {
            max_payload_bytes: 1024 * 1024,
            max_name_bytes: 128,
            max_version_bytes: 64,
        }
    }
}

impl Limits {
    /// Sets the largest payload accepted, in bytes (default 1 MiB).
    ///
    /// ```
    /// let _ = jobwire::wire::Limits::default().with_max_payload_bytes(4096);
    /// ```
    pub fn with_max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Sets the longest job name accepted, in bytes (default 128).
    ///
    /// ```
    /// let _ = jobwire::wire::Limits::default().with_max_name_bytes(64);
    /// ```
    pub fn with_max_name_bytes(mut self, bytes: usize) -> Self {
        self.max_name_bytes = bytes;
        self
    }

    /// Sets the longest version string accepted, in bytes (default 64).
    ///
    /// ```
    /// let _ = jobwire::wire::Limits::default().with_max_version_bytes(32);
    /// ```
    pub fn with_max_version_bytes(mut self, bytes: usize) -> Self {
        self.max_version_bytes = bytes;
        self
    }

    /// The largest payload accepted, in bytes.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Limits::default().max_payload_bytes(), 1 << 20);
    /// ```
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    /// The longest job name accepted, in bytes.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Limits::default().max_name_bytes(), 128);
    /// ```
    pub fn max_name_bytes(&self) -> usize {
        self.max_name_bytes
    }

    /// The longest version string accepted, in bytes.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Limits::default().max_version_bytes(), 64);
    /// ```
    pub fn max_version_bytes(&self) -> usize {
        self.max_version_bytes
    }
}
