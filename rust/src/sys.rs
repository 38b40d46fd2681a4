//! Small helpers shared by every module: pipes, C strings, errno, libc
//! return values, and the raw calls the container process makes on its way
//! to the exec. Those (below the line) are async-signal-safe: they allocate
//! nothing and take no lock, so they may run in the child of a clone of a
//! threaded process.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Context, Error, Result};

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io("pipe", io::Error::last_os_error()));
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `s` as a C string; a NUL inside is a request error, not a panic.
pub fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("{s:?} contains a NUL byte")))
}

/// An argv for `execv`/`execvp`: its strings and the NULL-terminated array
/// of pointers into them (valid as long as this lives), made before a fork.
pub struct CArgv {
    _strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArgv {
    pub fn new<S: AsRef<str>>(args: &[S]) -> Result<CArgv> {
        let strings = args
            .iter()
            .map(|a| cstring(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CArgv {
            _strings: strings,
            ptrs,
        })
    }
    /// argv[0] (NULL for an empty argv).
    pub fn program(&self) -> *const libc::c_char {
        self.ptrs[0]
    }
    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

pub fn path_cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} contains a NUL byte", p.display())))
}

/// A path's bytes (from a layer, an archive, a root) as a C string; a NUL
/// inside makes the input bad.
pub fn cstr(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::BadLayer("path contains a NUL byte".into()))
}

/// A libc return value as an io::Result (negative: errno).
pub fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One `syncfs` on the filesystem that holds `path`.
pub fn syncfs(path: &Path) -> Result<()> {
    let c = cstr(path.as_os_str().as_bytes())?;
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    check(fd).ctx(|| format!("open {}", path.display()))?;
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    check(unsafe { libc::syncfs(fd.as_raw_fd()) }).ctx(|| format!("syncfs {}", path.display()))
}

// The new mount API's flags (fsopen, fsconfig, fsmount, move_mount), which
// the libc crate does not carry.
pub(crate) const FSOPEN_CLOEXEC: libc::c_uint = 1;
pub(crate) const FSCONFIG_SET_STRING: libc::c_uint = 1;
pub(crate) const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
pub(crate) const FSMOUNT_CLOEXEC: libc::c_uint = 1;
pub(crate) const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;
pub(crate) const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
pub(crate) const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

// ---- async-signal-safe from here ----------------------------------------

pub(crate) fn errno() -> i32 {
    unsafe { *libc::__errno_location() }
}

/// "/proc/self/fd/<fd>" into `buf`, without allocating.
pub(crate) fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> *const libc::c_char {
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

pub(crate) unsafe fn mount(
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

pub(crate) unsafe fn mkdir(path: &CStr, mode: libc::mode_t) {
    libc::mkdir(path.as_ptr(), mode);
}

/// mkdir of `path` in its parent, the parent resolved inside `root`.
pub(crate) unsafe fn mkdir_in_root(root: RawFd, path: &CStr) {
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
pub(crate) unsafe fn open_in_root(
    root: RawFd,
    path: &CStr,
    flags: libc::c_int,
    mode: u64,
) -> RawFd {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_formatted_without_allocating() {
        let mut buf = [0u8; 32];
        let p = fd_path(1234, &mut buf);
        assert_eq!(unsafe { CStr::from_ptr(p) }, c"/proc/self/fd/1234");
    }
}
