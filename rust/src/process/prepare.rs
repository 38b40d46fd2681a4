//! Everything the container process's set-up touches, prepared at once:
//! strings as C strings, paths split, descriptors opened, the seccomp
//! filter compiled. The helper (reexec.rs: a fresh, single-threaded
//! process) does this first; the steps after it (child.rs) allocate
//! nothing. (What the child of the clone itself needs, before it becomes
//! the helper, is prepared before the clone: `reexec::prepare`.)

use std::ffi::CString;

use std::os::fd::{OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::config::{Config, NewContainer};
use crate::rootfs::mounts::{clone_tree, path_steps, PreparedBind};
use crate::security::capabilities::last_cap;
use crate::sys::{cstring, path_cstring};

/// Everything the set-up touches. `argv` and `env` own the strings that
/// `argv_ptrs` and `env_ptrs` point into (kept, never read again).
#[allow(dead_code)]
pub(crate) struct Prepared {
    pub(crate) rootfs: CString,
    pub(crate) overlay_opts: CString,
    /// The same layers for the new mount API, one `lowerdir+` each (no
    /// option-size limit: images of hundreds of layers mount).
    pub(crate) lowers: Vec<CString>,
    pub(crate) upper: CString,
    pub(crate) work: CString,
    pub(crate) files: Vec<(CString, CString)>,
    pub(crate) hostname: CString,
    pub(crate) argv: Vec<CString>,
    pub(crate) argv_ptrs: Vec<*const libc::c_char>,
    pub(crate) env: Vec<CString>,
    pub(crate) env_ptrs: Vec<*const libc::c_char>,
    pub(crate) candidates: Vec<CString>,
    /// The working directory's components: (parent, name), outermost first.
    pub(crate) cwd_steps: Vec<(CString, CString)>,
    pub(crate) cwd: CString,
    pub(crate) uid: libc::uid_t,
    pub(crate) gid: libc::gid_t,
    pub(crate) groups: Vec<libc::gid_t>,
    pub(crate) new_net: bool,
    pub(crate) caps: u64,
    pub(crate) last_cap: u32,
    pub(crate) err_fd: RawFd,
    pub(crate) cgroup_fds: Vec<OwnedFd>,
    pub(crate) stdio: [RawFd; 3],
    pub(crate) tty_socket: RawFd,
    pub(crate) binds: Vec<PreparedBind>,
    pub(crate) tmpfs: Vec<(Vec<CString>, CString)>,
    pub(crate) readonly_root: bool,
    pub(crate) privileged: bool,
    pub(crate) seccomp: Vec<crate::security::seccomp::Insn>,
    pub(crate) no_new_privileges: bool,
    pub(crate) detached: bool,
    pub(crate) netns_fd: Option<OwnedFd>,
    // -- issue 12's run/create flags (wt-flags)
    pub(crate) rlimits: Vec<(u32, u64, u64)>,
    /// /dev/shm's tmpfs options ("mode=1777,size=N").
    pub(crate) shm_opts: CString,
    /// (/proc/sys/... path, value) to write before /proc/sys goes read-only.
    pub(crate) sysctls: Vec<(CString, CString)>,
    pub(crate) devices: Vec<crate::rootfs::dev::PreparedDevice>,
    pub(crate) cgroups: crate::rootfs::cgroup::PreparedCgroups,
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

impl Prepared {
    pub(crate) fn new(c: &Config, err_fd: RawFd) -> Result<Prepared> {
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
        let flags = crate::process::flags::prepare(c, k)?;
        Ok(Prepared {
            rlimits: flags.rlimits,
            shm_opts: flags.shm_opts,
            sysctls: flags.sysctls,
            devices: flags.devices,
            cgroups: flags.cgroups,
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
                    let tree = clone_tree(src, true, "bind source")?;
                    let (steps, target) = path_steps(dst)?;
                    Ok(PreparedBind {
                        tree,
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
                Some(profile) => crate::security::seccomp::compile(profile)?,
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
}
