//! The container's root: an overlay of the image's layers under its upper dir.

use std::ffi::CStr;

use crate::process::prepare::Prepared;
use crate::process::report::{fail, ok, Stage};
use crate::sys::{
    errno, mount, FSCONFIG_CMD_CREATE, FSCONFIG_SET_STRING, FSMOUNT_CLOEXEC, FSOPEN_CLOEXEC,
    MOUNT_ATTR_NODEV, MOVE_MOUNT_F_EMPTY_PATH,
};

/// The root: an overlay of the image's layers (top first) under the
/// container's upper dir. Through the new mount API, one `lowerdir+` per
/// layer (Linux 6.8+), so the layer count is not bounded by the one page of
/// mount(2)'s option string; where the kernel lacks `lowerdir+`, mount(2).
pub(crate) unsafe fn mount_overlay(p: &Prepared) {
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
        // the mount's source, as mount(2) and docker show it ("none" without)
        (c"source", c"overlay"),
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
