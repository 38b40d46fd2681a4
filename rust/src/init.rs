//! `--init`: the container's pid 1 when the user asks for one, as docker's
//! `docker-init` (tini) is. `ketch-monitor` becomes it when it is started as
//! `/sbin/docker-init` (the program bind-mounted read-only there,
//! runtime/mounts.py init_binary), so the host needs no init package.
//!
//! What it does, and nothing more: it starts `COMMAND` as its only child
//! (in a process group of its own, the terminal's foreground group when
//! there is one), forwards every signal it receives to that child, reaps
//! every process that ends under it (orphans are re-parented to pid 1), and
//! exits with the child's code (128 + N when the child died of signal N).
//!
//! Signals are blocked and taken with `sigtimedwait` rather than handled:
//! a pid 1 of a pid namespace is sent only the signals it handles or
//! blocks, and a blocked signal waits, so none is lost between two waits.

use std::io;

use crate::sys::CArgv;

/// The program's name in the container: the mode the monitor program takes.
pub const INIT_NAME: &str = "docker-init";

/// Whether `argv0` asks for the init (`/sbin/docker-init`, `docker-init`).
pub fn is_init(argv0: &str) -> bool {
    argv0.rsplit('/').next() == Some(INIT_NAME)
}

/// Signals raised by a fault of the init itself: never blocked (blocking
/// them would turn a crash into a hang).
const SYNCHRONOUS: [libc::c_int; 7] = [
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// The command of `docker-init [--] COMMAND [ARG...]`.
pub fn command(args: &[String]) -> Option<&[String]> {
    let rest = args.get(1..).unwrap_or(&[]);
    let rest = match rest.first() {
        Some(first) if first == "--" => &rest[1..],
        _ => rest,
    };
    (!rest.is_empty()).then_some(rest)
}

/// docker's code for a process that ended with wait status `status`.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{INIT_NAME}: {msg}");
    std::process::exit(1)
}

/// Runs the init: `args` is its argv. Never returns.
pub fn main(args: &[String]) -> ! {
    let Some(cmd) = command(args) else {
        fail("usage: docker-init [--] COMMAND [ARG...]")
    };
    // Everything the child needs, made before the fork.
    let argv = CArgv::new(cmd).unwrap_or_else(|e| fail(&e.to_string()));

    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        for s in SYNCHRONOUS {
            libc::sigdelset(&mut all, s);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut previous);
        // Making the child the terminal's foreground group from the background
        // would stop the init with SIGTTOU.
        libc::signal(libc::SIGTTIN, libc::SIG_IGN);
        libc::signal(libc::SIGTTOU, libc::SIG_IGN);
    }

    let child = unsafe { libc::fork() };
    if child < 0 {
        fail(&format!("fork: {}", io::Error::last_os_error()));
    }
    if child == 0 {
        unsafe {
            libc::setpgid(0, 0);
            // Only when there is a terminal; ENOTTY otherwise, which is fine.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
            libc::signal(libc::SIGTTIN, libc::SIG_DFL);
            libc::signal(libc::SIGTTOU, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            libc::execvp(argv.program(), argv.as_ptr());
        }
        let e = io::Error::last_os_error();
        eprintln!("{INIT_NAME}: exec {} failed: {e}", cmd[0]);
        // docker's codes: 127 not found, 126 not executable.
        let code = match e.raw_os_error() {
            Some(libc::ENOENT) => 127,
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOEXEC) => 126,
            _ => 1,
        };
        unsafe { libc::_exit(code) }
    }

    let timeout = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        let sig = unsafe { libc::sigtimedwait(&all, std::ptr::null_mut(), &timeout) };
        if sig > 0 && sig != libc::SIGCHLD {
            // ESRCH (the child is already gone) is the only failure, and harmless.
            unsafe { libc::kill(child, sig) };
        }
        // On SIGCHLD, and on every timeout too: a SIGCHLD for two ends is one.
        if let Some(code) = reap(child) {
            std::process::exit(code)
        }
    }
}

/// Reaps every process that has ended; the child's code once it has.
fn reap(child: libc::pid_t) -> Option<i32> {
    let mut code = None;
    loop {
        let mut status = 0;
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            // 0: some still run; -1 (ECHILD): none left.
            return code;
        }
        if pid == child {
            code = Some(exit_code(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn its_name_and_its_command() {
        assert!(is_init("/sbin/docker-init"));
        assert!(is_init("docker-init"));
        assert!(!is_init("/usr/bin/ketch-monitor"));
        assert!(!is_init("ketch-init"));
        let a = argv(&["/sbin/docker-init", "--", "sh", "-c", "x"]);
        assert_eq!(command(&a).unwrap(), &a[2..]);
        let a = argv(&["/sbin/docker-init", "sleep", "1"]);
        assert_eq!(command(&a).unwrap(), &a[1..]);
        assert!(command(&argv(&["/sbin/docker-init", "--"])).is_none());
        assert!(command(&argv(&["/sbin/docker-init"])).is_none());
    }

    #[test]
    fn exit_codes_as_docker_reports_them() {
        // Wait statuses as the kernel encodes them: code << 8; a signal in the low bits.
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
