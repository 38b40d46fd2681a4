//! Starting a new container's process: clone() into new namespaces; the
//! child of the clone re-executes the sealed helper at once (reexec.rs),
//! which sets the container up (child.rs) and execs its command.
//!
//! After the clone, in a process that may have had other threads, the
//! child may only make async-signal-safe calls (no allocation, no locks):
//! everything it needs is prepared before (`reexec::prepare`).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::error::{Error, Result};
use crate::process::child::child;
use crate::process::config::Config;
use crate::process::prepare::Prepared;
use crate::process::reexec::{self, Reexec};
use crate::process::report::read_report;
use crate::sys::pipe;

const STACK_SIZE: usize = 1 << 20;

/// Starts the container process; returns its pid (in the caller's pid
/// namespace) once it has exec'd, or where and why it failed (Error::Spawn). The child of
/// the clone re-executes the sealed helper at once (reexec.rs), which sets
/// the container up from `config` and execs its command.
pub fn spawn(config: &Config) -> Result<i32> {
    let Some(k) = &config.container else {
        return Err(Error::Invalid(
            "invalid process configuration: a new container needs its `container` part".into(),
        ));
    };
    let (rd, wr) = pipe()?;
    let reexec = reexec::prepare(config, "spawn", wr.as_raw_fd(), 0)?;
    let mut flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::SIGCHLD;
    if k.new_net && k.netns.is_none() {
        flags |= libc::CLONE_NEWNET;
    }
    let pid = match clone3(flags as u64) {
        Some(0) => unsafe { reexec::become_helper(&reexec) },
        Some(pid) => pid,
        // No clone3 here (an old kernel, or a seccomp filter answering ENOSYS):
        // clone(2) with a stack of our own.
        // (Without CLONE_VM the child runs on its own copy of this stack.)
        None => unsafe {
            let mut stack = vec![0u8; STACK_SIZE];
            let top = stack.as_mut_ptr().add(STACK_SIZE) as *mut libc::c_void;
            libc::clone(
                child_main,
                top,
                flags,
                &reexec as *const Reexec as *mut libc::c_void,
            )
        },
    };
    if pid < 0 {
        return Err(Error::io("clone", io::Error::last_os_error()));
    }
    drop(wr);
    let report = read_report(&rd, pid);
    drop(reexec);
    report
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let r = unsafe { &*(arg as *const Reexec) };
    unsafe { reexec::become_helper(r) }
}

/// In the helper (a fresh process, single-threaded): the new container's
/// set-up, from the namespaces the clone made, to the exec.
pub fn helper_spawn(config: &Config, err_fd: RawFd) -> Result<std::convert::Infallible> {
    let prepared = Prepared::new(config, err_fd)?;
    unsafe { child(&prepared) }
}

/// struct clone_args (the fields up to `cgroup`, CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3 without CLONE_VM and without a new stack: like fork, the child
/// returns here with 0 on a copy of the caller's memory. `flags` may carry
/// the exit signal in its low byte, as clone(2) takes it. None where the
/// kernel has no clone3 (ENOSYS), or KETCH_NO_CLONE3 is set (to test the
/// fallback); Some(-1) with errno set on another failure.
fn clone3(flags: u64) -> Option<i32> {
    if std::env::var_os("KETCH_NO_CLONE3").is_some() {
        return None;
    }
    let args = CloneArgs {
        flags: flags & !0xff,
        exit_signal: flags & 0xff,
        ..Default::default()
    };
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return None;
    }
    Some(r as i32)
}
