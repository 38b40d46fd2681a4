//! The container's /dev.

use std::ffi::CString;
use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::rootfs::mounts::path_steps;
use crate::sys::{errno, mkdir, mount, open_in_root};

/// /dev. Device access is decided by mount flags rather than a devices
/// cgroup (which cgroup v2 only offers as an eBPF program): every filesystem
/// the container can write is `nodev` (the root, /dev itself, tmpfs mounts,
/// volumes), and the few devices it gets are bind mounts of nodes made here,
/// each its own mount without `nodev`. A node the container makes with
/// CAP_MKNOD (the host's console, a disk) cannot be opened. --privileged
/// gets the host's devices (devtmpfs) and no `nodev` anywhere.
pub(crate) unsafe fn setup_dev(p: &Prepared) {
    let none = c"";
    mkdir(c"/dev", 0o755);
    if p.privileged {
        ok(
            p,
            Stage::MountDev,
            mount(c"devtmpfs", c"/dev", c"devtmpfs", libc::MS_NOSUID, none),
        );
        // devtmpfs is the host's own: nothing is made in it (Python refuses
        // a --device to another path with --privileged).
        setup_dev_mounts(p);
        return;
    }
    ok(
        p,
        Stage::MountDev,
        mount(
            c"tmpfs",
            c"/dev",
            c"tmpfs",
            libc::MS_NOSUID,
            c"mode=755,size=65536k",
        ),
    );
    for (path, major, minor) in [
        (c"/dev/null", 1, 3),
        (c"/dev/zero", 1, 5),
        (c"/dev/full", 1, 7),
        (c"/dev/random", 1, 8),
        (c"/dev/urandom", 1, 9),
        (c"/dev/tty", 5, 0),
    ] {
        ok(
            p,
            Stage::MountDev,
            libc::mknod(
                path.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major, minor),
            ),
        );
        libc::chmod(path.as_ptr(), 0o666);
        ok(
            p,
            Stage::MountDev,
            mount(path, path, none, libc::MS_BIND, none),
        );
    }
    make_devices(p);
    ok(
        p,
        Stage::MountDev,
        mount(
            none,
            c"/dev",
            none,
            libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=755,size=65536k",
        ),
    );
    setup_dev_mounts(p);
}

/// A --device node, prepared: its parents under /dev, its path, type and number.
pub(crate) struct PreparedDevice {
    steps: Vec<CString>,
    path: CString,
    mode: libc::mode_t,
    dev: libc::dev_t,
}

impl PreparedDevice {
    pub(crate) fn new(d: &(String, String, u32, u32, u32)) -> Result<PreparedDevice> {
        let (path, kind, major, minor, mode) = d;
        let (steps, target) = path_steps(path)?;
        if !path.starts_with("/dev/") || steps.is_empty() {
            return Err(Error::Invalid(format!(
                "a device goes under /dev: {path:?}"
            )));
        }
        let kind = match kind.as_str() {
            "c" => libc::S_IFCHR,
            "b" => libc::S_IFBLK,
            _ => return Err(Error::Invalid(format!("not a device type: {kind:?}"))),
        };
        Ok(PreparedDevice {
            steps: steps[1..].to_vec(), // "/dev" itself is there
            path: target,
            mode: kind | (mode & 0o777),
            dev: libc::makedev(*major, *minor),
        })
    }
}

/// --device: each node made in the container's /dev (its directories too)
/// and, as the default nodes are, bind-mounted onto itself so that /dev's
/// `nodev` does not cover it. Which of r, w and m it may do is the devices
/// cgroup's (v1; Python writes its rules); /dev's path checks are here: the
/// directories are made in the fresh tmpfs, the node with O_EXCL semantics
/// (mknod fails on anything already there).
unsafe fn make_devices(p: &Prepared) {
    let none = c"";
    for d in &p.devices {
        for step in &d.steps {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::lstat(step.as_ptr(), &mut st) == 0 {
                if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    fail(p, Stage::Devices, libc::ENOTDIR);
                }
            } else {
                ok(p, Stage::Devices, libc::mkdir(step.as_ptr(), 0o755));
            }
        }
        if libc::mknod(d.path.as_ptr(), d.mode, d.dev) < 0 {
            let e = errno();
            let mut st: libc::stat = std::mem::zeroed();
            let same = e == libc::EEXIST
                && libc::lstat(d.path.as_ptr(), &mut st) == 0
                && st.st_mode & libc::S_IFMT == d.mode & libc::S_IFMT
                && st.st_rdev == d.dev;
            if same {
                continue; // one of the default nodes (/dev/null...), already there
            }
            fail(p, Stage::Devices, e);
        }
        libc::chmod(d.path.as_ptr(), d.mode & 0o777);
        ok(
            p,
            Stage::Devices,
            mount(&d.path, &d.path, none, libc::MS_BIND, none),
        );
    }
}

/// What goes into /dev either way: pts, ptmx, shm, mqueue, the fd links.
unsafe fn setup_dev_mounts(p: &Prepared) {
    let none = c"";
    mkdir(c"/dev/pts", 0o755);
    ok(
        p,
        Stage::MountDev,
        mount(
            c"devpts",
            c"/dev/pts",
            c"devpts",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
    );
    libc::symlink(c"pts/ptmx".as_ptr(), c"/dev/ptmx".as_ptr());
    mkdir(c"/dev/shm", 0o1777);
    ok(
        p,
        Stage::MountDev,
        mount(
            c"shm",
            c"/dev/shm",
            c"tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            &p.shm_opts,
        ),
    );
    mkdir(c"/dev/mqueue", 0o755);
    mount(
        c"mqueue",
        c"/dev/mqueue",
        c"mqueue",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        none,
    );
    for (link, target) in [
        (c"/dev/fd", c"/proc/self/fd"),
        (c"/dev/stdin", c"/proc/self/fd/0"),
        (c"/dev/stdout", c"/proc/self/fd/1"),
        (c"/dev/stderr", c"/proc/self/fd/2"),
    ] {
        libc::symlink(target.as_ptr(), link.as_ptr());
    }
}

/// The container's null device for a stdio slot the caller left empty: its
/// own /dev/null, checked to be the null device (never the host's node, on
/// which a chmod from the container would reach the host).
pub(crate) unsafe fn container_null(p: &Prepared, root: RawFd) -> RawFd {
    let fd = open_in_root(
        root,
        c"/dev/null",
        libc::O_RDWR | libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        0,
    );
    ok(p, Stage::Exec, fd);
    let mut st: libc::stat = std::mem::zeroed();
    ok(p, Stage::Exec, libc::fstat(fd, &mut st));
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        fail(p, Stage::Exec, libc::ENXIO);
    }
    fd
}
