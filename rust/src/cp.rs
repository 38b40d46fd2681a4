//! `ketch cp`: files between the host and a container's root, both ways.
//!
//! Every path of the container is resolved by a child process that has
//! entered the container's root: the mount namespace of a running container
//! (whose root is the container's), or, for a stopped one, a private mount
//! namespace with the container's overlay mounted and chrooted into. A
//! symlink in the container therefore resolves inside the container and can
//! never name a host file. The two sides talk tar over a pipe; the host side
//! extracts with the layer unpacker confined to the destination directory
//! (openat2 RESOLVE_IN_ROOT), with `.wh.` names taken literally.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::layer::unpack::{unpack, Options};
use crate::sys::{path_cstring, pipe};

/// Where the container's root is.
#[derive(Debug, Clone)]
pub enum Target {
    /// A running container: the pid of its init.
    Running(i32),
    /// A stopped container: its overlay, mounted on `rootfs` in a private namespace.
    Stopped {
        lowerdirs: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        rootfs: PathBuf,
    },
}

/// What the child needs to enter the root, opened or built before the fork.
enum Entry {
    Ns(OwnedFd),
    Mount { opts: CString, rootfs: CString },
}

fn prepare(t: &Target) -> Result<Entry> {
    Ok(match t {
        Target::Running(pid) => {
            let path = format!("/proc/{pid}/ns/mnt");
            Entry::Ns(OwnedFd::from(
                File::open(&path).ctx(|| format!("open {path}"))?,
            ))
        }
        Target::Stopped {
            lowerdirs,
            upper,
            work,
            rootfs,
        } => {
            let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
            let opts = format!(
                "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
                lower.join(":"),
                upper.display(),
                work.display()
            );
            Entry::Mount {
                opts: CString::new(opts)
                    .map_err(|_| Error::Invalid("NUL in a layer path".into()))?,
                rootfs: path_cstring(rootfs)?,
            }
        }
    })
}

/// In the child: into the container's root, or the errno of what failed.
unsafe fn enter(e: &Entry) -> std::result::Result<(), (&'static str, i32)> {
    let err = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    match e {
        Entry::Ns(fd) => {
            if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) < 0 {
                return Err(("join the container's mount namespace", err()));
            }
        }
        Entry::Mount { opts, rootfs } => {
            if libc::unshare(libc::CLONE_NEWNS) < 0 {
                return Err(("make a mount namespace", err()));
            }
            let none = c"";
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                none.as_ptr(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) < 0
            {
                return Err(("make mounts private", err()));
            }
            if libc::mount(
                c"overlay".as_ptr(),
                rootfs.as_ptr(),
                c"overlay".as_ptr(),
                0,
                opts.as_ptr().cast(),
            ) < 0
            {
                return Err(("mount the container's root", err()));
            }
            if libc::chroot(rootfs.as_ptr()) < 0 {
                return Err(("chroot", err()));
            }
        }
    }
    if libc::chdir(c"/".as_ptr()) < 0 {
        return Err(("chdir", err()));
    }
    Ok(())
}

/// Runs `work` in a child inside the container's root; `work`'s error text
/// comes back over a pipe. Returns the child's pid and that pipe.
fn fork_inside(
    t: &Target,
    close: &[RawFd],
    work: impl FnOnce() -> Result<()>,
) -> Result<(i32, OwnedFd)> {
    let entry = prepare(t)?;
    let (err_r, err_w) = pipe()?;
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("fork", io::Error::last_os_error()));
    }
    if pid == 0 {
        // The parent's ends of the pipes: the child must not hold them open.
        for fd in close {
            unsafe { libc::close(*fd) };
        }
        drop(err_r);
        let mut w = File::from(err_w);
        let code = match unsafe { enter(&entry) } {
            Err((what, errno)) => {
                let _ = write!(w, "{what}: {}", io::Error::from_raw_os_error(errno));
                1
            }
            Ok(()) => match work() {
                Ok(()) => 0,
                Err(e) => {
                    let _ = write!(w, "{e}");
                    1
                }
            },
        };
        unsafe { libc::_exit(code) }
    }
    drop(err_w);
    Ok((pid, err_r))
}

/// Waits for the child; its error text if it failed.
fn finish(pid: i32, err_r: OwnedFd) -> Result<()> {
    let mut msg = String::new();
    let _ = File::from(err_r).read_to_string(&mut msg);
    let mut status = 0;
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 && msg.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(if msg.is_empty() {
        "the copy failed".into()
    } else {
        msg
    }))
}

/// What `path` is inside the container: "dir", "file", "symlink", "other",
/// or None if there is nothing there. The last component is followed with
/// `follow` (inside the container, like every other).
pub fn stat_in(t: &Target, path: &str, follow: bool) -> Result<Option<&'static str>> {
    let (r, w) = pipe()?;
    let path = path.to_string();
    let (pid, err) = fork_inside(t, &[r.as_raw_fd()], move || {
        let meta = if follow {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        };
        let kind: &[u8] = match meta {
            Err(e) if e.kind() == io::ErrorKind::NotFound => b"none",
            Err(e) => return Err(Error::io(format!("stat {path}"), e)),
            Ok(m) if m.is_dir() => b"dir",
            Ok(m) if m.is_file() => b"file",
            Ok(m) if m.file_type().is_symlink() => b"symlink",
            Ok(_) => b"other",
        };
        File::from(w).write_all(kind).ctx(|| "report".into())
    })?;
    let mut answer = String::new();
    let _ = File::from(r).read_to_string(&mut answer);
    finish(pid, err)?;
    Ok(match answer.as_str() {
        "dir" => Some("dir"),
        "file" => Some("file"),
        "symlink" => Some("symlink"),
        "other" => Some("other"),
        _ => None,
    })
}

/// `src` as a tar stream whose top entry is `name` (".": only what the
/// directory `src` holds). Symlinks are archived, never followed.
pub fn write_tar<W: Write>(src: &Path, name: &Path, out: W) -> Result<W> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let meta = std::fs::symlink_metadata(src)
        .ctx(|| format!("Could not find the file {}", src.display()))?;
    add(&mut b, src, name, &meta)?;
    b.finish().map_err(|e| Error::io("write the archive", e))?;
    b.into_inner()
        .map_err(|e| Error::io("write the archive", e))
}

fn add<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    m: &std::fs::Metadata,
) -> Result<()> {
    let err = |e: io::Error| Error::io(format!("archive {}", path.display()), e);
    let mut h = tar::Header::new_gnu();
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    let ft = m.file_type();
    if ft.is_dir() {
        if name != Path::new(".") {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, name, io::empty()).map_err(err)?;
        }
        if is_pseudo_fs(path) {
            return Ok(()); // /proc, /sys, /dev/pts...: the kernel's, not the container's files
        }
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(err)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let child = path.join(&n);
            if let Ok(cm) = std::fs::symlink_metadata(&child) {
                add(b, &child, &name.join(&n), &cm)?;
            }
        }
    } else if ft.is_file() {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(err)?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(m.len());
        b.append_data(&mut h, name, f.take(m.len())).map_err(err)?;
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(err)?;
        h.set_entry_type(tar::EntryType::Symlink);
        let raw = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str());
        crate::layer::diff::append_symlink(b, &mut h, name, raw).map_err(err)?;
    } else {
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            return Ok(()); // sockets are not copied
        };
        h.set_entry_type(kind);
        h.set_device_major(libc::major(m.rdev())).map_err(err)?;
        h.set_device_minor(libc::minor(m.rdev())).map_err(err)?;
        b.append_data(&mut h, name, io::empty()).map_err(err)?;
    }
    Ok(())
}

/// A kernel filesystem (proc, sysfs, devpts, mqueue, cgroup, the tmpfs of
/// a running container's /dev): archived as an empty directory.
fn is_pseudo_fs(path: &Path) -> bool {
    const MAGICS: &[i64] = &[
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x1cd1,      // devpts
        0x1980_0202, // mqueue
        0x0027_e0eb, // cgroup
        0x6367_7270, // cgroup2
        0x7363_6673, // securityfs
        0x6462_6720, // debugfs
    ];
    let Ok(c) = path_cstring(path) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } < 0 {
        return false;
    }
    if MAGICS.contains(&(st.f_type as i64)) {
        return true;
    }
    // /dev of a running container is a tmpfs of device nodes ketch made.
    path == Path::new("/dev") && st.f_type as i64 == 0x0102_1994
}

fn literal() -> Options {
    Options {
        literal: true,
        into_existing: true,
        ..Default::default()
    }
}

/// Container -> host: `src` (a path inside the container) as `name` into
/// the existing host directory `dest_dir`.
pub fn copy_out(t: &Target, src: &str, name: &str, dest_dir: &Path) -> Result<()> {
    let (r, w) = pipe()?;
    let (src, name) = (PathBuf::from(src), PathBuf::from(name));
    let (pid, err) = fork_inside(t, &[r.as_raw_fd()], move || {
        write_tar(&src, &name, std::io::BufWriter::new(File::from(w)))?
            .flush()
            .ctx(|| "write the archive".into())
    })?;
    let got = unpack(File::from(r), dest_dir, &literal());
    // The child's own error says more than a short stream does.
    finish(pid, err)?;
    got.map(|_| ())
}

/// Host -> container: the host path `src` as `name` into `dest_dir`, a
/// directory inside the container.
pub fn copy_in(t: &Target, src: &Path, name: &str, dest_dir: &str) -> Result<()> {
    let (r, w) = pipe()?;
    let dest = PathBuf::from(dest_dir);
    let (pid, err) = fork_inside(t, &[w.as_raw_fd()], move || {
        unpack(File::from(r), &dest, &literal()).map(|_| ())
    })?;
    let wrote = write_tar(src, Path::new(name), std::io::BufWriter::new(File::from(w)))
        .and_then(|mut w| w.flush().ctx(|| "write the archive".into()));
    finish(pid, err)?;
    wrote
}

/// The Python face: `_native.cp_stat`, `cp_out`, `cp_in`. A container is
/// {"pid": N} while it runs, else {"lowerdirs", "upper", "work", "rootfs"}.
#[cfg(feature = "python")]
pub mod bindings {
    use std::path::PathBuf;

    use pyo3::exceptions::PyKeyError;
    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    use super::Target;
    use crate::error::without_gil;

    /// The container dict, as the argument `target` of each function here.
    impl<'a, 'py> FromPyObject<'a, 'py> for Target {
        type Error = PyErr;

        fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Target> {
            let t = obj.cast::<PyDict>()?;
            if let Some(pid) = t.get_item("pid")? {
                return Ok(Target::Running(pid.extract()?));
            }
            let get = |k: &str| -> PyResult<Bound<'py, PyAny>> {
                t.get_item(k)?
                    .ok_or_else(|| PyKeyError::new_err(k.to_string()))
            };
            Ok(Target::Stopped {
                lowerdirs: get("lowerdirs")?.extract()?,
                upper: get("upper")?.extract()?,
                work: get("work")?.extract()?,
                rootfs: get("rootfs")?.extract()?,
            })
        }
    }

    /// What `path` is inside a container ("dir", "file", "symlink", "other") or None.
    #[pyfunction]
    #[pyo3(signature = (target, path, follow=false))]
    pub fn cp_stat(target: Target, path: String, follow: bool) -> PyResult<Option<&'static str>> {
        without_gil(|| super::stat_in(&target, &path, follow))
    }

    /// `ketch cp` container -> host: `src` as `name` into the host directory `dest_dir`.
    #[pyfunction]
    pub fn cp_out(target: Target, src: String, name: String, dest_dir: PathBuf) -> PyResult<()> {
        without_gil(|| super::copy_out(&target, &src, &name, &dest_dir))
    }

    /// `ketch cp` host -> container: `src` as `name` into `dest_dir` inside the container.
    #[pyfunction]
    pub fn cp_in(target: Target, src: PathBuf, name: String, dest_dir: String) -> PyResult<()> {
        without_gil(|| super::copy_in(&target, &src, &name, &dest_dir))
    }
}
