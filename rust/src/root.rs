//! Operations confined to a directory tree ("the root").
//!
//! Every path that comes from a layer, a build context or a container is
//! resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`: `..`, absolute
//! symlinks and symlinked parents all stay inside the root, with no string
//! checks that a race or a clever link could get around. The last component
//! is then operated on with the `*at` calls relative to its parent's fd,
//! without following it.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Context, Error, Result};

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

pub fn cstr(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::BadLayer("path contains a NUL byte".into()))
}

pub fn display(parts: &[Vec<u8>]) -> String {
    let joined: Vec<u8> = parts.join(&b'/');
    String::from_utf8_lossy(&joined).into_owned()
}

fn last_os_error<T>(r: libc::c_int, v: T) -> io::Result<T> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
fn openat2_in_root(dirfd: RawFd, path: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    loop {
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
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
    last_os_error(fd, ()).map(|_| unsafe { OwnedFd::from_raw_fd(fd) })
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

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
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
        let r = unsafe { libc::unlinkat(dirfd, name.as_ptr(), libc::AT_REMOVEDIR) };
        last_os_error(r, ())
    } else {
        let r = unsafe { libc::unlinkat(dirfd, name.as_ptr(), 0) };
        last_os_error(r, ())
    }
}

/// Names in a directory opened with O_RDONLY|O_DIRECTORY (not `.`/`..`).
pub fn list_dir(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    // fdopendir takes ownership of the fd it is given: hand it a duplicate.
    let dup = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    last_os_error(dup, ())?;
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

/// One `syncfs` on the filesystem that holds `path`.
pub fn syncfs(path: &Path) -> Result<()> {
    let c = cstr(path.as_os_str().as_bytes())?;
    let fd = openat(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .ctx(|| format!("open {}", path.display()))?;
    check_ret(unsafe { libc::syncfs(fd.as_raw_fd()) }).ctx(|| format!("syncfs {}", path.display()))
}

fn check_ret(r: libc::c_int) -> io::Result<()> {
    last_os_error(r, ())
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
