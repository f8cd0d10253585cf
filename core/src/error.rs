//! The core's errors: a [`ErrorKind`] a binding maps to its own exception
//! classes without reading the text, and the message the user reads.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The client's options are wrong (a value, a missing key, an audit log
    /// that cannot be opened).
    InvalidOptions,
    /// A local policy cannot be loaded or compiled.
    InvalidPolicy,
    /// An argument of a call is wrong (an agent id, a handle).
    InvalidArgument,
    /// The governor was shut down.
    Closed,
    /// A bug or a resource failure inside the core (a panic, no runtime).
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_options(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidOptions, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// A panic caught at a boundary, with its text when it has one.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Self::new(
            ErrorKind::Internal,
            format!("internal error in the Execlave core: {what}"),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
