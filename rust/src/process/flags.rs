//! Issue 12's run/create flags on the process side: --ulimit (rlimits set
//! before the user is), --sysctl (written into the container's own
//! /proc/sys), --shm-size, --device and the /sys/fs/cgroup mounts, all
//! checked and prepared here, before anything is touched (the steps after
//! allocate nothing).

use std::ffi::CString;

use crate::error::{Error, Result};
use crate::process::config::{Config, NewContainer};
use crate::process::prepare::Prepared;
use crate::process::report::{fail, Stage};
use crate::rootfs::cgroup::PreparedCgroups;
use crate::rootfs::dev::PreparedDevice;
use crate::sys::{cstring, errno};

pub(crate) struct Flags {
    pub(crate) rlimits: Vec<(u32, u64, u64)>,
    pub(crate) shm_opts: CString,
    pub(crate) sysctls: Vec<(CString, CString)>,
    pub(crate) devices: Vec<PreparedDevice>,
    pub(crate) cgroups: PreparedCgroups,
}

/// The last RLIMIT_* resource Linux has (RLIMIT_RTTIME).
const RLIMIT_LAST: u32 = 15;

/// A sysctl key as a path under /proc/sys: only the namespaced trees
/// (Python checks docker's list; this refuses anything that could leave
/// them), no empty, `.` or `..` component.
pub(crate) fn sysctl_path(key: &str) -> Result<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let tree_ok = matches!(parts.first(), Some(&"net") | Some(&"kernel") | Some(&"fs"));
    let parts_ok = parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.:@+".contains(&b))
        });
    if !tree_ok || !parts_ok {
        return Err(Error::Invalid(format!("sysctl {key:?} is not allowed")));
    }
    Ok(format!("/proc/sys/{key}"))
}

pub(crate) fn prepare(c: &Config, k: &NewContainer) -> Result<Flags> {
    for (resource, soft, hard) in &c.rlimits {
        if *resource > RLIMIT_LAST || soft > hard {
            return Err(Error::Invalid(format!(
                "invalid rlimit {resource}: {soft} > {hard} or no such resource"
            )));
        }
    }
    let sysctls = k
        .sysctls
        .iter()
        .map(|(key, value)| Ok((cstring(&sysctl_path(key)?)?, cstring(value)?)))
        .collect::<Result<_>>()?;
    Ok(Flags {
        rlimits: c.rlimits.clone(),
        shm_opts: cstring(&format!(
            "mode=1777,size={}",
            if k.shm_size == 0 {
                64 << 20
            } else {
                k.shm_size
            }
        ))?,
        sysctls,
        devices: k
            .devices
            .iter()
            .map(PreparedDevice::new)
            .collect::<Result<_>>()?,
        cgroups: PreparedCgroups::new(&k.cgroup_mounts)?,
    })
}

/// struct rlimit64 (prlimit64(2)).
#[repr(C)]
struct Rlimit64 {
    cur: u64,
    max: u64,
}

/// --ulimit, while the process is still root with every capability: a
/// limit above the hard one needs CAP_SYS_RESOURCE.
pub(crate) unsafe fn set_rlimits(p: &Prepared) {
    for (resource, soft, hard) in &p.rlimits {
        let lim = Rlimit64 {
            cur: *soft,
            max: *hard,
        };
        let r = libc::syscall(
            libc::SYS_prlimit64,
            0,
            *resource as libc::c_long,
            &lim as *const Rlimit64,
            std::ptr::null::<Rlimit64>(),
        );
        if r < 0 {
            fail(p, Stage::Rlimits, errno());
        }
    }
}

/// --sysctl: written into the container's /proc/sys (its own network and IPC
/// namespaces' values), before /proc/sys is made read-only.
pub(crate) unsafe fn write_sysctls(p: &Prepared) {
    for (path, value) in &p.sysctls {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        );
        if fd < 0 {
            fail(p, Stage::Sysctl, errno());
        }
        let bytes = value.as_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let e = errno();
        libc::close(fd);
        if n < 0 {
            fail(p, Stage::Sysctl, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths_stay_in_the_namespaced_trees() {
        assert_eq!(
            sysctl_path("net/ipv4/ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/forwarding").unwrap(),
            "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
        );
        for bad in [
            "vm/swappiness",
            "net/../vm/swappiness",
            "net/./x",
            "net//x",
            "net",
            "/net/x",
            "kernel/core pattern",
            "net/x\n",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad}");
        }
    }
}
