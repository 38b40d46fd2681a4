//! Operations confined to a directory tree ("the root").
//!
//! Every path that comes from a layer, a build context or a container is
//! resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`: `..`, absolute
//! symlinks and symlinked parents all stay inside the root, with no string
//! checks that a race or a clever link could get around. The last component
//! is then operated on with the `*at` calls relative to its parent's fd,
//! without following it.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::sys::{
    check, cstr, open_in_root, FSCONFIG_CMD_CREATE, FSCONFIG_SET_STRING, FSMOUNT_CLOEXEC,
    FSOPEN_CLOEXEC, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};

/// Splits a path from an archive into clean components: empty and `.` parts
/// dropped, `..` applied lexically and clamped at the root (as docker does).
pub fn clean_components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            p => out.push(p.to_vec()),
        }
    }
    out
}

pub fn display(parts: &[Vec<u8>]) -> String {
    let joined: Vec<u8> = parts.join(&b'/');
    String::from_utf8_lossy(&joined).into_owned()
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`,
/// close-on-exec, retried while the kernel asks.
fn openat2_in_root(dirfd: RawFd, path: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    loop {
        let fd = unsafe { open_in_root(dirfd, path, flags | libc::O_CLOEXEC, 0) };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        // EAGAIN: a concurrent rename in the tree; the kernel asks us to retry.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

/// Plain `openat` relative to a directory fd (no resolution beyond one name).
pub fn openat(
    dirfd: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    check(fd).map(|_| unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn fstatat(dirfd: RawFd, name: &CString) -> io::Result<Option<libc::stat>> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(st))
}

pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// A directory tree that paths are confined to.
pub struct Root {
    fd: OwnedFd,
    path: String,
}

impl Root {
    pub fn open(path: &Path) -> Result<Root> {
        let c = cstr(path.as_os_str().as_bytes())?;
        let fd = openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0)
            .ctx(|| format!("open {}", path.display()))?;
        Ok(Root {
            fd,
            path: path.display().to_string(),
        })
    }

    /// A root for the directory the caller's `fd` refers to; the caller
    /// keeps `fd`, the root holds a duplicate.
    pub fn from_fd(fd: RawFd) -> Result<Root> {
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        check(dup).ctx(|| format!("fd {fd}"))?;
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }).ctx(|| "fstat".into())?;
        if !is_dir(&st) {
            return Err(Error::Invalid(format!("fd {dup} is not a directory")));
        }
        Ok(Root {
            fd,
            path: format!("fd {dup}"),
        })
    }

    /// A root for the directory `fd` (taken over); `path` names it in errors.
    pub fn from_owned(fd: OwnedFd, path: String) -> Root {
        Root { fd, path }
    }

    /// The root's descriptor, handed over to the caller.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The read-only merged view of the layers `lowers` (top first), as
    /// overlayfs shows them to a container: whiteouts and opaque directories
    /// applied. It is mounted nowhere: the returned root's descriptor is the
    /// only way to it, and it goes when that is closed. nodev, nosuid,
    /// noexec: even a device node opened by mistake would not reach the
    /// host's device. No layers: an empty read-only tmpfs.
    pub fn overlay(lowers: &[PathBuf]) -> Result<Root> {
        let fd = if lowers.is_empty() {
            detached_mount(c"tmpfs", &[])?
        } else {
            let mut opts: Vec<(CString, CString)> = Vec::new();
            for l in lowers {
                opts.push((c"lowerdir+".into(), cstr(l.as_os_str().as_bytes())?));
            }
            // overlayfs wants two lower layers when there is no upper one:
            // an empty one (a tmpfs, mounted nowhere either) under a single layer.
            let _empty;
            if lowers.len() == 1 {
                _empty = detached_mount(c"tmpfs", &[])?;
                let p = format!("/proc/self/fd/{}", _empty.as_raw_fd());
                opts.push((c"lowerdir+".into(), CString::new(p).expect("no NUL")));
            }
            // No redirects or metadata-only copies: a layer's xattrs never steer a lookup.
            opts.push((c"redirect_dir".into(), c"off".into()));
            opts.push((c"metacopy".into(), c"off".into()));
            match detached_mount(c"overlay", &opts) {
                Ok(fd) => fd,
                // A kernel without the new mount API or without `lowerdir+` (before 6.8).
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    overlay_classic(lowers)?
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Root {
            fd,
            path: "the image".into(),
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The stat of `parts`, resolved inside the root, the last component
    /// followed (inside the root too) with `follow`; None if nothing is there.
    pub fn stat_in(&self, parts: &[Vec<u8>], follow: bool) -> io::Result<Option<libc::stat>> {
        let flags = libc::O_PATH | if follow { 0 } else { libc::O_NOFOLLOW };
        let fd = match self.open_in(parts, flags) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        fstat(&fd).map(Some)
    }

    /// Opens `parts` (resolved inside the root) with `flags`.
    pub fn open_in(&self, parts: &[Vec<u8>], flags: libc::c_int) -> io::Result<OwnedFd> {
        if parts.is_empty() {
            let dot = CString::new(".").unwrap();
            return openat(self.raw(), &dot, flags, 0);
        }
        let joined = parts.join(&b'/');
        let c = CString::new(joined).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        openat2_in_root(self.raw(), &c, flags)
    }

    /// The directory `parts` as an O_PATH fd, created (mode 0755, like
    /// docker's implied parents) where missing. Symlinks on the way, dangling
    /// ones included, are followed as if the root were `/`.
    pub fn mkdir_all(&self, parts: &[Vec<u8>]) -> Result<OwnedFd> {
        self.mkdir_all_hops(parts.to_vec(), 0)
    }

    fn mkdir_all_hops(&self, parts: Vec<Vec<u8>>, hops: u32) -> Result<OwnedFd> {
        let fail = |parts: &[Vec<u8>], e: io::Error| {
            Error::io(format!("mkdir {}/{}", self.path, display(parts)), e)
        };
        if hops > 40 {
            return Err(fail(&parts, io::Error::from_raw_os_error(libc::ELOOP)));
        }
        match self.open_in(&parts, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail(&parts, e)),
        }
        // Find the deepest existing directory, then create downwards from it.
        let mut dir = self
            .open_in(&[], libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| fail(&[], e))?;
        for i in 0..parts.len() {
            match self.open_in(&parts[..=i], libc::O_PATH | libc::O_DIRECTORY) {
                Ok(fd) => {
                    dir = fd;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(fail(&parts[..=i], e)),
            }
            let c = cstr(&parts[i])?;
            if let Some(st) = fstatat(dir.as_raw_fd(), &c).map_err(|e| fail(&parts[..=i], e))? {
                if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    return Err(fail(
                        &parts[..=i],
                        io::Error::from_raw_os_error(libc::ENOTDIR),
                    ));
                }
                // A dangling symlink: create its target, resolved inside the root.
                let target = readlinkat(dir.as_raw_fd(), &c).map_err(|e| fail(&parts[..=i], e))?;
                let mut next = if target.starts_with(b"/") {
                    Vec::new()
                } else {
                    parts[..i].join(&b'/')
                };
                next.push(b'/');
                next.extend_from_slice(&target);
                for rest in &parts[i + 1..] {
                    next.push(b'/');
                    next.extend_from_slice(rest);
                }
                return self.mkdir_all_hops(clean_components(&next), hops + 1);
            }
            let r = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(fail(&parts[..=i], e));
                }
            }
            dir = self
                .open_in(&parts[..=i], libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| fail(&parts[..=i], e))?;
        }
        Ok(dir)
    }
}

/// Opens for real what the O_PATH descriptor `fd` refers to, through
/// /proc/self/fd: the very inode whose type was read from `fd`, with no
/// path looked up again (so nothing swapped in meanwhile is opened).
pub fn reopen(fd: &OwnedFd, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    let r = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

pub fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// A new mount of `fstype` (the new mount API: fsopen, fsconfig, fsmount)
/// attached nowhere, read-only, nodev, nosuid, noexec: the descriptor of
/// its root. Errors are the raw errno (EINVAL for an option the kernel
/// does not know), so the caller can fall back.
fn detached_mount(fstype: &CStr, opts: &[(CString, CString)]) -> Result<OwnedFd> {
    let fail = |what: &str, e: io::Error| Error::io(format!("mount {what}"), e);
    let name = fstype.to_string_lossy().into_owned();
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(fail(&name, io::Error::last_os_error()));
    }
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    let config = |cmd: libc::c_uint, key: *const libc::c_char, value: *const libc::c_char| {
        check(
            unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) }
                as libc::c_int,
        )
    };
    for (k, v) in opts {
        config(FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr()).map_err(|e| {
            fail(
                &format!("{name} ({}={})", k.to_string_lossy(), v.to_string_lossy()),
                e,
            )
        })?;
    }
    config(FSCONFIG_CMD_CREATE, std::ptr::null(), std::ptr::null()).map_err(|e| fail(&name, e))?;
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(fail(&name, io::Error::last_os_error()));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}

/// `Root::overlay` with mount(2), for kernels before `lowerdir+`: on a
/// thread of its own that has left the host's mount namespace (unshare
/// applies to the calling thread only), the overlay is mounted, opened and
/// at once detached, so it never shows in any namespace the host can see.
/// The options name the layers relative to their common parent, to stay
/// within mount(2)'s one page.
pub fn overlay_classic(lowers: &[PathBuf]) -> Result<OwnedFd> {
    let lowers = lowers.to_vec();
    let work = move || -> Result<OwnedFd> {
        let fail = |what: &str| Error::io(format!("overlay: {what}"), io::Error::last_os_error());
        if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) } < 0 {
            return Err(fail("unshare"));
        }
        let r = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(fail("make mounts private"));
        }
        let mut common = lowers[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        while !lowers.iter().all(|l| l.starts_with(&common)) {
            common = common.parent().map(Path::to_path_buf).unwrap_or_default();
        }
        let cc = cstr(common.as_os_str().as_bytes())?;
        if !common.as_os_str().is_empty() && unsafe { libc::chdir(cc.as_ptr()) } < 0 {
            return Err(fail("chdir"));
        }
        let target = cstr(lowers[0].as_os_str().as_bytes())?;
        let flags = libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID | libc::MS_NOEXEC;
        let r = if lowers.len() == 1 {
            // overlayfs wants two lower layers without an upper one: a single
            // layer is its own merged view, bound read-only onto itself.
            let bind = unsafe {
                libc::mount(
                    target.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            };
            if bind < 0 {
                return Err(fail("bind"));
            }
            unsafe {
                libc::mount(
                    std::ptr::null(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REMOUNT | flags,
                    std::ptr::null(),
                )
            }
        } else {
            let rel: Vec<&[u8]> = lowers
                .iter()
                .map(|l| l.strip_prefix(&common).unwrap_or(l).as_os_str().as_bytes())
                .map(|b| if b.is_empty() { &b"."[..] } else { b })
                .collect();
            let mut opts = b"lowerdir=".to_vec();
            opts.extend(rel.join(&b':'));
            opts.extend_from_slice(b",redirect_dir=off,metacopy=off");
            let copts = cstr(&opts)?;
            unsafe {
                libc::mount(
                    c"overlay".as_ptr(),
                    target.as_ptr(),
                    c"overlay".as_ptr(),
                    flags,
                    copts.as_ptr().cast(),
                )
            }
        };
        if r < 0 {
            let e = fail("mount");
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            return Err(e);
        }
        let fd = openat(libc::AT_FDCWD, &target, libc::O_PATH | libc::O_DIRECTORY, 0);
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        fd.map_err(|e| Error::io("overlay: open", e))
    };
    std::thread::spawn(work)
        .join()
        .map_err(|_| Error::Invalid("overlay: the mounting thread panicked".into()))?
}

pub fn readlinkat(dirfd: RawFd, name: &CString) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let n = unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Removes `name` under `dirfd`, a whole tree if it is a directory.
pub fn remove_at(dirfd: RawFd, name: &CString) -> io::Result<()> {
    let st = match fstatat(dirfd, name)? {
        None => return Ok(()),
        Some(st) => st,
    };
    if is_dir(&st) {
        let sub = openat(
            dirfd,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        for child in list_dir(&sub)? {
            let c = CString::new(child).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            remove_at(sub.as_raw_fd(), &c)?;
        }
        check(unsafe { libc::unlinkat(dirfd, name.as_ptr(), libc::AT_REMOVEDIR) })
    } else {
        check(unsafe { libc::unlinkat(dirfd, name.as_ptr(), 0) })
    }
}

/// Names in a directory opened with O_RDONLY|O_DIRECTORY (not `.`/`..`).
pub fn list_dir(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    // fdopendir takes ownership of the fd it is given: hand it a duplicate.
    let dup = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    check(dup)?;
    let dp = unsafe { libc::fdopendir(dup) };
    if dp.is_null() {
        let e = io::Error::last_os_error();
        unsafe { libc::close(dup) };
        return Err(e);
    }
    unsafe { libc::rewinddir(dp) };
    let mut names = Vec::new();
    loop {
        let ent = unsafe { libc::readdir64(dp) };
        if ent.is_null() {
            break;
        }
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    unsafe { libc::closedir(dp) };
    Ok(names)
}

pub fn osstr(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn cleaning_clamps_at_the_root() {
        assert_eq!(clean_components(b"./a/b/../c"), parts(&["a", "c"]));
        assert_eq!(clean_components(b"/etc/passwd"), parts(&["etc", "passwd"]));
        assert_eq!(
            clean_components(b"../../../etc/shadow"),
            parts(&["etc", "shadow"])
        );
        assert_eq!(clean_components(b"a//b/"), parts(&["a", "b"]));
        assert!(clean_components(b"./").is_empty());
    }
}
