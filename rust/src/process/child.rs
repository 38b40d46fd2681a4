//! The container process, from the namespaces the clone made to the exec:
//! the new container's set-up (`child`), and the steps every process in a
//! container ends with (`enter`, `exec_command`). This runs in the helper
//! (a fresh, single-threaded process: reexec.rs), and still allocates
//! nothing: everything it needs was prepared (prepare.rs).

use std::os::fd::{AsRawFd, RawFd};

use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::rootfs::dev::container_null;
use crate::sys::{errno, fd_path, mount, open_in_root};
use crate::tty::open_container_pty;

/// The first steps of both children: die with the parent (the monitor, or
/// the CLI in the foreground) rather than run on unwatched, then enter the
/// container's cgroups. (getppid() cannot check for a parent that died first:
/// in a new pid namespace it is 0.)
pub(crate) unsafe fn join_cgroups(p: &Prepared) {
    if p.detached {
        libc::setsid();
    } else {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    for fd in &p.cgroup_fds {
        // "0" is the writer itself.
        if libc::write(fd.as_raw_fd(), c"0".as_ptr().cast(), 1) < 0 {
            fail(p, Stage::Cgroup, errno());
        }
    }
}

pub(crate) unsafe fn child(p: &Prepared) -> ! {
    let none = c"";
    join_cgroups(p);
    if let Some(fd) = &p.netns_fd {
        ok(
            p,
            Stage::JoinNamespaces,
            libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET),
        );
    }
    ok(p, Stage::Cgroup, libc::unshare(libc::CLONE_NEWCGROUP));
    // Nothing mounted here may reach the host.
    ok(
        p,
        Stage::MountPrivate,
        mount(c"none", c"/", none, libc::MS_REC | libc::MS_PRIVATE, none),
    );
    crate::rootfs::overlay::mount_overlay(p);

    crate::rootfs::mounts::bind_files(p);

    ok(p, Stage::PivotRoot, libc::chdir(p.rootfs.as_ptr()));
    ok(
        p,
        Stage::PivotRoot,
        libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
    );
    ok(
        p,
        Stage::PivotRoot,
        libc::umount2(c".".as_ptr(), libc::MNT_DETACH),
    );
    ok(p, Stage::PivotRoot, libc::chdir(c"/".as_ptr()));

    // From here every path resolves inside the container.
    crate::rootfs::masked::mount_proc_sys(p);
    // --sysctl before mask() makes /proc/sys read-only; the cgroups on the fresh /sys
    crate::process::flags::write_sysctls(p);
    crate::rootfs::cgroup::mount_cgroups(p);
    crate::rootfs::dev::setup_dev(p);
    crate::rootfs::masked::mask(p);
    crate::rootfs::mounts::mount_volumes(p);

    let h = p.hostname.as_bytes();
    ok(
        p,
        Stage::Hostname,
        libc::sethostname(h.as_ptr().cast(), h.len()),
    );
    if p.new_net && p.netns_fd.is_none() {
        loopback_up(p);
    }

    if p.tty_socket >= 0 {
        let slave = open_container_pty(p);
        // -t: the pty is also the container's /dev/console, as docker has it.
        let file = libc::open(
            c"/dev/console".as_ptr(),
            libc::O_CREAT | libc::O_RDONLY | libc::O_CLOEXEC,
            0o600,
        );
        ok(p, Stage::MountDev, file);
        libc::close(file);
        let mut buf = [0u8; 32];
        ok(
            p,
            Stage::MountDev,
            libc::mount(
                fd_path(slave, &mut buf),
                c"/dev/console".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ),
        );
        become_process(p, [slave, slave, slave], true)
    }
    become_process(p, p.stdio, false)
}

pub(crate) unsafe fn loopback_up(p: &Prepared) {
    let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    ok(p, Stage::Loopback, s);
    let mut req: libc::ifreq = std::mem::zeroed();
    req.ifr_name[0] = b'l' as libc::c_char;
    req.ifr_name[1] = b'o' as libc::c_char;
    ok(
        p,
        Stage::Loopback,
        libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req),
    );
    req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    ok(p, Stage::Loopback, libc::ioctl(s, libc::SIOCSIFFLAGS, &req));
    libc::close(s);
}

/// The end of both paths (a new container, an exec into one).
pub(crate) unsafe fn become_process(p: &Prepared, stdio: [RawFd; 3], tty: bool) -> ! {
    enter(p, stdio);
    exec_command(p, tty)
}

/// Everything but the exec, in the root that is the container's by now:
/// stdio, capabilities, the seccomp filter, user, working directory.
/// What is left for the process is only `exec_command`, whose calls
/// every sane profile allows.
pub(crate) unsafe fn enter(p: &Prepared, stdio: [RawFd; 3]) {
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    ok(p, Stage::Workdir, root);
    // First the process's own 0, 1 and 2, and nothing else of ours but the
    // error pipe (close-on-exec): no descriptor of the host is open while
    // the working directory is looked up, nor after the exec.
    let mut null = -1;
    for (target, fd) in stdio.iter().enumerate() {
        let fd = if *fd >= 0 {
            *fd
        } else {
            if null < 0 {
                null = container_null(p, root);
            }
            null
        };
        if fd != target as RawFd {
            ok(p, Stage::Exec, libc::dup2(fd, target as RawFd));
        }
    }
    let keep = [root, p.err_fd];
    let (lo, hi) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
    libc::syscall(libc::SYS_close_range, 3u32, (lo - 1) as u32, 0u32);
    libc::syscall(
        libc::SYS_close_range,
        (lo + 1) as u32,
        (hi - 1) as u32,
        0u32,
    );
    libc::syscall(libc::SYS_close_range, (hi + 1) as u32, u32::MAX, 0u32);
    // --ulimit while still root with every capability (above a hard limit needs CAP_SYS_RESOURCE)
    crate::process::flags::set_rlimits(p);
    // Capabilities: the bounding set first (needs CAP_SETPCAP), then the user.
    crate::security::capabilities::drop_bounding(p);
    // The filter goes on while we still hold CAP_SYS_ADMIN, unless
    // no_new_privs lets it wait until the user is set (as runc does).
    if p.no_new_privileges {
        ok(
            p,
            Stage::Seccomp,
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        );
    } else if !p.seccomp.is_empty() {
        ok(
            p,
            Stage::Seccomp,
            crate::security::seccomp::install(&p.seccomp),
        );
    }
    // The working directory, resolved inside the root (a symlink in the
    // image cannot lead out, nor can /proc's magic links), created if
    // missing, as docker does.
    for (parent, name) in &p.cwd_steps {
        let dir = open_in_root(
            root,
            parent,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        );
        if dir >= 0 {
            libc::mkdirat(dir, name.as_ptr(), 0o755);
            libc::close(dir);
        }
    }
    ok(
        p,
        Stage::SetUser,
        libc::setgroups(
            p.groups.len(),
            if p.groups.is_empty() {
                std::ptr::null()
            } else {
                p.groups.as_ptr()
            },
        ),
    );
    ok(p, Stage::SetUser, libc::setgid(p.gid));
    ok(p, Stage::SetUser, libc::setuid(p.uid));
    crate::security::capabilities::set_caps(p);
    // As the process's user: a directory it may not enter fails here.
    let cwd = open_in_root(
        root,
        &p.cwd,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    );
    ok(p, Stage::Workdir, cwd);
    ok(p, Stage::Workdir, libc::fchdir(cwd));
    libc::close(cwd);
    libc::close(root);
    if p.no_new_privileges && !p.seccomp.is_empty() {
        ok(
            p,
            Stage::Seccomp,
            crate::security::seccomp::install(&p.seccomp),
        );
    }
}

/// The last steps: a session with the pty as its terminal (-t), the exec.
pub(crate) unsafe fn exec_command(p: &Prepared, tty: bool) -> ! {
    if tty {
        ok(p, Stage::Exec, libc::setsid());
        ok(p, Stage::Exec, libc::ioctl(0, libc::TIOCSCTTY, 0));
    }
    let mut last = libc::ENOENT;
    for cand in &p.candidates {
        libc::execve(cand.as_ptr(), p.argv_ptrs.as_ptr(), p.env_ptrs.as_ptr());
        let e = errno();
        // Keep looking on ENOENT/ENOTDIR; remember a permission problem (as execvp does).
        if e != libc::ENOENT && e != libc::ENOTDIR {
            last = e;
            if e != libc::EACCES {
                break;
            }
        }
    }
    fail(p, Stage::Exec, last)
}
