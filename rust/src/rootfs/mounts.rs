//! What is mounted into the new root besides /proc, /sys and /dev: the
//! host files (hosts, hostname, resolv.conf), -v binds, --tmpfs, and
//! --read-only. Every target is resolved inside the root.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::sys::{
    cstring, errno, fd_path, mkdir_in_root, mount, open_in_root, MOUNT_ATTR_NODEV,
    MOUNT_ATTR_RDONLY, MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_EMPTY_PATH,
};

/// A bind mount, prepared: the source as a detached mount tree (open_tree in
/// the caller's namespace), the target's parents to create, and the target.
pub(crate) struct PreparedBind {
    pub(crate) tree: OwnedFd,
    pub(crate) steps: Vec<CString>,
    pub(crate) target: CString,
    pub(crate) is_dir: bool,
    pub(crate) readonly: bool,
}

pub(crate) const OPEN_TREE_CLONE: libc::c_uint = 1;

/// A detached copy of the mount tree at `src` (open_tree OPEN_TREE_CLONE,
/// `recursive`: with the mounts under it), made in the caller's namespace
/// to be attached in the container's; `what` names it in an error.
pub(crate) fn clone_tree(src: &std::path::Path, recursive: bool, what: &str) -> Result<OwnedFd> {
    let csrc = crate::sys::path_cstring(src)?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, csrc.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::io(
            format!("{what} {}", src.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as RawFd) })
}

/// mount_setattr(2) of `attrs` (MOUNT_ATTR_*) on a detached tree and every mount in it.
pub(crate) unsafe fn set_tree_attrs(tree: &OwnedFd, attrs: libc::c_uint) -> libc::c_int {
    let attr = MountAttr {
        attr_set: u64::from(attrs),
        ..Default::default()
    };
    libc::syscall(
        libc::SYS_mount_setattr,
        tree.as_raw_fd(),
        c"".as_ptr(),
        libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
        &attr as *const MountAttr,
        std::mem::size_of::<MountAttr>(),
    ) as libc::c_int
}

/// "/a/b/c" -> ["/a", "/a/b"] (the parents) and "/a/b/c".
pub(crate) fn path_steps(path: &str) -> Result<(Vec<CString>, CString)> {
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

/// Host files onto paths resolved inside the new root (a symlink in the
/// image cannot send the mount elsewhere), before the host goes away.
pub(crate) unsafe fn bind_files(p: &Prepared) {
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
pub(crate) unsafe fn mount_volumes(p: &Prepared) {
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
        let set = if p.privileged { 0 } else { MOUNT_ATTR_NODEV }
            | if b.readonly { MOUNT_ATTR_RDONLY } else { 0 };
        if set != 0 {
            ok(p, Stage::Volumes, set_tree_attrs(&b.tree, set));
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
