//! The Python face of process/: `_native.spawn`, `exec_in`, `wait`,
//! `process_config`, `ready_report`. Each takes `ProcessConfig.to_json()`
//! (python/ketch/models/container.py); descriptors come as arguments.

use pyo3::prelude::*;

use crate::error::without_gil;

use super::Config;

/// A report read from a report pipe (the monitor's ready answer):
/// (None, 0, pid, "") when the process runs, (stage, errno, 0, message)
/// where it failed; None for less than a whole report (its writer died).
#[pyfunction]
pub fn ready_report(data: &[u8]) -> Option<(Option<&'static str>, i32, i32, String)> {
    match super::report::decode(data)? {
        super::report::Report::Started(pid) => Some((None, 0, pid, String::new())),
        super::report::Report::Failed {
            stage,
            errno,
            message,
        } => Some((Some(stage.name()), errno, 0, message)),
    }
}

/// Parses a process configuration as `spawn` would, and returns it
/// re-serialised: what the helper gets.
#[pyfunction]
pub fn process_config(process: &str) -> PyResult<String> {
    Ok(Config::from_json(process)?.to_json())
}

/// Starts a new container's process described by `process`; returns its
/// pid once it has exec'd (SpawnError((stage, errno, message)) if it could
/// not). With `tty_socket`, it gets a pty from its own devpts and sends the
/// master side there. `stdio`: three descriptors for its 0, 1 and 2 (None:
/// its own /dev/null).
#[pyfunction]
// text_signature: pyo3 shows a negative default as `...` in __text_signature__.
#[pyo3(signature = (process, tty_socket=-1, stdio=None),
       text_signature = "(process, tty_socket=-1, stdio=None)")]
pub fn spawn(process: &str, tty_socket: i32, stdio: Option<[i32; 3]>) -> PyResult<i32> {
    let config = with_fds(process, tty_socket, stdio)?;
    without_gil(|| super::spawn(&config))
}

/// Runs `process` (without a `container` part) inside the running
/// container whose init is `pid` (`ketch exec`); returns the pid to wait
/// for. Raises SpawnError like `spawn`; `tty_socket` and `stdio` as there.
#[pyfunction]
#[pyo3(signature = (pid, process, tty_socket=-1, stdio=None),
       text_signature = "(pid, process, tty_socket=-1, stdio=None)")]
pub fn exec_in(pid: i32, process: &str, tty_socket: i32, stdio: Option<[i32; 3]>) -> PyResult<i32> {
    let config = with_fds(process, tty_socket, stdio)?;
    without_gil(|| super::exec_in(pid, &config))
}

/// `process` parsed, with the descriptors given beside it.
fn with_fds(process: &str, tty_socket: i32, stdio: Option<[i32; 3]>) -> PyResult<Config> {
    let mut config = Config::from_json(process)?;
    config.tty_socket = tty_socket;
    if let Some(fds) = stdio {
        config.stdio = fds;
    }
    Ok(config)
}

/// Waits for a child: its exit code as docker reports it (128 + signal
/// when killed), or None when a signal interrupted the wait.
#[pyfunction]
pub fn wait(pid: i32) -> PyResult<Option<i32>> {
    without_gil(|| super::wait(pid))
}
