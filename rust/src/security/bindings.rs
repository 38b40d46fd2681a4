//! The Python face of security/: docker's default capabilities, and the
//! BPF program a flattened seccomp profile compiles to (for tests and
//! `ketch` itself to inspect; spawn compiles its own from the Config).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{capabilities, seccomp};
use crate::error::Error;

/// Docker's default capability set, as a bit mask.
#[pyfunction]
pub fn docker_caps() -> u64 {
    capabilities::DOCKER_CAPS
}

/// The BPF program (struct sock_filter array) `profile` (the JSON of
/// `seccomp.compile_rules`'s result) compiles to, for this machine or a
/// host family ("x86_64", "aarch64").
#[pyfunction]
#[pyo3(signature = (profile, host=None))]
pub fn seccomp_program<'py>(
    py: Python<'py>,
    profile: &str,
    host: Option<&str>,
) -> PyResult<Bound<'py, PyBytes>> {
    let p: seccomp::Profile = serde_json::from_str(profile)
        .map_err(|e| Error::Invalid(format!("invalid seccomp profile: {e}")))?;
    let prog = match host {
        None => seccomp::compile(&p)?,
        Some(h) => {
            let h = seccomp::Host::parse(h)
                .ok_or_else(|| Error::Invalid(format!("unknown host {h:?}")))?;
            seccomp::compile_for(&p, h)?
        }
    };
    Ok(PyBytes::new(py, &seccomp::Insn::bytes(&prog)))
}
