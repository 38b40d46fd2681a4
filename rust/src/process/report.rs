//! How a container process that failed before its exec says so: one
//! message (stage, errno, pid, text) in one write on a close-on-exec pipe;
//! the pipe closed with nothing in it means the exec succeeded. The writing
//! side allocates nothing (it runs in the child of a clone, and in the
//! helper on its way to the exec). The monitor answers its caller on the
//! same protocol: stage 0 with the container's pid once it runs
//! (`report_started`), or where it failed (`decode` reads both).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::prepare::Prepared;
use crate::sys::errno;

/// Where a child failed (reported with errno over the pipe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    Cgroup = 1,
    MountPrivate,
    MountRoot,
    BindFile,
    PivotRoot,
    MountProc,
    MountDev,
    MountSys,
    Hostname,
    Loopback,
    Capabilities,
    SetUser,
    Workdir,
    Exec,
    JoinNamespaces,
    Seccomp,
    Helper,
    Prepare,
    Rlimits,
    Sysctl,
    Devices,
    CgroupMount,
    /// Keep last: `from_u32` checks against it.
    Volumes,
}

impl Stage {
    fn from_u32(v: u32) -> Option<Stage> {
        // The value comes from our own child (same binary), but is checked anyway.
        (Stage::Cgroup as u32..=Stage::Volumes as u32)
            .contains(&v)
            .then(|| unsafe { std::mem::transmute::<u32, Stage>(v) })
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Cgroup => "join the container's cgroups",
            Stage::MountPrivate => "make mounts private",
            Stage::MountRoot => "mount the root filesystem",
            Stage::BindFile => "bind-mount a file into the container",
            Stage::PivotRoot => "pivot_root",
            Stage::MountProc => "mount /proc",
            Stage::MountDev => "set up /dev",
            Stage::MountSys => "mount /sys",
            Stage::Hostname => "set the hostname",
            Stage::Loopback => "bring up lo",
            Stage::Capabilities => "set capabilities",
            Stage::SetUser => "set user and groups",
            Stage::Workdir => "enter the working directory",
            Stage::Exec => "exec",
            Stage::JoinNamespaces => "join the container's namespaces",
            Stage::Seccomp => "install the seccomp filter",
            Stage::Helper => "start the container's helper",
            Stage::Prepare => "prepare the container process",
            Stage::Rlimits => "set resource limits (--ulimit)",
            Stage::Sysctl => "write a sysctl (--sysctl)",
            Stage::Devices => "make a device node (--device)",
            Stage::CgroupMount => "mount /sys/fs/cgroup",
            Stage::Volumes => "mount a volume",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The header of a report: stage (u32; 0: started), errno (i32), pid (i32),
/// native-endian; the text follows.
const HEADER: usize = 12;
const MAX: usize = 512;

fn send(fd: RawFd, stage: u32, err: i32, pid: i32, message: &[u8]) {
    let mut msg = [0u8; MAX];
    msg[..4].copy_from_slice(&stage.to_ne_bytes());
    msg[4..8].copy_from_slice(&err.to_ne_bytes());
    msg[8..12].copy_from_slice(&pid.to_ne_bytes());
    let n = message.len().min(MAX - HEADER);
    msg[HEADER..HEADER + n].copy_from_slice(&message[..n]);
    unsafe { libc::write(fd, msg.as_ptr().cast(), HEADER + n) };
}

/// Sends (stage, errno, message) to the parent over the error pipe, in one
/// write (without allocating: it is called from the child of a clone too).
pub(crate) fn report(err_fd: RawFd, stage: Stage, err: i32, message: &[u8]) {
    send(err_fd, stage as u32, err, 0, message);
}

/// The monitor's answer once its container runs as `pid`.
pub(crate) fn report_started(fd: RawFd, pid: i32) {
    send(fd, 0, 0, pid, b"");
}

/// What a report says: the process runs as a pid, or where it failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    Started(i32),
    Failed {
        stage: Stage,
        errno: i32,
        message: String,
    },
}

/// One report read back; None for nothing or less than a header (the
/// writer died first).
pub fn decode(msg: &[u8]) -> Option<Report> {
    if msg.len() < HEADER {
        return None;
    }
    let word = |i: usize| <[u8; 4]>::try_from(&msg[i..i + 4]).unwrap();
    let (stage, err, pid) = (
        u32::from_ne_bytes(word(0)),
        i32::from_ne_bytes(word(4)),
        i32::from_ne_bytes(word(8)),
    );
    if stage == 0 {
        return Some(Report::Started(pid));
    }
    let message = if msg.len() > HEADER {
        String::from_utf8_lossy(&msg[HEADER..]).into_owned()
    } else {
        io::Error::from_raw_os_error(err).to_string()
    };
    Some(Report::Failed {
        stage: Stage::from_u32(stage).unwrap_or(Stage::Exec),
        errno: err,
        message,
    })
}

/// Reports (stage, errno) to the parent and exits.
pub(crate) fn fail(p: &Prepared, stage: Stage, err: i32) -> ! {
    report(p.err_fd, stage, err, b"");
    unsafe {
        libc::_exit(match (stage, err) {
            (Stage::Exec, libc::ENOENT) => 127,
            (Stage::Exec, _) => 126,
            _ => 125,
        })
    }
}

pub(crate) fn ok(p: &Prepared, stage: Stage, r: libc::c_int) {
    if r < 0 {
        fail(p, stage, errno());
    }
}

/// What a child reported before its exec: nothing (the pipe closed on exec)
/// means it runs as `pid`; else (stage, errno, message), and the child is reaped.
pub(crate) fn read_report(rd: &OwnedFd, pid: i32) -> Result<i32> {
    let mut msg = [0u8; 512];
    let mut got = 0usize;
    while got < msg.len() {
        let n = unsafe {
            libc::read(
                rd.as_raw_fd(),
                msg[got..].as_mut_ptr().cast(),
                msg.len() - got,
            )
        };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got == 0 {
        return Ok(pid);
    }
    // The child exits right after reporting: reap it.
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match decode(&msg[..got]) {
        Some(Report::Failed {
            stage,
            errno,
            message,
        }) => Err(Error::Spawn {
            stage,
            errno,
            message,
        }),
        _ => Err(Error::Spawn {
            stage: Stage::Helper,
            errno: libc::EPROTO,
            message: io::Error::from_raw_os_error(libc::EPROTO).to_string(),
        }),
    }
}
