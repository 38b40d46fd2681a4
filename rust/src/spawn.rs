//! Starting a container process: clone() into new namespaces, an overlay
//! root, pivot_root, docker's /proc, /dev and /sys, docker's default
//! capabilities, then exec.
//!
//! Everything the child needs is prepared before the clone: after it, in a
//! process that may have had other threads, the child may only make
//! async-signal-safe calls (no allocation, no locks). It reports a failure
//! as (stage, errno) over a close-on-exec pipe; a pipe closed with nothing
//! in it means the exec succeeded.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
pub use crate::process::config::{Config, NewContainer, INHERIT};

/// Docker's default capabilities: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
/// SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD,
/// AUDIT_WRITE, SETFCAP.
pub const DOCKER_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 13)
    | (1 << 18)
    | (1 << 27)
    | (1 << 29)
    | (1 << 31);

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

/// A bind mount, prepared: the source as a detached mount tree (open_tree in
/// the caller's namespace), the target's parents to create, and the target.
struct PreparedBind {
    tree: OwnedFd,
    steps: Vec<CString>,
    target: CString,
    is_dir: bool,
    readonly: bool,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// "/a/b/c" -> ["/a", "/a/b"] (the parents) and "/a/b/c".
fn path_steps(path: &str) -> Result<(Vec<CString>, CString)> {
    let mut steps = Vec::new();
    let mut acc = String::new();
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") || parts.is_empty() {
        return Err(Error::Invalid(format!("invalid mount point {path:?}")));
    }
    for part in &parts[..parts.len() - 1] {
        acc.push('/');
        acc.push_str(part);
        steps.push(cstring(&acc)?);
    }
    acc.push('/');
    acc.push_str(parts[parts.len() - 1]);
    Ok((steps, cstring(&acc)?))
}

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
            Stage::Volumes => "mount a volume",
        }
    }
}

/// A child that failed before its exec.
#[derive(Debug, Clone)]
pub struct SpawnFailure {
    pub stage: Stage,
    pub errno: i32,
    /// What went wrong, where the helper could say more than the errno.
    pub message: String,
}

impl SpawnFailure {
    /// The helper's message, or the errno's text.
    pub fn text(&self) -> String {
        if self.message.is_empty() {
            io::Error::from_raw_os_error(self.errno).to_string()
        } else {
            self.message.clone()
        }
    }
}

/// Everything the child touches, prepared before the clone. `argv` and `env`
/// own the strings that `argv_ptrs` and `env_ptrs` point into.
#[allow(dead_code)]
struct Prepared {
    rootfs: CString,
    overlay_opts: CString,
    /// The same layers for the new mount API, one `lowerdir+` each (no
    /// option-size limit: images of hundreds of layers mount).
    lowers: Vec<CString>,
    upper: CString,
    work: CString,
    files: Vec<(CString, CString)>,
    hostname: CString,
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    /// The working directory's components: (parent, name), outermost first.
    cwd_steps: Vec<(CString, CString)>,
    cwd: CString,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    new_net: bool,
    caps: u64,
    last_cap: u32,
    err_fd: RawFd,
    cgroup_fds: Vec<OwnedFd>,
    stdio: [RawFd; 3],
    tty_socket: RawFd,
    binds: Vec<PreparedBind>,
    tmpfs: Vec<(Vec<CString>, CString)>,
    readonly_root: bool,
    privileged: bool,
    seccomp: Vec<crate::seccomp::Insn>,
    no_new_privileges: bool,
    detached: bool,
    netns_fd: Option<OwnedFd>,
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("{s:?} contains a NUL byte")))
}

fn path_cstring(p: &std::path::Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} contains a NUL byte", p.display())))
}

/// Where `cmd` may be: itself if it has a slash, else each directory of PATH.
fn exec_candidates(cmd: &str, env: &[String]) -> Vec<String> {
    if cmd.contains('/') {
        return vec![cmd.to_string()];
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{}", d.trim_end_matches('/'), cmd))
        .collect()
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl Prepared {
    fn new(c: &Config, err_fd: RawFd) -> Result<Prepared> {
        if c.argv.is_empty() {
            return Err(Error::Invalid("no command given".into()));
        }
        // A process exec'd into a running container has no root to make.
        let none = NewContainer::default();
        let k = c.container.as_ref().unwrap_or(&none);
        let lower: Vec<String> = k
            .lowerdirs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
            lower.join(":"),
            k.upperdir.display(),
            k.workdir.display()
        );
        let argv: Vec<CString> = c.argv.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
        let env: Vec<CString> = c.env.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        let candidates = exec_candidates(&c.argv[0], &c.env)
            .iter()
            .map(|s| cstring(s))
            .collect::<Result<_>>()?;
        let cwd = if c.cwd.is_empty() {
            "/".to_string()
        } else {
            c.cwd.clone()
        };
        if !cwd.starts_with('/') {
            return Err(Error::Invalid(format!(
                "the working directory {cwd:?} is not an absolute path"
            )));
        }
        let mut cwd_steps = Vec::new();
        let mut acc = String::from("/");
        for part in cwd.split('/').filter(|p| !p.is_empty() && *p != ".") {
            cwd_steps.push((cstring(&acc)?, cstring(part)?));
            if !acc.ends_with('/') {
                acc.push('/');
            }
            acc.push_str(part);
        }
        Ok(Prepared {
            rootfs: path_cstring(&k.rootfs)?,
            overlay_opts: cstring(&opts)?,
            lowers: k
                .lowerdirs
                .iter()
                .map(|l| path_cstring(l))
                .collect::<Result<_>>()?,
            upper: path_cstring(&k.upperdir)?,
            work: path_cstring(&k.workdir)?,
            files: k
                .files
                .iter()
                .map(|(src, dst)| Ok((path_cstring(src)?, cstring(dst.trim_start_matches('/'))?)))
                .collect::<Result<_>>()?,
            hostname: cstring(&k.hostname)?,
            argv,
            argv_ptrs,
            env,
            env_ptrs,
            candidates,
            cwd_steps,
            cwd: cstring(&cwd)?,
            uid: c.uid,
            gid: c.gid,
            groups: c.groups.clone(),
            new_net: k.new_net,
            caps: c.caps,
            last_cap: last_cap(),
            err_fd,
            stdio: c.stdio,
            tty_socket: c.tty_socket,
            binds: k
                .binds
                .iter()
                .map(|(src, dst, ro)| {
                    let csrc = path_cstring(src)?;
                    let fd = unsafe {
                        libc::syscall(
                            libc::SYS_open_tree,
                            libc::AT_FDCWD,
                            csrc.as_ptr(),
                            OPEN_TREE_CLONE
                                | libc::O_CLOEXEC as libc::c_uint
                                | libc::AT_RECURSIVE as libc::c_uint,
                        )
                    };
                    if fd < 0 {
                        return Err(Error::io(
                            format!("bind source {}", src.display()),
                            io::Error::last_os_error(),
                        ));
                    }
                    let (steps, target) = path_steps(dst)?;
                    Ok(PreparedBind {
                        tree: unsafe { OwnedFd::from_raw_fd(fd as RawFd) },
                        steps,
                        target,
                        is_dir: src.is_dir(),
                        readonly: *ro,
                    })
                })
                .collect::<Result<_>>()?,
            tmpfs: k
                .tmpfs
                .iter()
                .map(|t| path_steps(t))
                .collect::<Result<_>>()?,
            readonly_root: k.readonly_root,
            privileged: k.privileged,
            seccomp: match &c.seccomp {
                Some(profile) => crate::seccomp::compile(profile)?,
                None => Vec::new(),
            },
            no_new_privileges: c.no_new_privileges,
            detached: c.detached,
            netns_fd: match &k.netns {
                Some(path) => {
                    Some(OwnedFd::from(std::fs::File::open(path).map_err(|e| {
                        Error::io(format!("open {}", path.display()), e)
                    })?))
                }
                None => None,
            },
            cgroup_fds: c
                .cgroup_procs
                .iter()
                .map(|p| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(p)
                        .map(OwnedFd::from)
                        .map_err(|e| Error::io(format!("open {}", p.display()), e))
                })
                .collect::<Result<_>>()?,
        })
    }
}

// ---- the child: async-signal-safe calls only from here to exec ----------------

fn errno() -> i32 {
    unsafe { *libc::__errno_location() }
}

/// Sends (stage, errno, message) to the parent over the error pipe, in one
/// write (without allocating: it is called from the child of a clone too).
pub(crate) fn report(err_fd: RawFd, stage: Stage, err: i32, message: &[u8]) {
    let mut msg = [0u8; 512];
    msg[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    msg[4..8].copy_from_slice(&err.to_ne_bytes());
    let n = message.len().min(msg.len() - 8);
    msg[8..8 + n].copy_from_slice(&message[..n]);
    unsafe { libc::write(err_fd, msg.as_ptr().cast(), 8 + n) };
}

/// Reports (stage, errno) to the parent and exits.
fn fail(p: &Prepared, stage: Stage, err: i32) -> ! {
    report(p.err_fd, stage, err, b"");
    unsafe {
        libc::_exit(match (stage, err) {
            (Stage::Exec, libc::ENOENT) => 127,
            (Stage::Exec, _) => 126,
            _ => 125,
        })
    }
}

fn ok(p: &Prepared, stage: Stage, r: libc::c_int) {
    if r < 0 {
        fail(p, stage, errno());
    }
}

/// "/proc/self/fd/<fd>" into `buf`, without allocating.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> *const libc::c_char {
    let prefix = b"/proc/self/fd/";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 12];
    let mut n = fd as u32;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    buf[prefix.len()..prefix.len() + d.len()].copy_from_slice(d);
    buf[prefix.len() + d.len()] = 0;
    buf.as_ptr().cast()
}

unsafe fn mount(
    src: &CStr,
    target: &CStr,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: &CStr,
) -> libc::c_int {
    libc::mount(
        src.as_ptr(),
        target.as_ptr(),
        fstype.as_ptr(),
        flags,
        data.as_ptr().cast(),
    )
}

unsafe fn mkdir(path: &CStr, mode: libc::mode_t) {
    libc::mkdir(path.as_ptr(), mode);
}

/// mkdir of `path` in its parent, the parent resolved inside `root`.
unsafe fn mkdir_in_root(root: RawFd, path: &CStr) {
    let bytes = path.to_bytes();
    let cut = bytes.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let (Ok(parent), Ok(name)) = (
        CString::new(if cut == 0 { &b"/"[..] } else { &bytes[..cut] }),
        CString::new(&bytes[cut + 1..]),
    ) else {
        return;
    };
    let dir = open_in_root(
        root,
        &parent,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    );
    if dir >= 0 {
        libc::mkdirat(dir, name.as_ptr(), 0o755);
        libc::close(dir);
    }
}

/// openat2 of `path` under `root` as if `root` were `/` (RESOLVE_IN_ROOT),
/// never through /proc's magic links.
unsafe fn open_in_root(root: RawFd, path: &CStr, flags: libc::c_int, mode: u64) -> RawFd {
    let mut how: libc::open_how = std::mem::zeroed();
    how.flags = flags as u64;
    how.mode = mode;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    libc::syscall(
        libc::SYS_openat2,
        root,
        path.as_ptr(),
        &how as *const libc::open_how,
        std::mem::size_of::<libc::open_how>(),
    ) as RawFd
}

/// The first steps of both children: die with the parent (the monitor, or
/// the CLI in the foreground) rather than run on unwatched, then enter the
/// container's cgroups. (getppid() cannot check for a parent that died first:
/// in a new pid namespace it is 0.)
unsafe fn join_cgroups(p: &Prepared) {
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

unsafe fn child(p: &Prepared) -> ! {
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
    mount_overlay(p);

    // Host files onto paths resolved inside the new root (a symlink in the
    // image cannot send the mount elsewhere), before the host goes away.
    let root = libc::open(
        p.rootfs.as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    ok(p, Stage::BindFile, root);
    for (src, dst) in &p.files {
        // A symlink at the target is followed, but inside the root
        // (RESOLVE_IN_ROOT). O_PATH: whatever the image put there (a FIFO
        // would block an open, a device must not be opened) is never
        // opened, only mounted over; a missing file is created.
        let mut t = open_in_root(root, dst, libc::O_PATH | libc::O_CLOEXEC, 0);
        if t < 0 && errno() == libc::ENOENT {
            t = open_in_root(
                root,
                dst,
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            );
        }
        if t < 0 {
            let e = errno();
            if e == libc::ENOENT {
                continue; // no /etc in the image: nothing to put there
            }
            fail(p, Stage::BindFile, e);
        }
        let mut buf = [0u8; 32];
        let target = fd_path(t, &mut buf);
        ok(
            p,
            Stage::BindFile,
            libc::mount(
                src.as_ptr(),
                target,
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ),
        );
        libc::close(t);
    }
    libc::close(root);

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
    let nse = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;
    mkdir(c"/proc", 0o555);
    ok(
        p,
        Stage::MountProc,
        mount(c"proc", c"/proc", c"proc", nse, none),
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
                nse
            } else {
                nse | libc::MS_RDONLY
            },
            none,
        ),
    );
    setup_dev(p);
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
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | nse,
                none,
            );
        }
    }

    mount_volumes(p);

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

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// The root: an overlay of the image's layers (top first) under the
/// container's upper dir. Through the new mount API, one `lowerdir+` per
/// layer (Linux 6.8+), so the layer count is not bounded by the one page of
/// mount(2)'s option string; where the kernel lacks `lowerdir+`, mount(2).
unsafe fn mount_overlay(p: &Prepared) {
    let classic = |p: &Prepared| {
        let flags = if p.privileged { 0 } else { libc::MS_NODEV };
        ok(
            p,
            Stage::MountRoot,
            mount(c"overlay", &p.rootfs, c"overlay", flags, &p.overlay_opts),
        )
    };
    let fs = libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) as libc::c_int;
    if fs < 0 {
        return classic(p);
    }
    let set = |key: &CStr, value: &CStr| -> libc::c_int {
        libc::syscall(
            libc::SYS_fsconfig,
            fs,
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        ) as libc::c_int
    };
    for lower in &p.lowers {
        if set(c"lowerdir+", lower) < 0 {
            let e = errno();
            libc::close(fs);
            if e == libc::EINVAL {
                return classic(p); // a kernel without lowerdir+
            }
            fail(p, Stage::MountRoot, e);
        }
    }
    for (key, value) in [
        (c"upperdir", p.upper.as_c_str()),
        (c"workdir", p.work.as_c_str()),
        (c"redirect_dir", c"off"),
        (c"metacopy", c"off"),
        (c"index", c"off"),
    ] {
        if set(key, value) < 0 {
            fail(p, Stage::MountRoot, errno());
        }
    }
    ok(
        p,
        Stage::MountRoot,
        libc::syscall(
            libc::SYS_fsconfig,
            fs,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        ) as libc::c_int,
    );
    let attrs = if p.privileged { 0 } else { MOUNT_ATTR_NODEV };
    let mnt = libc::syscall(libc::SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs) as libc::c_int;
    ok(p, Stage::MountRoot, mnt);
    libc::close(fs);
    ok(
        p,
        Stage::MountRoot,
        libc::syscall(
            libc::SYS_move_mount,
            mnt,
            c"".as_ptr(),
            libc::AT_FDCWD,
            p.rootfs.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ) as libc::c_int,
    );
    libc::close(mnt);
}

/// A pty from the container's devpts (mounted at /dev/pts): its master side
/// goes to the parent over `tty_socket`; returns the slave side.
unsafe fn open_container_pty(p: &Prepared) -> RawFd {
    let master = libc::open(
        c"/dev/ptmx".as_ptr(),
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
    );
    ok(p, Stage::MountDev, master);
    let unlock: libc::c_int = 0;
    ok(
        p,
        Stage::MountDev,
        libc::ioctl(master, libc::TIOCSPTLCK, &unlock),
    );
    let slave = libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
    ok(p, Stage::MountDev, slave);
    // One descriptor in an SCM_RIGHTS message, built on the stack.
    let mut cbuf = [0u64; 4]; // CMSG_SPACE(sizeof(int)) is 24 bytes here; aligned
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, master);
    if libc::sendmsg(p.tty_socket, &msg, 0) < 0 {
        fail(p, Stage::MountDev, errno());
    }
    libc::close(master);
    slave
}

/// The end of both paths (a new container, an exec into one).
unsafe fn become_process(p: &Prepared, stdio: [RawFd; 3], tty: bool) -> ! {
    enter(p, stdio);
    exec_command(p, tty)
}

/// The container's null device for a stdio slot the caller left empty: its
/// own /dev/null, checked to be the null device (never the host's node, on
/// which a chmod from the container would reach the host).
unsafe fn container_null(p: &Prepared, root: RawFd) -> RawFd {
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

/// Everything but the exec, in the root that is the container's by now:
/// stdio, capabilities, the seccomp filter, user, working directory.
/// What is left for the process is only `exec_command`, whose calls
/// every sane profile allows.
unsafe fn enter(p: &Prepared, stdio: [RawFd; 3]) {
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
    // Capabilities: the bounding set first (needs CAP_SETPCAP), then the user.
    for cap in 0..=p.last_cap {
        if p.caps & (1u64 << cap) == 0
            && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
        {
            let e = errno();
            if e != libc::EINVAL {
                fail(p, Stage::Capabilities, e);
            }
        }
    }
    // The filter goes on while we still hold CAP_SYS_ADMIN, unless
    // no_new_privs lets it wait until the user is set (as runc does).
    if p.no_new_privileges {
        ok(
            p,
            Stage::Seccomp,
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        );
    } else if !p.seccomp.is_empty() {
        ok(p, Stage::Seccomp, crate::seccomp::install(&p.seccomp));
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
    set_caps(p);
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
        ok(p, Stage::Seccomp, crate::seccomp::install(&p.seccomp));
    }
}

/// The last steps: a session with the pty as its terminal (-t), the exec.
unsafe fn exec_command(p: &Prepared, tty: bool) -> ! {
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

/// MS_NODEV, unless --privileged (a remount sets every flag anew).
fn nodev(p: &Prepared) -> libc::c_ulong {
    if p.privileged {
        0
    } else {
        libc::MS_NODEV
    }
}

/// struct mount_attr (mount_setattr(2)).
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// -v, --tmpfs and --read-only, inside the new root (paths resolve in the container).
unsafe fn mount_volumes(p: &Prepared) {
    let none = c"";
    let root = libc::open(
        c"/".as_ptr(),
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    );
    ok(p, Stage::Volumes, root);
    // Each mount point's directories, made where they resolve inside the
    // root; the point itself opened there (O_PATH: never a FIFO's or a
    // device's open), so the mount lands on what the lookup found.
    let mount_point = |steps: &[CString], target: &CStr, dir: bool| -> RawFd {
        for step in steps {
            let fd = open_in_root(
                root,
                step,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                0,
            );
            if fd >= 0 {
                libc::close(fd);
            } else if errno() == libc::ENOENT {
                mkdir_in_root(root, step);
            } else {
                fail(p, Stage::Volumes, errno());
            }
        }
        let mut fd = open_in_root(root, target, libc::O_PATH | libc::O_CLOEXEC, 0);
        if fd < 0 && errno() == libc::ENOENT {
            if dir {
                mkdir_in_root(root, target);
            } else {
                let f = open_in_root(
                    root,
                    target,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if f >= 0 {
                    libc::close(f);
                }
            }
            fd = open_in_root(root, target, libc::O_PATH | libc::O_CLOEXEC, 0);
        }
        ok(p, Stage::Volumes, fd);
        fd
    };
    for b in &p.binds {
        let target = mount_point(&b.steps, &b.target, b.is_dir);
        // nodev (unless --privileged) and, for :ro, read-only: on the whole
        // tree (AT_RECURSIVE), so a mount under the bind's source is not
        // left writable, as docker 25+ does.
        let set = if p.privileged {
            0
        } else {
            MOUNT_ATTR_NODEV as u64
        } | if b.readonly { MOUNT_ATTR_RDONLY } else { 0 };
        if set != 0 {
            let attr = MountAttr {
                attr_set: set,
                ..Default::default()
            };
            ok(
                p,
                Stage::Volumes,
                libc::syscall(
                    libc::SYS_mount_setattr,
                    b.tree.as_raw_fd(),
                    c"".as_ptr(),
                    libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
                    &attr as *const MountAttr,
                    std::mem::size_of::<MountAttr>(),
                ) as libc::c_int,
            );
        }
        ok(
            p,
            Stage::Volumes,
            libc::syscall(
                libc::SYS_move_mount,
                b.tree.as_raw_fd(),
                c"".as_ptr(),
                target,
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            ) as libc::c_int,
        );
        libc::close(target);
    }
    for (steps, target) in &p.tmpfs {
        let fd = mount_point(steps, target, true);
        let mut buf = [0u8; 32];
        ok(
            p,
            Stage::Volumes,
            libc::mount(
                c"tmpfs".as_ptr(),
                fd_path(fd, &mut buf),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=1777,size=65536k".as_ptr().cast(),
            ),
        );
        libc::close(fd);
    }
    libc::close(root);
    // Last: the targets above were created in the root first.
    if p.readonly_root {
        ok(
            p,
            Stage::Volumes,
            mount(
                none,
                c"/",
                none,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | nodev(p),
                none,
            ),
        );
    }
}

/// /dev. Device access is decided by mount flags rather than a devices
/// cgroup (which cgroup v2 only offers as an eBPF program): every filesystem
/// the container can write is `nodev` (the root, /dev itself, tmpfs mounts,
/// volumes), and the few devices it gets are bind mounts of nodes made here,
/// each its own mount without `nodev`. A node the container makes with
/// CAP_MKNOD (the host's console, a disk) cannot be opened. --privileged
/// gets the host's devices (devtmpfs) and no `nodev` anywhere.
unsafe fn setup_dev(p: &Prepared) {
    let none = c"";
    mkdir(c"/dev", 0o755);
    if p.privileged {
        ok(
            p,
            Stage::MountDev,
            mount(c"devtmpfs", c"/dev", c"devtmpfs", libc::MS_NOSUID, none),
        );
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
            c"mode=1777,size=65536k",
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
        (c"/dev/core", c"/proc/kcore"),
    ] {
        libc::symlink(target.as_ptr(), link.as_ptr());
    }
}

unsafe fn loopback_up(p: &Prepared) {
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

unsafe fn set_caps(p: &Prepared) {
    // A non-root user keeps none (setuid cleared them); root keeps the set asked for.
    let mask = if p.uid == 0 { p.caps } else { 0 };
    let hdr = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let lo = mask as u32;
    let hi = (mask >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    ok(
        p,
        Stage::Capabilities,
        libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) as libc::c_int,
    );
}

// ---- the parent -----------------------------------------------------------

const STACK_SIZE: usize = 1 << 20;

/// Starts the container process; returns its pid (in the caller's pid
/// namespace) once it has exec'd, or where and why it failed. The child of
/// the clone re-executes the sealed helper at once (reexec.rs), which sets
/// the container up from `config` and execs its command.
pub fn spawn(config: &Config) -> Result<std::result::Result<i32, SpawnFailure>> {
    let Some(k) = &config.container else {
        return Err(Error::Invalid(
            "invalid process configuration: a new container needs its `container` part".into(),
        ));
    };
    let (rd, wr) = error_pipe()?;
    let reexec = crate::reexec::prepare(config, "spawn", wr.as_raw_fd(), 0)?;
    let mut flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::SIGCHLD;
    if k.new_net && k.netns.is_none() {
        flags |= libc::CLONE_NEWNET;
    }
    let pid = match clone3(flags as u64) {
        Some(0) => unsafe { crate::reexec::become_helper(&reexec) },
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
                &reexec as *const crate::reexec::Reexec as *mut libc::c_void,
            )
        },
    };
    if pid < 0 {
        return Err(Error::io("clone", io::Error::last_os_error()));
    }
    drop(wr);
    let report = read_report(&rd, pid);
    drop(reexec);
    Ok(report)
}

extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let r = unsafe { &*(arg as *const crate::reexec::Reexec) };
    unsafe { crate::reexec::become_helper(r) }
}

fn error_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io("pipe", io::Error::last_os_error()));
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In the helper (a fresh process, single-threaded): the new container's
/// set-up, from the namespaces the clone made, to the exec.
pub fn helper_spawn(config: &Config, err_fd: RawFd) -> Result<std::convert::Infallible> {
    let prepared = Prepared::new(config, err_fd)?;
    unsafe { child(&prepared) }
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

/// What a child reported before its exec: nothing (the pipe closed on exec)
/// means it runs as `pid`; else (stage, errno, message), and the child is reaped.
fn read_report(rd: &OwnedFd, pid: i32) -> std::result::Result<i32, SpawnFailure> {
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
    let (stage, err) = if got >= 8 {
        (
            u32::from_ne_bytes(msg[..4].try_into().unwrap()),
            i32::from_ne_bytes(msg[4..8].try_into().unwrap()),
        )
    } else {
        (Stage::Helper as u32, libc::EPROTO)
    };
    // The child exits right after reporting: reap it.
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Err(SpawnFailure {
        stage: Stage::from_u32(stage).unwrap_or(Stage::Exec),
        errno: err,
        message: String::from_utf8_lossy(if got > 8 { &msg[8..got] } else { &[] }).into_owned(),
    })
}

/// Runs a process in the namespaces and cgroups of the running container
/// whose init is `pid` (`ketch exec`): joins its cgroups, then its cgroup,
/// ipc, uts, net, pid and mount namespaces, forks once more so the process is
/// inside the pid namespace, and becomes `config`'s process there (same
/// capabilities, user and environment rules as `spawn`). Returns the pid of
/// the intermediate child, which exits with the process's exit code.
pub fn exec_in(pid: i32, config: &Config) -> Result<std::result::Result<i32, SpawnFailure>> {
    if config.container.is_some() {
        return Err(Error::Invalid(
            "invalid process configuration: a process exec'd into a running container has no `container` part".into(),
        ));
    }
    let (rd, wr) = error_pipe()?;
    let reexec = crate::reexec::prepare(config, "exec", wr.as_raw_fd(), pid)?;
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::io("fork", io::Error::last_os_error()));
    }
    if child == 0 {
        unsafe { crate::reexec::become_helper(&reexec) }
    }
    drop(wr);
    Ok(read_report(&rd, child))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_path() {
        let env = vec!["PATH=/usr/bin:/bin/".to_string()];
        assert_eq!(exec_candidates("sh", &env), vec!["/usr/bin/sh", "/bin/sh"]);
        assert_eq!(exec_candidates("./run", &env), vec!["./run"]);
        assert_eq!(exec_candidates("/bin/true", &[]), vec!["/bin/true"]);
    }

    #[test]
    fn fd_paths_are_formatted_without_allocating() {
        let mut buf = [0u8; 32];
        let p = fd_path(1234, &mut buf);
        assert_eq!(unsafe { CStr::from_ptr(p) }, c"/proc/self/fd/1234");
    }

    #[test]
    fn docker_caps_are_fourteen() {
        assert_eq!(DOCKER_CAPS.count_ones(), 14);
    }
}
