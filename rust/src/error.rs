//! One error type for the whole crate, and its one conversion to a Python
//! exception (the exceptions are defined in `python/ketch/errors.py`).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure, with what we were doing when it happened.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A layer that is malformed or tries something a layer may not do.
    #[error("invalid layer: {0}")]
    BadLayer(String),
    /// Content whose sha256 is not the one it was announced with.
    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: &'static str,
        expected: String,
        actual: String,
    },
    /// A request that cannot be carried out as given (a bad mount point, a
    /// NUL in an argument, a seccomp rule the kernel cannot take).
    #[error("{0}")]
    Invalid(String),
    /// A layer that unpacks to more than the caller allowed (a decompression bomb).
    #[error("layer expands beyond the limit of {0} bytes")]
    TooLarge(u64),
    /// A container process that failed before its exec: where, the errno,
    /// and what went wrong (the helper's words, or the errno's text).
    #[error("{stage}: {message}")]
    Spawn {
        stage: crate::process::Stage,
        errno: i32,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        // An error that came from inside a reader chain may already be one of ours.
        if source.get_ref().is_some_and(|e| e.is::<Error>()) {
            let inner = source.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The errno behind an I/O error, if any (ENOSPC maps to its own exception).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Spawn { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Adds context to io results: `op().ctx(|| format!("open {path}"))?`.
pub trait Context<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}

#[cfg(feature = "python")]
pub use python::without_gil;

#[cfg(feature = "python")]
mod python {
    use pyo3::marker::Ungil;
    use pyo3::{PyErr, PyResult, Python};

    use super::{Error, Result};

    /// The body of a binding that hands its (owned, plain) arguments to the
    /// crate: `work` runs with the GIL released, and its error is raised as
    /// the Python exception below. Called from a binding, so attached already:
    /// `attach` only borrows that.
    pub fn without_gil<T, F>(work: F) -> PyResult<T>
    where
        F: Ungil + FnOnce() -> Result<T>,
        Result<T>: Ungil,
    {
        Ok(Python::attach(|py| py.detach(work))?)
    }

    pyo3::import_exception!(ketch.errors, LayerError);
    pyo3::import_exception!(ketch.errors, DigestMismatchError);
    pyo3::import_exception!(ketch.errors, NoSpaceError);
    pyo3::import_exception!(ketch.errors, SpawnError);

    impl From<Error> for PyErr {
        fn from(e: Error) -> PyErr {
            let msg = e.to_string();
            match e {
                Error::DigestMismatch { .. } => DigestMismatchError::new_err(msg),
                Error::BadLayer(_) | Error::TooLarge(_) => LayerError::new_err(msg),
                Error::Invalid(_) => pyo3::exceptions::PyValueError::new_err(msg),
                Error::Spawn {
                    stage,
                    errno,
                    message,
                } => SpawnError::new_err((stage.name(), errno, message)),
                Error::Io { .. } if e.raw_os_error() == Some(libc::ENOSPC) => {
                    NoSpaceError::new_err(msg)
                }
                Error::Io { source, .. } => {
                    pyo3::exceptions::PyOSError::new_err((source.raw_os_error().unwrap_or(0), msg))
                }
            }
        }
    }
}
