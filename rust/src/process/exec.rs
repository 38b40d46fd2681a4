//! `ketch exec`: a process in the namespaces and cgroups of a running
//! container, through the same sealed helper as a new container's.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::child::{enter, exec_command, join_cgroups};
use crate::process::config::Config;
use crate::process::prepare::Prepared;
use crate::process::reexec;
use crate::process::report::{fail, ok, read_report, Stage};
use crate::sys::{errno, pipe};
use crate::tty::open_container_pty;

/// Runs a process in the namespaces and cgroups of the running container
/// whose init is `pid` (`ketch exec`): joins its cgroups, then its cgroup,
/// ipc, uts, net, pid and mount namespaces, forks once more so the process is
/// inside the pid namespace, and becomes `config`'s process there (same
/// capabilities, user and environment rules as `spawn`). Returns the pid of
/// the intermediate child, which exits with the process's exit code.
pub fn exec_in(pid: i32, config: &Config) -> Result<i32> {
    if config.container.is_some() {
        return Err(Error::Invalid(
            "invalid process configuration: a process exec'd into a running container has no `container` part".into(),
        ));
    }
    let (rd, wr) = pipe()?;
    let reexec = reexec::prepare(config, "exec", wr.as_raw_fd(), pid)?;
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::io("fork", io::Error::last_os_error()));
    }
    if child == 0 {
        unsafe { reexec::become_helper(&reexec) }
    }
    drop(wr);
    read_report(&rd, child)
}

/// In the helper: joins the container whose init is `pid` and runs the
/// process there (see `exec_in`).
pub fn helper_exec(config: &Config, err_fd: RawFd, pid: i32) -> Result<std::convert::Infallible> {
    // Until its exec, this process must not be open to the container's
    // processes (its /proc/<pid>/exe, its memory).
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let prepared = Prepared::new(config, err_fd)?;
    let mut ns = Vec::new();
    for name in ["cgroup", "ipc", "uts", "net", "pid", "mnt"] {
        let path = format!("/proc/{pid}/ns/{name}");
        let f = std::fs::File::open(&path).map_err(|e| Error::io(format!("open {path}"), e))?;
        ns.push(OwnedFd::from(f));
    }
    unsafe { exec_child(&prepared, &ns) }
}

/// The process exec'd into a container. Everything privileged happens here,
/// in the middle process, which stays in the host's pid namespace where the
/// container cannot see it: the namespaces, the descriptors, the
/// capabilities, the filter, the user, the working directory. Only then
/// does it fork the process into the container's pid namespace, which has
/// nothing left to do but exec (a container process allowed to ptrace finds
/// it no stronger than itself), and relays signals and its exit status.
unsafe fn exec_child(p: &Prepared, ns: &[OwnedFd]) -> ! {
    join_cgroups(p);
    for fd in ns {
        ok(p, Stage::JoinNamespaces, libc::setns(fd.as_raw_fd(), 0));
    }
    let tty = p.tty_socket >= 0;
    let stdio = if tty {
        let slave = open_container_pty(p);
        [slave, slave, slave]
    } else {
        p.stdio
    };
    enter(p, stdio);
    // setns(pid) places our children, not us: fork once more.
    let grandchild = libc::fork();
    if grandchild < 0 {
        fail(p, Stage::Exec, errno());
    }
    if grandchild == 0 {
        if !p.detached {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        exec_command(p, tty);
    }
    // The middle process only relays signals and the exit status; it must
    // not report success on the pipe, nor hold the process's stdio open.
    libc::close(p.err_fd);
    for fd in 0..3 {
        libc::close(fd);
    }
    RELAY_TO.store(grandchild, std::sync::atomic::Ordering::SeqCst);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        libc::signal(sig, relay_signal as *const () as libc::sighandler_t);
    }
    let mut status = 0;
    while libc::waitpid(grandchild, &mut status, 0) < 0 {
        if errno() != libc::EINTR {
            libc::_exit(125);
        }
    }
    if libc::WIFEXITED(status) {
        libc::_exit(libc::WEXITSTATUS(status));
    }
    libc::_exit(128 + libc::WTERMSIG(status))
}

/// The process exec'd into a container, for the middle's signal relay.
static RELAY_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn relay_signal(sig: libc::c_int) {
    let pid = RELAY_TO.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        unsafe { libc::kill(pid, sig) };
    }
}
