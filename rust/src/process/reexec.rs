//! The process that crosses into a container is never a copy of the caller.
//!
//! `spawn` and `exec_in` are called from the Python interpreter (the CLI) or
//! from the monitor program. A plain fork of either would enter the
//! container with `/proc/self/exe` pointing at a host binary: an image whose
//! command is a script starting `#!/proc/self/exe` would then run the host's
//! interpreter inside the container (loading the container's libraries), and
//! a process there could open that binary through `/proc/<pid>/exe` and
//! rewrite it later (the CVE-2019-5736 class). So the child of the clone
//! does one thing before anything else: it re-executes a sealed, in-memory
//! copy of the small static `ketch-monitor` program (a memfd that nobody can
//! write, shrink or grow), handing it the process's configuration as JSON
//! and its descriptors as numbers. That helper, a fresh single-threaded
//! process, closes every other descriptor it inherited before it touches a
//! path, sets the container up and execs the container's command.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::process::config::Config;
use crate::process::report::{report, Stage};
use crate::process::{clone, exec};

/// argv[0] of the helper: how the monitor program knows it is asked to be one.
pub const HELPER_ARGV0: &str = "ketch-init";

const MFD_CLOEXEC: libc::c_uint = 0x1;
const MFD_ALLOW_SEALING: libc::c_uint = 0x2;
const MFD_EXEC: libc::c_uint = 0x10;
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn memfd(name: &std::ffi::CStr, flags: libc::c_uint) -> Result<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) } as RawFd;
    if fd < 0 {
        return Err(Error::io("memfd_create", io::Error::last_os_error()));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A sealed memfd holding a copy of `program`.
fn sealed_copy(program: &Path) -> Result<OwnedFd> {
    let mut src = std::fs::File::open(program).map_err(|e| {
        Error::io(
            format!(
                "open {} (the helper that starts container processes; scripts/setup.sh builds it)",
                program.display()
            ),
            e,
        )
    })?;
    let fd = match memfd(c"ketch-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC) {
        Ok(fd) => fd,
        // A kernel older than MFD_EXEC (6.3): memfds are executable by default there.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            memfd(c"ketch-init", MFD_CLOEXEC | MFD_ALLOW_SEALING)?
        }
        Err(e) => return Err(e),
    };
    let mut dst = std::fs::File::from(fd);
    io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy the helper into a memfd", e))?;
    let fd = OwnedFd::from(dst);
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(Error::io(
            "seal the helper's memfd",
            io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

/// What the child of the clone needs to become the helper, prepared before
/// the clone (after it, the child of a threaded process may only make
/// async-signal-safe calls).
pub struct Reexec {
    /// A copy of its own for each process started: a monitor that kept one
    /// would hold ~2 MB of memory for its container's whole life.
    helper: OwnedFd,
    _config: OwnedFd,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// Descriptors the helper gets (their close-on-exec flag is cleared in the child).
    keep: Vec<RawFd>,
    err_fd: RawFd,
    detached: bool,
}

/// `mode`: "spawn" (a new container) or "exec" (into the container whose init is `exec_pid`).
pub fn prepare(config: &Config, mode: &str, err_fd: RawFd, exec_pid: i32) -> Result<Reexec> {
    let helper = sealed_copy(&config.helper)?;
    let text = config.to_json();
    let cfg = memfd(c"ketch-config", MFD_CLOEXEC)?;
    let mut f = std::fs::File::from(cfg);
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io("write the process configuration", e))?;
    let cfg = OwnedFd::from(f);
    if unsafe { libc::lseek(cfg.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(Error::io(
            "rewind the process configuration",
            io::Error::last_os_error(),
        ));
    }
    let [s0, s1, s2] = config.stdio;
    let numbers = [
        cfg.as_raw_fd(),
        err_fd,
        config.tty_socket,
        s0,
        s1,
        s2,
        exec_pid,
    ];
    let mut argv = vec![
        CString::new(HELPER_ARGV0).unwrap(),
        CString::new(mode).unwrap(),
    ];
    argv.extend(numbers.iter().map(|n| CString::new(n.to_string()).unwrap()));
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let keep = numbers[..6].iter().copied().filter(|fd| *fd >= 0).collect();
    // (The JSON holds no descriptors: they travel as the numbers above.)
    Ok(Reexec {
        helper,
        _config: cfg,
        _argv: argv,
        argv_ptrs,
        keep,
        err_fd,
        detached: config.detached,
    })
}

/// In the child of the clone: exec the helper.
///
/// # Safety
/// Only in the child of a clone/fork of a possibly threaded process: it
/// makes async-signal-safe calls only, and never returns.
pub unsafe fn become_helper(r: &Reexec) -> ! {
    if !r.detached {
        // Survives the exec: die with the caller rather than run on unwatched.
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    for fd in &r.keep {
        libc::fcntl(*fd, libc::F_SETFD, 0);
    }
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    libc::syscall(
        libc::SYS_execveat,
        r.helper.as_raw_fd(),
        c"".as_ptr(),
        r.argv_ptrs.as_ptr(),
        envp.as_ptr(),
        libc::AT_EMPTY_PATH,
    );
    let err = *libc::__errno_location();
    report(r.err_fd, Stage::Helper, err, b"");
    libc::_exit(125)
}

/// Closes every descriptor but `keep` (sorted).
fn close_all_but(keep: &[RawFd]) {
    let mut from: u32 = 0;
    for fd in keep {
        let fd = *fd as u32;
        if fd > from {
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32) };
        }
        from = fd + 1;
    }
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32) };
}

fn arg(args: &[String], i: usize) -> RawFd {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        eprintln!("{HELPER_ARGV0}: this program is started by ketch, not by hand");
        std::process::exit(2)
    })
}

/// The helper's main: `ketch-init MODE CONFIG_FD ERR_FD TTY_FD STDIN STDOUT STDERR EXEC_PID`.
pub fn helper_main(args: &[String]) -> ! {
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    if mode != "spawn" && mode != "exec" {
        eprintln!("{HELPER_ARGV0}: this program is started by ketch, not by hand");
        std::process::exit(2)
    }
    let numbers: Vec<RawFd> = (2..9).map(|i| arg(args, i)).collect();
    // Signals as a new process has them: the caller (Python, the Rust
    // runtime) ignores SIGPIPE and SIGXFSZ, and an ignored signal stays
    // ignored across exec.
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    let exec_pid = numbers[6];
    // The descriptors we were given, moved above the standard ones; then
    // every other inherited descriptor is closed before any path is touched
    // (a leaked directory descriptor must not become a way out).
    let moved: Vec<RawFd> = numbers[..6]
        .iter()
        .map(|fd| {
            if *fd < 0 {
                -1
            } else {
                unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10) }
            }
        })
        .collect();
    let mut keep: Vec<RawFd> = moved.iter().copied().filter(|fd| *fd >= 0).collect();
    keep.sort_unstable();
    close_all_but(&keep);
    // 0, 1 and 2 are /dev/null until the process gets its own (the host's
    // here, before the container's root: `enter` replaces every one of them).
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    if null == 0 {
        unsafe {
            libc::dup2(0, 1);
            libc::dup2(0, 2);
        }
    }
    let (cfg, err_fd, tty_socket) = (moved[0], moved[1], moved[2]);
    if err_fd < 0 {
        std::process::exit(2)
    }
    let fail = |stage: Stage, e: &Error| -> ! {
        let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
        report(err_fd, stage, errno, e.to_string().as_bytes());
        std::process::exit(125)
    };
    let mut text = String::new();
    if cfg < 0 {
        fail(
            Stage::Prepare,
            &Error::Invalid("no process configuration".into()),
        );
    }
    let mut f = unsafe { std::fs::File::from_raw_fd(cfg) };
    if let Err(e) = f.read_to_string(&mut text) {
        fail(
            Stage::Prepare,
            &Error::io("read the process configuration", e),
        );
    }
    drop(f);
    let mut config = Config::from_json(&text).unwrap_or_else(|e| fail(Stage::Prepare, &e));
    // -1: the container's own /dev/null (never the caller's own files).
    config.stdio = [moved[3], moved[4], moved[5]];
    config.tty_socket = tty_socket;
    let r = match mode {
        "spawn" => clone::helper_spawn(&config, err_fd),
        _ => exec::helper_exec(&config, err_fd, exec_pid),
    };
    match r {
        Ok(never) => match never {},
        Err(e) => fail(Stage::Prepare, &e),
    }
}
