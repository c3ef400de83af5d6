//! The one error type of the crate: invalid input, reported with a message naming the problem.

use std::fmt;

/// An error raised outside the crate (e.g. by a user's model or callback) and carried through it
/// unchanged, so that the caller can recover the original (a binding layer downcasts it back).
pub type External = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a latentgeo algorithm.
#[derive(Debug)]
pub enum Error {
    /// The caller passed something the algorithm cannot accept (shape, value, option).
    InvalidArgument(String),
    /// Something the algorithm needed from the system failed (e.g. building a thread pool).
    Runtime(String),
    /// A buffer sized from the input cannot be allocated (its size overflows or the system
    /// refused the memory); the message names the input and the bytes asked for.
    Memory(String),
    /// The job was cancelled through its [`Monitor`](crate::monitor::Monitor) (e.g. Ctrl-C).
    Cancelled,
    /// Code supplied by the caller (a model, a callback) failed; its error is kept as is.
    External(External),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for an [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// Shorthand for an [`Error::Memory`].
    pub fn memory(msg: impl Into<String>) -> Self {
        Error::Memory(msg.into())
    }

    /// Wrap an error raised by caller-supplied code.
    pub fn external(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::External(Box::new(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) | Error::Runtime(m) | Error::Memory(m) => f.write_str(m),
            Error::Cancelled => f.write_str("cancelled"),
            Error::External(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::External(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Equal kinds with equal messages; an external error is equal to none (it is opaque).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::InvalidArgument(a), Error::InvalidArgument(b))
            | (Error::Runtime(a), Error::Runtime(b))
            | (Error::Memory(a), Error::Memory(b)) => a == b,
            (Error::Cancelled, Error::Cancelled) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Mine(u8);

    impl fmt::Display for Mine {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "mine {}", self.0)
        }
    }

    impl std::error::Error for Mine {}

    #[test]
    fn external_errors_come_back_unchanged() {
        let e = Error::external(Mine(7));
        assert_eq!(e.to_string(), "mine 7");
        assert_ne!(e, Error::Cancelled);
        let Error::External(inner) = e else {
            panic!("not external")
        };
        assert_eq!(inner.downcast::<Mine>().unwrap().0, 7);
    }
}
