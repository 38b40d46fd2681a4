//! Copies between two roots, both confined: COPY and ADD of the builder
//! (from the build context, an earlier stage or an image) and the copy-up
//! that fills a new volume with the image's content.
//!
//! The source and the destination are each a `Root` (a directory held by
//! fd: the context, the upper directory of the layer being built, a volume,
//! or an image's merged layers mounted nowhere, see `Root::overlay`). The
//! two paths given are resolved inside their roots (openat2
//! RESOLVE_IN_ROOT); below them every entry is reached by name from its
//! parent's fd without following links. So no symlink of the source, `..`,
//! absolute or relative, names a host file, and nothing is written outside
//! the destination root.
//!
//! Entries are copied as what they are: a symlink as a symlink, a device,
//! FIFO or socket as a node with the same type and numbers (never opened:
//! a source entry is first reached with O_PATH and its type read from that
//! fd, and only a regular file is then opened for reading, through that same
//! fd), files that are hard links of each other as hard links again.
//! Owners, modes, extended attributes (less overlayfs' own) and times are
//! kept, as docker's COPY keeps them; `--chown`/`--chmod` and the build
//! context's owners (0:0) are options.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::node::{create_file, mknod, set_owner_mode, set_times, symlink};
use crate::error::{Context, Error, Result};
use crate::root::{
    clean_components, display, fstat, fstatat, is_dir, list_dir, openat, readlinkat, remove_at,
    reopen, Root,
};
use crate::sys::{check, cstr};

#[derive(Debug, Default, Clone)]
pub struct CopyOptions {
    /// `--chown`: every entry copied gets this owner.
    pub chown: Option<(u32, u32)>,
    /// `--chmod`: every entry but symlinks gets this mode.
    pub chmod: Option<u32>,
    /// Keep the source's owners (a stage, an image, a volume's copy-up);
    /// false: 0:0, as docker gives files from the build context.
    pub keep_owners: bool,
    /// Entries not copied (`.dockerignore`), as paths relative to the source
    /// directory, `/`-separated.
    pub skip: HashSet<Vec<u8>>,
    /// Directories that are excluded themselves but may hold entries that
    /// are not (a `!` exception): walked, and kept only if something in them is.
    pub hollow: HashSet<Vec<u8>>,
    /// When the source is a directory, its owner, mode, xattrs and times go
    /// to the destination directory as well (a volume's copy-up).
    pub top_meta: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Copied {
    pub entries: u64,
    pub bytes: u64,
}

/// What `path` is inside `root`: "dir", "file", "symlink" or "other", None
/// if there is nothing. The last component is followed (inside the root)
/// with `follow`.
pub fn kind_in(root: &Root, path: &[u8], follow: bool) -> Result<Option<&'static str>> {
    let parts = clean_components(path);
    let st = root
        .stat_in(&parts, follow)
        .ctx(|| format!("stat {}", String::from_utf8_lossy(path)))?;
    Ok(st.map(|st| match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => "dir",
        libc::S_IFREG => "file",
        libc::S_IFLNK => "symlink",
        _ => "other",
    }))
}

/// Copies `src_path` of `src` to `dst_path` of `dst`. The source path is
/// followed inside its root, its last component too (as docker's COPY
/// follows a named source). A directory's content goes into the directory
/// `dst_path` (made, 0755, with its missing parents, if it is not there);
/// anything else becomes `dst_path` itself, replacing what was there.
pub fn copy_in_root(
    src: &Root,
    src_path: &[u8],
    dst: &Root,
    dst_path: &[u8],
    opts: &CopyOptions,
) -> Result<Copied> {
    let sparts = clean_components(src_path);
    let shown = String::from_utf8_lossy(src_path).into_owned();
    let top = src
        .open_in(&sparts, libc::O_PATH)
        .ctx(|| format!("stat {shown}"))?;
    let st = fstat(&top).ctx(|| format!("stat {shown}"))?;
    let mut dparts = clean_components(dst_path);
    let mut c = Copier {
        opts,
        dst,
        links: HashMap::new(),
        stats: Copied::default(),
        buf: Vec::new(),
    };
    if is_dir(&st) {
        let sdir =
            reopen(&top, libc::O_RDONLY | libc::O_DIRECTORY).ctx(|| format!("open {shown}"))?;
        let dpath = dst.mkdir_all(&dparts)?;
        let ddir = reopen(&dpath, libc::O_RDONLY | libc::O_DIRECTORY)
            .ctx(|| format!("open {}", display(&dparts)))?;
        c.dir_contents(&sdir, &ddir, &mut Vec::new(), &mut dparts)?;
        if opts.top_meta {
            c.meta(&sdir, &st, &ddir, &display(&dparts))?;
            set_times(ddir.as_raw_fd(), c"", &times(&st), libc::AT_EMPTY_PATH)
                .ctx(|| format!("set times of {}", display(&dparts)))?;
        }
        return Ok(c.stats);
    }
    let Some(name) = dparts.pop() else {
        return Err(Error::Invalid(format!(
            "cannot copy {shown}, which is not a directory, onto the root"
        )));
    };
    let parent = dst.mkdir_all(&dparts)?;
    let pdir = reopen(&parent, libc::O_RDONLY | libc::O_DIRECTORY)
        .ctx(|| format!("open {}", display(&dparts)))?;
    dparts.push(name.clone());
    c.entry(top, &st, &pdir, &name, &mut dparts)?;
    Ok(c.stats)
}

/// Whether `src_path` (followed inside `src`) is a regular file holding a
/// tar archive of any compression `unpack` reads.
pub fn is_archive_in_root(src: &Root, src_path: &[u8]) -> Result<bool> {
    Ok(open_regular(src, src_path)?.is_some_and(crate::layer::decode::is_archive))
}

/// `src_path` (followed inside `src`) opened for reading if it is a regular
/// file (looked at by O_PATH first: a node or FIFO is never opened).
fn open_regular(src: &Root, src_path: &[u8]) -> Result<Option<File>> {
    let shown = String::from_utf8_lossy(src_path);
    let fd = src
        .open_in(&clean_components(src_path), libc::O_PATH)
        .ctx(|| format!("stat {shown}"))?;
    let st = fstat(&fd).ctx(|| format!("stat {shown}"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    Ok(Some(File::from(
        reopen(&fd, libc::O_RDONLY).ctx(|| format!("open {shown}"))?,
    )))
}

/// ADD of a local archive: if `src_path` (followed inside `src`) is a
/// regular file holding a tar archive (plain, gzip, zstd, bzip2 or xz), it
/// is unpacked into the directory `dst_path` of `dst` (made where missing),
/// every entry confined to that directory, names taken literally; returns
/// the number of entries. Anything else: None, for the caller to copy.
pub fn extract_in_root(
    src: &Root,
    src_path: &[u8],
    dst: &Root,
    dst_path: &[u8],
) -> Result<Option<u64>> {
    use std::io::{Seek, SeekFrom};
    let shown = String::from_utf8_lossy(src_path).into_owned();
    let Some(mut f) = open_regular(src, src_path)? else {
        return Ok(None);
    };
    if !crate::layer::decode::is_archive(&mut f) {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(0)).ctx(|| format!("read {shown}"))?;
    let into = Root::from_owned(dst.mkdir_all(&clean_components(dst_path))?, shown.clone());
    let opts = crate::layer::unpack::Options {
        literal: true,
        into_existing: true,
        ..Default::default()
    };
    let u = crate::layer::unpack::unpack_into(io::BufReader::new(f), &into, &opts).map_err(
        |e| match e {
            Error::BadLayer(m) => Error::Invalid(format!("ADD {shown}: {m}")),
            e => e,
        },
    )?;
    Ok(Some(u.entries))
}

/// Makes the directories of `path` inside `dst` that are missing, each with
/// the owner, mode and times that the same path has in `like` (an image:
/// so a layer does not change them), a directory that `like` lacks root's
/// with `mode`. In `like`, every component but the last is followed inside
/// its root; what the path names there must be a directory itself.
pub fn mkdirs_like(dst: &Root, path: &[u8], like: Option<&Root>, mode: u32) -> Result<()> {
    let parts = clean_components(path);
    for i in 0..parts.len() {
        let shown = display(&parts[..=i]);
        // Already there (symlinks on the way followed inside the root).
        match dst.open_in(&parts[..=i], libc::O_PATH | libc::O_DIRECTORY) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(Error::io(format!("mkdir {shown}"), e)),
        }
        let parent = dst
            .open_in(&parts[..i], libc::O_PATH | libc::O_DIRECTORY)
            .ctx(|| format!("mkdir {shown}"))?;
        let name = cstr(&parts[i])?;
        check(unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o700) })
            .ctx(|| format!("mkdir {shown}"))?;
        let new = openat(
            parent.as_raw_fd(),
            &name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .ctx(|| format!("open {shown}"))?;
        let found = match like {
            Some(img) => img
                .stat_in(&parts[..=i], false)
                .ctx(|| format!("stat {shown} in the image"))?
                .filter(is_dir),
            None => None,
        };
        let raw = new.as_raw_fd();
        match found {
            Some(st) => {
                set_owner_mode(raw, (st.st_uid, st.st_gid), st.st_mode & 0o7777, &shown)?;
                set_times(raw, c"", &times(&st), libc::AT_EMPTY_PATH)
                    .ctx(|| format!("set times of {shown}"))?;
            }
            None => check(unsafe { libc::fchmod(raw, mode) }).ctx(|| format!("chmod {shown}"))?,
        }
    }
    Ok(())
}

/// Writes `data` as the regular file `path` inside `dst` (its parents made
/// 0755 where missing, what was there replaced): a heredoc of COPY.
pub fn write_in_root(
    dst: &Root,
    path: &[u8],
    data: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> Result<()> {
    use std::io::Write;
    let mut parts = clean_components(path);
    let Some(name) = parts.pop() else {
        return Err(Error::Invalid("cannot write a file onto the root".into()));
    };
    let shown = String::from_utf8_lossy(path).into_owned();
    let parent = dst.mkdir_all(&parts)?;
    let cname = cstr(&name)?;
    if fstatat(parent.as_raw_fd(), &cname)
        .ctx(|| format!("stat {shown}"))?
        .is_some()
    {
        remove_at(parent.as_raw_fd(), &cname).ctx(|| format!("replace {shown}"))?;
    }
    let mut f = create_file(parent.as_raw_fd(), &cname, &shown)?;
    f.write_all(data).ctx(|| format!("write {shown}"))?;
    set_owner_mode(f.as_raw_fd(), owner, mode, &shown)
}

struct Copier<'a> {
    opts: &'a CopyOptions,
    dst: &'a Root,
    /// (dev, ino) of a source file with several links -> where its first
    /// copy went (path in the destination root).
    links: HashMap<(u64, u64), Vec<Vec<u8>>>,
    stats: Copied,
    buf: Vec<u8>,
}

impl Copier<'_> {
    /// Copies what the directory `sdir` holds into the directory `ddir`.
    /// `rel`: the path of `sdir` relative to the source's top (for the
    /// excludes); `dparts`: the path of `ddir` in the destination root.
    fn dir_contents(
        &mut self,
        sdir: &OwnedFd,
        ddir: &OwnedFd,
        rel: &mut Vec<Vec<u8>>,
        dparts: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let mut names = list_dir(sdir).ctx(|| format!("list {}", display(rel)))?;
        names.sort();
        for name in names {
            rel.push(name.clone());
            let key = rel.join(&b'/');
            if self.opts.skip.contains(&key) {
                rel.pop();
                continue;
            }
            let cname = cstr(&name)?;
            let child = openat(sdir.as_raw_fd(), &cname, libc::O_PATH | libc::O_NOFOLLOW, 0)
                .ctx(|| format!("open {}", display(rel)))?;
            let st = fstat(&child).ctx(|| format!("stat {}", display(rel)))?;
            dparts.push(name.clone());
            if is_dir(&st) {
                let hollow = self.opts.hollow.contains(&key);
                self.dir(child, &st, ddir, &name, rel, dparts, hollow)?;
            } else {
                self.entry(child, &st, ddir, &name, dparts)?;
            }
            dparts.pop();
            rel.pop();
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn dir(
        &mut self,
        src: OwnedFd,
        st: &libc::stat,
        pdir: &OwnedFd,
        name: &[u8],
        rel: &mut Vec<Vec<u8>>,
        dparts: &mut Vec<Vec<u8>>,
        hollow: bool,
    ) -> Result<()> {
        let shown = display(dparts);
        let cname = cstr(name)?;
        let existing = fstatat(pdir.as_raw_fd(), &cname).ctx(|| format!("stat {shown}"))?;
        let made = match existing {
            Some(d) if is_dir(&d) => false,
            other => {
                if other.is_some() {
                    remove_at(pdir.as_raw_fd(), &cname).ctx(|| format!("replace {shown}"))?;
                }
                check(unsafe { libc::mkdirat(pdir.as_raw_fd(), cname.as_ptr(), 0o700) })
                    .ctx(|| format!("mkdir {shown}"))?;
                true
            }
        };
        let ddir = openat(
            pdir.as_raw_fd(),
            &cname,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .ctx(|| format!("open {shown}"))?;
        let sdir = reopen(&src, libc::O_RDONLY | libc::O_DIRECTORY)
            .ctx(|| format!("open {}", display(rel)))?;
        drop(src);
        self.dir_contents(&sdir, &ddir, rel, dparts)?;
        if hollow && made && list_dir(&ddir).ctx(|| format!("list {shown}"))?.is_empty() {
            drop(ddir);
            check(unsafe { libc::unlinkat(pdir.as_raw_fd(), cname.as_ptr(), libc::AT_REMOVEDIR) })
                .ctx(|| format!("rmdir {shown}"))?;
            return Ok(());
        }
        self.stats.entries += 1;
        self.meta(&sdir, st, &ddir, &shown)?;
        // Times last, once nothing more is written in it.
        set_times(ddir.as_raw_fd(), c"", &times(st), libc::AT_EMPTY_PATH)
            .ctx(|| format!("set times of {shown}"))?;
        Ok(())
    }

    /// Owner, mode and xattrs of the source `sfd` onto the new `dfd` (a
    /// regular file or a directory, both opened for real).
    fn meta(&self, sfd: &OwnedFd, st: &libc::stat, dfd: &OwnedFd, shown: &str) -> Result<()> {
        let raw = dfd.as_raw_fd();
        let mode = self.opts.chmod.unwrap_or(st.st_mode & 0o7777);
        set_owner_mode(raw, self.owner(st), mode, shown)?;
        // After chown, which drops security.capability.
        copy_xattrs(sfd.as_raw_fd(), raw).ctx(|| format!("copy xattrs of {shown}"))
    }

    fn owner(&self, st: &libc::stat) -> (u32, u32) {
        match self.opts.chown {
            Some(o) => o,
            None if self.opts.keep_owners => (st.st_uid, st.st_gid),
            None => (0, 0),
        }
    }

    /// One entry that is not a directory: `src` (O_PATH, not followed) as
    /// `name` in `pdir`, which is `dparts` in the destination root.
    fn entry(
        &mut self,
        src: OwnedFd,
        st: &libc::stat,
        pdir: &OwnedFd,
        name: &[u8],
        dparts: &mut [Vec<u8>],
    ) -> Result<()> {
        let shown = display(dparts);
        let cname = cstr(name)?;
        let pfd = pdir.as_raw_fd();
        if fstatat(pfd, &cname)
            .ctx(|| format!("stat {shown}"))?
            .is_some()
        {
            remove_at(pfd, &cname).ctx(|| format!("replace {shown}"))?;
        }
        self.stats.entries += 1;
        let kind = st.st_mode & libc::S_IFMT;
        if kind != libc::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let (fname, fparent) = first.split_last().expect("a path, never the root");
                let fdir = self
                    .dst
                    .open_in(fparent, libc::O_PATH | libc::O_DIRECTORY)
                    .ctx(|| format!("hardlink {shown}"))?;
                let fc = cstr(fname)?;
                check(unsafe {
                    libc::linkat(fdir.as_raw_fd(), fc.as_ptr(), pfd, cname.as_ptr(), 0)
                })
                .ctx(|| format!("hardlink {shown} to {}", display(first)))?;
                return Ok(());
            }
            self.links.insert(key, dparts.to_vec());
        }
        let owner = self.owner(st);
        match kind {
            libc::S_IFREG => {
                let from = File::from(
                    reopen(&src, libc::O_RDONLY | libc::O_NOCTTY)
                        .ctx(|| format!("open the source of {shown}"))?,
                );
                let mut to = create_file(pfd, &cname, &shown)?;
                self.stats.bytes +=
                    copy_file(&from, &mut to, &mut self.buf).ctx(|| format!("copy {shown}"))?;
                let to = OwnedFd::from(to);
                self.meta(&OwnedFd::from(from), st, &to, &shown)?;
                set_times(to.as_raw_fd(), c"", &times(st), libc::AT_EMPTY_PATH)
                    .ctx(|| format!("set times of {shown}"))?;
            }
            libc::S_IFLNK => {
                let target = readlinkat(src.as_raw_fd(), &CString::default())
                    .ctx(|| format!("readlink the source of {shown}"))?;
                symlink(pfd, &cname, &target, owner, &shown)?;
                set_times(pfd, &cname, &times(st), 0).ctx(|| format!("set times of {shown}"))?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK => {
                // A node with the same type and numbers; the source is never opened.
                let mode = self.opts.chmod.unwrap_or(st.st_mode & 0o7777);
                mknod(pfd, &cname, kind, st.st_rdev, owner, mode, &shown)?;
                set_times(pfd, &cname, &times(st), 0).ctx(|| format!("set times of {shown}"))?;
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "{shown}: a file of unknown type {kind:o}"
                )))
            }
        }
        Ok(())
    }
}

/// The file's bytes: copy_file_range (a reflink or an in-kernel copy) where
/// the two file systems allow it, read and write otherwise.
fn copy_file(from: &File, to: &mut File, buf: &mut Vec<u8>) -> io::Result<u64> {
    use std::io::{Read, Write};
    let mut total = 0u64;
    loop {
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
                0,
            )
        };
        if n == 0 {
            return Ok(total);
        }
        if n > 0 {
            total += n as u64;
            continue;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM) => {
                break
            }
            _ => return Err(e),
        }
    }
    if buf.is_empty() {
        buf.resize(256 * 1024, 0);
    }
    let mut from = from;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// The extended attributes of `from` onto `to` (both opened files or
/// directories), less overlayfs' own; a destination file system that
/// knows no xattrs is not an error.
fn copy_xattrs(from: RawFd, to: RawFd) -> io::Result<()> {
    let mut names = vec![0u8; 1024];
    let n = loop {
        let n = unsafe { libc::flistxattr(from, names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(()),
            _ => return Err(e),
        }
    };
    let mut value = vec![0u8; 4096];
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let cname = CString::new(name).expect("split at NUL");
        let len = loop {
            let r = unsafe {
                libc::fgetxattr(from, cname.as_ptr(), value.as_mut_ptr().cast(), value.len())
            };
            if r >= 0 {
                break r as usize;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ERANGE) => value.resize(value.len() * 4, 0),
                Some(libc::ENODATA) => break usize::MAX, // gone meanwhile
                _ => return Err(e),
            }
        };
        if len == usize::MAX {
            continue;
        }
        let r = unsafe { libc::fsetxattr(to, cname.as_ptr(), value.as_ptr().cast(), len, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The atime and mtime of `st`, to the nanosecond.
fn times(st: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}
