//! One entry of a layer's tar stream written into the tree: a directory,
//! file, symlink, hard link or node under its parent, resolved inside the
//! root, with the entry's owner (PAX ids checked), mode, xattrs and mtime;
//! whiteouts as overlayfs reads them. A later entry replaces an earlier one.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use tar::EntryType;

use super::decode::read_error;
use super::node::{create_file, mknod, set_owner_mode, set_times, symlink};
use super::unpack::Unpacked;
use crate::error::{Context, Error, Result};
use crate::root::{clean_components, display, fstatat, is_dir, openat, remove_at, Root};
use crate::sys::{check, cstr};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// atime and mtime both set to `mtime` (seconds), as in the layer.
fn times(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    [t, t]
}

pub(super) fn set_times_path(fd: &OwnedFd, mtime: i64) -> io::Result<()> {
    // An O_PATH fd cannot be given to futimens; utimensat(fd, "", AT_EMPTY_PATH) can.
    set_times(fd.as_raw_fd(), c"", &times(mtime), libc::AT_EMPTY_PATH)
}

fn set_times_at(dirfd: RawFd, name: &CString, mtime: i64) -> io::Result<()> {
    set_times(dirfd, name, &times(mtime), 0)
}

/// Extended attributes carried by an entry (PAX `SCHILY.xattr.*`), less the
/// overlay's own, which a layer must never be able to set.
fn xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<(CString, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(read_error)? {
        for ext in exts {
            let ext = ext.map_err(read_error)?;
            let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if name.starts_with(b"trusted.overlay.") {
                continue;
            }
            out.push((cstr(name)?, ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// The entry's owner. The tar reader copies the PAX `uid`/`gid` records
/// (where large ids are written) into the header, but keeps the header's own
/// (0: root) for a record it cannot parse: such a record makes the layer bad,
/// as does an id that does not fit in a uid_t or is (uid_t)-1 (chown's "leave
/// it as it is"). Truncated, 2^32 would become root.
fn owner<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<(libc::uid_t, libc::gid_t)> {
    let header = entry.header();
    let (mut uid, mut gid) = (
        header.uid().map_err(read_error)?,
        header.gid().map_err(read_error)?,
    );
    if let Some(exts) = entry.pax_extensions().map_err(read_error)? {
        for ext in exts {
            let ext = ext.map_err(read_error)?;
            let (slot, what) = match ext.key_bytes() {
                b"uid" => (&mut uid, "uid"),
                b"gid" => (&mut gid, "gid"),
                _ => continue,
            };
            *slot = std::str::from_utf8(ext.value_bytes())
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::BadLayer(format!("{name}: its PAX {what} is not an id")))?;
        }
    }
    let fit = |id: u64, what: &str| {
        libc::uid_t::try_from(id)
            .ok()
            .filter(|&v| v != libc::uid_t::MAX)
            .ok_or_else(|| {
                Error::BadLayer(format!(
                    "{name}: {what} {id} is out of range (0-{})",
                    libc::uid_t::MAX - 1
                ))
            })
    };
    Ok((fit(uid, "uid")?, fit(gid, "gid")?))
}

fn set_xattrs(fd: RawFd, attrs: &[(CString, Vec<u8>)]) -> io::Result<()> {
    for (name, value) in attrs {
        check(unsafe {
            libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0)
        })?;
    }
    Ok(())
}

pub(super) fn extract_entry<R: Read>(
    root: &Root,
    entry: &mut tar::Entry<'_, R>,
    dir_times: &mut Vec<(Vec<Vec<u8>>, i64)>,
    stats: &mut Unpacked,
    buf: &mut [u8],
    literal: bool,
) -> Result<()> {
    let raw_path = entry.path_bytes().into_owned();
    let mut parts = clean_components(&raw_path);
    let name_str = display(&parts);
    let (uid, gid) = owner(entry, &name_str)?;
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().map_err(read_error)? & 0o7777;
    let mtime = header.mtime().unwrap_or(0) as i64;

    // The root itself ("./"): only its metadata.
    let Some(name) = parts.pop() else {
        if kind.is_dir() {
            let fd = root
                .open_in(&[], libc::O_RDONLY | libc::O_DIRECTORY)
                .ctx(|| "open layer root".into())?;
            set_owner_mode(fd.as_raw_fd(), (uid, gid), mode, "/")?;
            dir_times.push((Vec::new(), mtime));
        }
        return Ok(());
    };

    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX).filter(|_| !literal) {
        return whiteout(root, &parts, &name, hidden, &name_str);
    }

    let parent = root.mkdir_all(&parts)?;
    let pfd = parent.as_raw_fd();
    let cname = cstr(&name)?;
    // A later entry replaces an earlier one (a directory over a directory merges).
    let existing = fstatat(pfd, &cname).ctx(|| format!("stat {name_str}"))?;
    match (&existing, kind.is_dir()) {
        (Some(st), true) if is_dir(st) => {}
        (Some(_), _) => remove_at(pfd, &cname).ctx(|| format!("replace {name_str}"))?,
        (None, _) => {}
    }

    match kind {
        EntryType::Directory => {
            if existing.as_ref().is_none_or(|st| !is_dir(st)) {
                check(unsafe { libc::mkdirat(pfd, cname.as_ptr(), 0o700) })
                    .ctx(|| format!("mkdir {name_str}"))?;
            }
            let attrs = xattrs(entry)?;
            let fd = openat(
                pfd,
                &cname,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .ctx(|| format!("open {name_str}"))?;
            set_owner_mode(fd.as_raw_fd(), (uid, gid), mode, &name_str)?;
            set_xattrs(fd.as_raw_fd(), &attrs).ctx(|| format!("set xattrs of {name_str}"))?;
            parts.push(name);
            dir_times.push((parts, mtime));
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            if kind == EntryType::GNUSparse {
                return Err(Error::BadLayer(format!(
                    "sparse file {name_str} is not supported"
                )));
            }
            let attrs = xattrs(entry)?;
            let mut file = create_file(pfd, &cname, &name_str)?;
            let want = entry.size();
            let n = copy_data(entry, &mut file, buf, &name_str)?;
            if n != want {
                return Err(Error::BadLayer(format!(
                    "the layer ends early, inside {name_str} (truncated)"
                )));
            }
            stats.content_size += n;
            let raw = file.as_raw_fd();
            set_owner_mode(raw, (uid, gid), mode, &name_str)?;
            set_xattrs(raw, &attrs).ctx(|| format!("set xattrs of {name_str}"))?;
            let ts = times(mtime);
            check(unsafe { libc::futimens(raw, ts.as_ptr()) })
                .ctx(|| format!("set times of {name_str}"))?;
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| Error::BadLayer(format!("symlink {name_str} has no target")))?;
            symlink(pfd, &cname, &target, (uid, gid), &name_str)?;
            set_times_at(pfd, &cname, mtime).ctx(|| format!("set times of {name_str}"))?;
            // docker's layer size counts a symlink as lstat does: its target's length
            stats.content_size += target.len() as u64;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| Error::BadLayer(format!("hardlink {name_str} has no target")))?;
            let mut tparts = clean_components(&target);
            let Some(tname) = tparts.pop() else {
                return Err(Error::BadLayer(format!(
                    "hardlink {name_str} points at the layer root"
                )));
            };
            // The target's parent is resolved inside the root; linkat does not
            // follow the last component, so a link to a symlink stays a symlink.
            let tparent = root
                .open_in(&tparts, libc::O_PATH | libc::O_DIRECTORY)
                .ctx(|| {
                    format!(
                        "hardlink {name_str}: target {}",
                        String::from_utf8_lossy(&target)
                    )
                })?;
            let ctname = cstr(&tname)?;
            check(unsafe {
                libc::linkat(tparent.as_raw_fd(), ctname.as_ptr(), pfd, cname.as_ptr(), 0)
            })
            .ctx(|| {
                format!(
                    "hardlink {name_str}: target {}",
                    String::from_utf8_lossy(&target)
                )
            })?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let ftype = match kind {
                EntryType::Char => libc::S_IFCHR,
                EntryType::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            let rdev = libc::makedev(major, minor);
            mknod(pfd, &cname, ftype, rdev, (uid, gid), mode, &name_str)?;
            set_times_at(pfd, &cname, mtime).ctx(|| format!("set times of {name_str}"))?;
        }
        EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => {}
        other => {
            return Err(Error::BadLayer(format!(
                "entry {name_str} has unsupported type {other:?}"
            )))
        }
    }
    Ok(())
}

/// A whiteout entry (`.wh.NAME` in the directory `parts`) as overlayfs reads
/// it: `.wh..wh..opq` the opaque xattr on the directory, `.wh.NAME` a 0:0
/// character device in NAME's place.
fn whiteout(
    root: &Root,
    parts: &[Vec<u8>],
    name: &[u8],
    hidden: &[u8],
    name_str: &str,
) -> Result<()> {
    let parent = root.mkdir_all(parts)?;
    if name == OPAQUE {
        let dir = root
            .open_in(parts, libc::O_RDONLY | libc::O_DIRECTORY)
            .ctx(|| format!("open {}", display(parts)))?;
        let key = CString::new("trusted.overlay.opaque").unwrap();
        set_xattrs(dir.as_raw_fd(), &[(key, b"y".to_vec())])
            .ctx(|| format!("mark {} opaque", display(parts)))?;
        return Ok(());
    }
    if hidden.is_empty() {
        return Err(Error::BadLayer(format!("bare whiteout entry {name_str}")));
    }
    if hidden.starts_with(WHITEOUT_PREFIX) {
        // Other aufs metadata (.wh..wh.plnk, ...): not part of the tree.
        return Ok(());
    }
    let target = cstr(hidden)?;
    remove_at(parent.as_raw_fd(), &target).ctx(|| format!("remove {name_str}"))?;
    check(unsafe {
        libc::mknodat(
            parent.as_raw_fd(),
            target.as_ptr(),
            libc::S_IFCHR,
            libc::makedev(0, 0),
        )
    })
    .ctx(|| format!("whiteout {name_str}"))?;
    Ok(())
}

fn copy_data<R: Read, W: Write>(
    src: &mut R,
    dst: &mut W,
    buf: &mut [u8],
    name: &str,
) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match src.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        dst.write_all(&buf[..n]).ctx(|| format!("write {name}"))?;
        total += n as u64;
    }
}
