//! docker's /proc and /sys, and the paths of them it hides or makes
//! read-only (none with --privileged).

use std::ffi::CStr;

use crate::process::prepare::Prepared;
use crate::process::report::{ok, Stage};
use crate::sys::{mkdir, mount};

/// Paths docker hides from containers (a file gets /dev/null, a directory an empty read-only tmpfs).
const MASKED: &[&CStr] = &[
    c"/proc/asound",
    c"/proc/acpi",
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/latency_stats",
    c"/proc/timer_list",
    c"/proc/timer_stats",
    c"/proc/sched_debug",
    c"/proc/scsi",
    c"/sys/firmware",
    c"/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only.
const READ_ONLY: &[&CStr] = &[
    c"/proc/bus",
    c"/proc/fs",
    c"/proc/irq",
    c"/proc/sys",
    c"/proc/sysrq-trigger",
];

const NSE: libc::c_ulong = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;

/// /proc and /sys (read-only unless --privileged), in the new root.
pub(crate) unsafe fn mount_proc_sys(p: &Prepared) {
    let none = c"";
    mkdir(c"/proc", 0o555);
    ok(
        p,
        Stage::MountProc,
        mount(c"proc", c"/proc", c"proc", NSE, none),
    );
    mkdir(c"/sys", 0o555);
    ok(
        p,
        Stage::MountSys,
        mount(
            c"sysfs",
            c"/sys",
            c"sysfs",
            if p.privileged {
                NSE
            } else {
                NSE | libc::MS_RDONLY
            },
            none,
        ),
    );
}

/// docker's masked paths (a file gets /dev/null, a directory an empty
/// read-only tmpfs) and read-only ones.
pub(crate) unsafe fn mask(p: &Prepared) {
    let none = c"";
    let (masked, read_only): (&[&CStr], &[&CStr]) = if p.privileged {
        (&[], &[])
    } else {
        (MASKED, READ_ONLY)
    };
    for path in masked {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) < 0 {
            continue;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(c"tmpfs", path, c"tmpfs", libc::MS_RDONLY, none);
        } else {
            mount(c"/dev/null", path, none, libc::MS_BIND, none);
        }
    }
    for path in read_only {
        if mount(path, path, none, libc::MS_BIND | libc::MS_REC, none) == 0 {
            mount(
                path,
                path,
                none,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | NSE,
                none,
            );
        }
    }
}
