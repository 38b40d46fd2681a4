//! /sys/fs/cgroup inside the container, as docker has it: the container's
//! own cgroup directories, read-only (writable with --privileged), so that
//! runtimes that size themselves from their limits (the JVM, Go, Node)
//! see `-m`, `--cpus` and `--pids-limit`. cgroup v2: the container's one
//! directory is /sys/fs/cgroup; v1 (hybrid hosts): a read-only tmpfs there,
//! each hierarchy's directory under its name (`memory`, `cpu,cpuacct` with
//! `cpu` and `cpuacct` links). The directories are detached mount trees
//! cloned in the host's namespace (open_tree) before the root changes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::rootfs::mounts::{clone_tree, set_tree_attrs};
use crate::sys::{
    cstring, errno, mount, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY, MOVE_MOUNT_F_EMPTY_PATH,
};

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Default)]
pub(crate) struct PreparedCgroups {
    /// v1: a tmpfs at /sys/fs/cgroup holds the hierarchies' directories.
    tmpfs: bool,
    /// (detached tree, target path)
    trees: Vec<(OwnedFd, CString)>,
    /// (link path, its target): `cpu` -> `cpu,cpuacct`
    links: Vec<(CString, CString)>,
}

/// Each mount's target path and the links made to it (`cpu` for `cpu,cpuacct`).
type Places = Vec<(String, Vec<String>)>;

/// Where each mount goes, checked: /sys/fs/cgroup itself (v2, alone), or
/// one name under it per hierarchy (v1). Returns (tmpfs, places).
pub(crate) fn layout(targets: &[&str]) -> Result<(bool, Places)> {
    if targets.is_empty() {
        return Ok((false, Vec::new()));
    }
    if targets == [ROOT] {
        return Ok((false, vec![(ROOT.to_string(), Vec::new())]));
    }
    let mut out = Vec::new();
    for t in targets {
        let name = t
            .strip_prefix("/sys/fs/cgroup/")
            .filter(|n| {
                !n.is_empty()
                    && !n.starts_with('.')
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_,=-".contains(&b))
            })
            .ok_or_else(|| Error::Invalid(format!("invalid cgroup mount point {t:?}")))?;
        let links = if name.contains(',') {
            name.split(',')
                .filter(|part| !part.is_empty() && !name.starts_with(&format!("{part}=")))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push((format!("{ROOT}/{name}"), links));
    }
    Ok((true, out))
}

impl PreparedCgroups {
    pub(crate) fn new(mounts: &[(PathBuf, String)]) -> Result<PreparedCgroups> {
        let targets: Vec<&str> = mounts.iter().map(|(_, t)| t.as_str()).collect();
        let (tmpfs, places) = layout(&targets)?;
        let mut out = PreparedCgroups {
            tmpfs,
            ..Default::default()
        };
        for ((src, _), (target, links)) in mounts.iter().zip(places) {
            let tree = clone_tree(src, false, "cgroup directory")?;
            let name = target.rsplit('/').next().unwrap_or_default().to_string();
            for link in links {
                out.links
                    .push((cstring(&format!("{ROOT}/{link}"))?, cstring(&name)?));
            }
            out.trees.push((tree, cstring(&target)?));
        }
        Ok(out)
    }
}

/// Mounts the prepared trees at /sys/fs/cgroup (a fresh sysfs by now, whose
/// mount point is the kernel's: nothing of the image's is on the way).
pub(crate) unsafe fn mount_cgroups(p: &Prepared) {
    let c = &p.cgroups;
    if c.trees.is_empty() {
        return;
    }
    let nse = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if c.tmpfs {
        ok(
            p,
            Stage::CgroupMount,
            mount(c"tmpfs", c"/sys/fs/cgroup", c"tmpfs", nse, c"mode=755"),
        );
    }
    let ro = if p.privileged { 0 } else { MOUNT_ATTR_RDONLY };
    let attrs = ro | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    for (tree, target) in &c.trees {
        if c.tmpfs && libc::mkdir(target.as_ptr(), 0o755) < 0 {
            fail(p, Stage::CgroupMount, errno());
        }
        ok(p, Stage::CgroupMount, set_tree_attrs(tree, attrs));
        ok(
            p,
            Stage::CgroupMount,
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            ) as libc::c_int,
        );
    }
    for (link, target) in &c.links {
        libc::symlink(target.as_ptr(), link.as_ptr());
    }
    if c.tmpfs && !p.privileged {
        ok(
            p,
            Stage::CgroupMount,
            mount(
                c"",
                c"/sys/fs/cgroup",
                c"",
                libc::MS_REMOUNT | libc::MS_RDONLY | nse,
                c"mode=755",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_is_the_one_directory_at_the_root() {
        assert_eq!(
            layout(&["/sys/fs/cgroup"]).unwrap(),
            (false, vec![("/sys/fs/cgroup".to_string(), vec![])])
        );
        assert_eq!(layout(&[]).unwrap(), (false, vec![]));
    }

    #[test]
    fn v1_hierarchies_go_under_a_tmpfs_with_links_for_co_mounted_ones() {
        let (tmpfs, places) =
            layout(&["/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct"]).unwrap();
        assert!(tmpfs);
        assert_eq!(places[0], ("/sys/fs/cgroup/memory".to_string(), vec![]));
        assert_eq!(
            places[1],
            (
                "/sys/fs/cgroup/cpu,cpuacct".to_string(),
                vec!["cpu".to_string(), "cpuacct".to_string()]
            )
        );
    }

    #[test]
    fn targets_outside_or_odd_are_refused() {
        for bad in [
            "/sys/fs/cgroup/../../etc",
            "/etc/passwd",
            "/sys/fs/cgroup/a/b",
            "/sys/fs/cgroup/.x",
            "/sys/fs/cgroup/",
        ] {
            assert!(layout(&[bad]).is_err(), "{bad}");
        }
        assert!(layout(&["/sys/fs/cgroup", "/sys/fs/cgroup/memory"]).is_err());
    }
}
