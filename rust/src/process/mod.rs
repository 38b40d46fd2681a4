//! A container's process: the contract Python hands over (config), what is
//! prepared from it before anything starts (prepare), the clone of a new
//! container (clone) or the entry into a running one (exec), both through
//! the sealed helper (reexec), the helper's way from there to the exec
//! (child), and how a failure before the exec is reported (report).

#[cfg(feature = "python")]
pub mod bindings;
pub(crate) mod child;
pub(crate) mod clone;
pub mod config;
pub(crate) mod exec;
pub(crate) mod flags;
pub(crate) mod prepare;
pub mod reexec;
pub mod report;

use std::io;

pub use clone::spawn;
pub use config::{Config, NewContainer, INHERIT};
pub use exec::exec_in;
pub use report::Stage;

use crate::error::{Error, Result};

/// Waits for `pid`; Some(exit code as docker reports it: the status, or
/// 128 + signal), or None if interrupted by a signal (EINTR) so the caller can
/// run its handlers and wait again.
pub fn wait(pid: i32) -> Result<Option<i32>> {
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(None);
        }
        return Err(Error::io(format!("wait for {pid}"), e));
    }
    Ok(Some(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        0
    }))
}
