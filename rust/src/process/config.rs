//! The one process contract. Python's `ProcessConfig`
//! (python/ketch/models/container.py) writes it as JSON once; this `Config`
//! reads it for `spawn`, `exec_in` and the monitor program, and the same
//! JSON (re-serialised) is what `spawn` hands the sealed helper it
//! re-executes (reexec.rs). Every field is required and no other is
//! accepted: a config Python and Rust disagree about fails loudly instead
//! of turning into a default.

use std::os::fd::RawFd;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::security::seccomp::Profile;

/// What a container process is started with (owned, plain values).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Capabilities kept (bounding, permitted, effective); others are dropped.
    pub caps: u64,
    /// A seccomp filter installed right before the exec (null: unconfined).
    #[serde(deserialize_with = "present")]
    pub seccomp: Option<Profile>,
    /// --security-opt no-new-privileges: setuid binaries and file
    /// capabilities give nothing more after the exec.
    pub no_new_privileges: bool,
    /// The cgroup files the process joins by writing 0 before anything else
    /// (v1's `tasks`, v2's `cgroup.procs`: runtime/cgroups.py's join_file); a new
    /// container's cgroup namespace is made after, so that its own cgroup is its root.
    pub cgroup_procs: Vec<PathBuf>,
    /// The static helper program (`ketch-monitor`) whose sealed memfd copy
    /// becomes the container's process (reexec.rs).
    pub helper: PathBuf,
    /// `exec -d`, or a detached container's: the process does not die with the caller.
    pub detached: bool,
    /// The new container the process is the first of (`spawn`); null for a
    /// process exec'd into a running one (`exec_in`).
    #[serde(deserialize_with = "present")]
    pub container: Option<NewContainer>,
    // -- issue 12's run/create flags (wt-flags)
    /// --ulimit: (RLIMIT_* resource, soft, hard), set before the user is
    /// (RLIM_INFINITY is u64::MAX); exec'd processes get them too.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Descriptors to become the process's 0, 1 and 2 (-1: the container's
    /// own /dev/null; the container never gets the caller's descriptors).
    /// Not in the JSON: descriptors are the caller's, given per call.
    #[serde(skip, default = "inherit")]
    pub stdio: [RawFd; 3],
    /// A unix socket (SOCK_SEQPACKET): the child opens a pty from the
    /// container's own devpts, sends its master side here (SCM_RIGHTS) and
    /// makes the slave its stdio and controlling terminal. -1: none.
    #[serde(skip, default = "no_socket")]
    pub tty_socket: RawFd,
}

/// What a new container is made of: its root, mounts, names and network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContainer {
    /// An empty directory the root is mounted on (in the child's mount namespace only).
    pub rootfs: PathBuf,
    /// Image layers, top first.
    pub lowerdirs: Vec<PathBuf>,
    pub upperdir: PathBuf,
    pub workdir: PathBuf,
    pub hostname: String,
    /// A network namespace of its own (with `lo` up); false shares the host's.
    pub new_net: bool,
    /// A network namespace made beforehand (a bridge network's, its veth in
    /// place) that the process joins instead of a new empty one.
    #[serde(deserialize_with = "present")]
    pub netns: Option<PathBuf>,
    /// Host files bind-mounted at paths inside the container (hosts, hostname, resolv.conf).
    pub files: Vec<(PathBuf, String)>,
    /// Host paths bind-mounted into the container: (source, target, read-only).
    pub binds: Vec<(PathBuf, String, bool)>,
    /// Paths inside the container that get a fresh tmpfs.
    pub tmpfs: Vec<String>,
    /// The root filesystem mounted read-only (--read-only).
    pub readonly_root: bool,
    /// --privileged: /sys writable, no masked or read-only paths, the
    /// host's devices (capabilities are `caps`, all of them for --privileged).
    pub privileged: bool,
    // -- issue 12's run/create flags (wt-flags)
    /// /dev/shm's tmpfs size in bytes (--shm-size).
    pub shm_size: u64,
    /// (path under /proc/sys, value): namespaced sysctls written before /proc/sys goes read-only.
    pub sysctls: Vec<(String, String)>,
    /// --device nodes: (path under /dev, "c" or "b", major, minor, mode).
    pub devices: Vec<(String, String, u32, u32, u32)>,
    /// The container's own cgroup directories (host path, path inside:
    /// /sys/fs/cgroup on v2, /sys/fs/cgroup/<hierarchy> on v1), mounted read-only.
    pub cgroup_mounts: Vec<(PathBuf, String)>,
}

/// `Config::stdio` for the container's /dev/null on 0, 1 and 2.
pub const INHERIT: [RawFd; 3] = [-1, -1, -1];

fn inherit() -> [RawFd; 3] {
    INHERIT
}

fn no_socket() -> RawFd {
    -1
}

/// An `Option` whose key must be there (null for None): serde's derive
/// would otherwise take a missing key for None.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

impl Config {
    pub fn from_json(text: &str) -> Result<Config> {
        serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid process configuration: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Config always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/process.json");

    #[test]
    fn the_python_fixture_is_accepted_and_survives_the_trip_to_the_helper() {
        let c = Config::from_json(FIXTURE).unwrap();
        let back = Config::from_json(&c.to_json()).unwrap();
        assert_eq!(format!("{c:?}"), format!("{back:?}"));
        assert_eq!((back.uid, back.gid, back.detached), (1000, u32::MAX, true));
        let k = back.container.unwrap();
        assert_eq!(k.binds, vec![("/src".into(), "/dst".to_string(), true)]);
        assert_eq!(back.seccomp.unwrap().rules[0].args[0].value, 40);
    }

    fn edited(f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        f(v.as_object_mut().unwrap());
        v.to_string()
    }

    #[test]
    fn unknown_and_missing_keys_are_refused() {
        let e = Config::from_json(&edited(|m| {
            m.insert("capz".into(), 1.into());
        }))
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `capz`"), "{e}");
        for key in ["argv", "caps", "seccomp", "container", "detached"] {
            let e = Config::from_json(&edited(|m| {
                m.remove(key);
            }))
            .unwrap_err();
            assert!(
                e.to_string().contains(&format!("missing field `{key}`")),
                "{key}: {e}"
            );
        }
        let e = Config::from_json(&edited(|m| {
            m["container"].as_object_mut().unwrap().remove("netns");
        }))
        .unwrap_err();
        assert!(e.to_string().contains("missing field `netns`"), "{e}");
    }

    #[test]
    fn ids_that_do_not_fit_are_refused() {
        assert!(Config::from_json(&edited(|m| {
            m.insert("uid".into(), 4294967296u64.into());
        }))
        .is_err());
        assert!(Config::from_json(&edited(|m| {
            m.insert("groups".into(), serde_json::json!([-1]));
        }))
        .is_err());
    }
}
