//! The one error type of the crate: invalid input, reported with a message naming the problem.

use std::fmt;

/// An error from a latentgeo algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The caller passed something the algorithm cannot accept (shape, value, option).
    InvalidArgument(String),
    /// Something the algorithm needed from the system failed (e.g. building a thread pool).
    Runtime(String),
    /// The job was cancelled through its [`Monitor`](crate::monitor::Monitor) (e.g. Ctrl-C).
    Cancelled,
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for an [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) | Error::Runtime(m) => f.write_str(m),
            Error::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Error {}
