//! Making one entry by name under its parent's descriptor, never following
//! the name: the steps both writers of a tree share, unpack's (an entry of
//! a layer, extract.rs) and the in-root copy's (copy.rs). Owners before
//! modes: chown clears the set-id bits a mode may carry.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::RawFd;

use crate::error::{Context, Result};
use crate::root::openat;
use crate::sys::{check, cstr};

/// A new, empty regular file `name` in `pfd` (mode 0600 until its owner and
/// mode are set); what was there must have been removed.
pub(crate) fn create_file(pfd: RawFd, name: &CString, shown: &str) -> Result<File> {
    let fd = openat(
        pfd,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        0o600,
    )
    .ctx(|| format!("create {shown}"))?;
    Ok(File::from(fd))
}

/// Owner, then mode, of the opened file or directory `fd`.
pub(crate) fn set_owner_mode(
    fd: RawFd,
    (uid, gid): (libc::uid_t, libc::gid_t),
    mode: libc::mode_t,
    shown: &str,
) -> Result<()> {
    check(unsafe { libc::fchown(fd, uid, gid) }).ctx(|| format!("chown {shown}"))?;
    check(unsafe { libc::fchmod(fd, mode) }).ctx(|| format!("chmod {shown}"))?;
    Ok(())
}

/// The symlink `name` in `pfd` to `target`, owned by `owner`.
pub(crate) fn symlink(
    pfd: RawFd,
    name: &CString,
    target: &[u8],
    owner: (libc::uid_t, libc::gid_t),
    shown: &str,
) -> Result<()> {
    let ctarget = cstr(target)?;
    check(unsafe { libc::symlinkat(ctarget.as_ptr(), pfd, name.as_ptr()) })
        .ctx(|| format!("symlink {shown}"))?;
    chown_at(pfd, name, owner, shown)
}

/// The node `name` in `pfd` (a device, FIFO or socket: `kind` is its S_IF*
/// type, `rdev` its numbers), with `owner` and `mode`.
pub(crate) fn mknod(
    pfd: RawFd,
    name: &CString,
    kind: libc::mode_t,
    rdev: libc::dev_t,
    owner: (libc::uid_t, libc::gid_t),
    mode: libc::mode_t,
    shown: &str,
) -> Result<()> {
    check(unsafe { libc::mknodat(pfd, name.as_ptr(), kind | 0o600, rdev) })
        .ctx(|| format!("mknod {shown}"))?;
    chown_at(pfd, name, owner, shown)?;
    check(unsafe { libc::fchmodat(pfd, name.as_ptr(), mode, 0) }).ctx(|| format!("chmod {shown}"))
}

fn chown_at(
    pfd: RawFd,
    name: &CString,
    (uid, gid): (libc::uid_t, libc::gid_t),
    shown: &str,
) -> Result<()> {
    check(unsafe { libc::fchownat(pfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .ctx(|| format!("chown {shown}"))
}

/// atime and mtime `ts` onto `name` in `dirfd` (with AT_EMPTY_PATH in
/// `flags`, `dirfd` itself), never following a symlink.
pub(crate) fn set_times(
    dirfd: RawFd,
    name: &CStr,
    ts: &[libc::timespec; 2],
    flags: libc::c_int,
) -> io::Result<()> {
    check(unsafe {
        libc::utimensat(
            dirfd,
            name.as_ptr(),
            ts.as_ptr(),
            flags | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}
