//! Layers out: a container's upper dir (a plain overlay diff: redirect_dir,
//! metacopy and index are off) as the changes `docker diff` lists, or as a
//! layer tar in the image format: an overlay whiteout (a 0:0 character
//! device) becomes an empty `.wh.<name>` file, an opaque directory
//! (`trusted.overlay.opaque=y`) becomes the directory plus `.wh..wh..opq`
//! and its whole content.
//!
//! The walk opens every directory relative to its parent with O_NOFOLLOW, so
//! a symlink swapped in by a running container is archived as a symlink and
//! never followed. Names are sorted, so the same tree gives the same bytes.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::digest::format_digest;
use crate::error::{Context, Error, Result};
use crate::root::{fstatat, list_dir, openat, readlinkat};

const OPAQUE: &[u8] = b"trusted.overlay.opaque";

/// One thing found in the upper dir.
struct Node {
    /// Path relative to the root, without a leading slash.
    path: Vec<u8>,
    st: libc::stat,
    whiteout: bool,
    opaque: bool,
    /// The directory it is in, and its name there (for reads by fd).
    parent: RawFd,
    name: CString,
}

fn is(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

fn cname(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn getxattr(fd: RawFd, name: &[u8]) -> Option<Vec<u8>> {
    let key = cname(name).ok()?;
    let mut buf = vec![0u8; 256];
    loop {
        let n = unsafe { libc::fgetxattr(fd, key.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            return Some(buf);
        }
        if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) && buf.len() < 1 << 16 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return None;
    }
}

/// Extended attributes a layer carries: security.capability and user.*
/// (overlay's own trusted.overlay.* never leave the host).
fn layer_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Vec::new();
    };
    let mut names = vec![0u8; 4096];
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !(name == b"security.capability" || name.starts_with(b"user.")) {
            continue;
        }
        let Ok(key) = CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 1024];
        let m = unsafe {
            libc::lgetxattr(c.as_ptr(), key.as_ptr(), val.as_mut_ptr().cast(), val.len())
        };
        if m >= 0 {
            val.truncate(m as usize);
            out.push((String::from_utf8_lossy(name).into_owned(), val));
        }
    }
    out
}

/// Depth-first, names sorted, a directory before what it holds. `visit` is
/// called with each node; the directory fds stay open for the whole walk.
fn walk(upper: &Path, visit: &mut dyn FnMut(&Node) -> Result<()>) -> Result<()> {
    let root = File::open(upper).ctx(|| format!("open {}", upper.display()))?;
    let root = OwnedFd::from(root);
    fn descend(
        dir: &OwnedFd,
        prefix: &[u8],
        visit: &mut dyn FnMut(&Node) -> Result<()>,
    ) -> Result<()> {
        let mut names = list_dir(dir).ctx(|| "read the upper dir".to_string())?;
        names.sort();
        for name in names {
            let c = cname(&name).ctx(|| "a name in the upper dir".to_string())?;
            let Some(st) =
                fstatat(dir.as_raw_fd(), &c).ctx(|| "stat in the upper dir".to_string())?
            else {
                continue; // gone meanwhile
            };
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let whiteout = is(&st, libc::S_IFCHR) && st.st_rdev == 0;
            let sub = if is(&st, libc::S_IFDIR) {
                Some(
                    openat(
                        dir.as_raw_fd(),
                        &c,
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    )
                    .ctx(|| format!("open {}", String::from_utf8_lossy(&path)))?,
                )
            } else {
                None
            };
            let opaque = sub
                .as_ref()
                .and_then(|d| getxattr(d.as_raw_fd(), OPAQUE))
                .is_some_and(|v| v == b"y");
            visit(&Node {
                path: path.clone(),
                st,
                whiteout,
                opaque,
                parent: dir.as_raw_fd(),
                name: c,
            })?;
            if let Some(d) = sub {
                descend(&d, &path, visit)?;
            }
        }
        Ok(())
    }
    descend(&root, b"", visit)
}

/// `docker diff`: ('A' | 'C' | 'D', "/path"), sorted by path. A path the
/// lower layers have is changed (C), one they lack is added (A), a whiteout
/// is a deletion (D).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<(char, String)>> {
    let mut out = Vec::new();
    walk(upper, &mut |n| {
        let rel = Path::new(std::ffi::OsStr::from_bytes(&n.path));
        let kind = if n.whiteout {
            'D'
        } else if lowers
            .iter()
            .any(|l| l.join(rel).symlink_metadata().is_ok())
        {
            'C'
        } else {
            'A'
        };
        out.push((kind, format!("/{}", String::from_utf8_lossy(&n.path))));
        Ok(())
    })?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// A writer that hashes and counts what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What `write_layer` wrote: the tar's digest (the diff id), the file's
/// digest and size (the blob: the same as the tar's when not compressed).
#[derive(Debug, Clone)]
pub struct Written {
    pub diff_id: String,
    pub digest: String,
    pub size: u64,
    pub tar_size: u64,
}

fn header_for(st: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn tar_err(e: io::Error) -> Error {
    Error::io("write the layer", e)
}

/// Writes the upper dir as a layer tar (gzip-compressed with `gzip`) to
/// `out`, which must not exist; it is fsynced before this returns.
pub fn write_layer(upper: &Path, out: &Path, gzip: bool) -> Result<Written> {
    let outer = OutFile::create(out)?;
    let (diff_id, tar_size, outer) = if gzip {
        let (d, n, enc) = write_tar(upper, GzEncoder::new(outer, flate2::Compression::new(6)))?;
        (d, n, enc.finish().map_err(tar_err)?)
    } else {
        write_tar(upper, outer)?
    };
    let (digest, size) = OutFile::finish(outer, out)?;
    Ok(Written {
        diff_id,
        digest,
        size,
        tar_size,
    })
}

/// The tar stream into `w`: (its digest, its size, `w` back).
fn write_tar<W: Write>(upper: &Path, w: W) -> Result<(String, u64, W)> {
    let mut b = tar::Builder::new(HashingWriter {
        inner: w,
        hasher: Sha256::new(),
        count: 0,
    });
    b.follow_symlinks(false);
    let mut links: std::collections::HashMap<(u64, u64), Vec<u8>> = Default::default();
    walk(upper, &mut |n| append(&mut b, n, &mut links, upper))?;
    b.finish().map_err(tar_err)?;
    let inner = b.into_inner().map_err(tar_err)?;
    Ok((format_digest(inner.hasher), inner.count, inner.inner))
}

fn append<W: Write>(
    b: &mut tar::Builder<W>,
    n: &Node,
    links: &mut std::collections::HashMap<(u64, u64), Vec<u8>>,
    upper: &Path,
) -> Result<()> {
    let rel = n.path.clone();
    let path = upper.join(std::ffi::OsStr::from_bytes(&rel));
    if n.whiteout {
        let (dir, base) = match rel.iter().rposition(|c| *c == b'/') {
            Some(i) => (&rel[..=i], &rel[i + 1..]),
            None => (&rel[..0], &rel[..]),
        };
        let mut name = dir.to_vec();
        name.extend_from_slice(b".wh.");
        name.extend_from_slice(base);
        let mut h = header_for(&n.st, tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, std::ffi::OsStr::from_bytes(&name), io::empty())
            .map_err(tar_err)?;
        return Ok(());
    }
    let xattrs = layer_xattrs(&path);
    if !xattrs.is_empty() {
        let keys: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        b.append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(tar_err)?;
    }
    let st = &n.st;
    let name = std::ffi::OsStr::from_bytes(&rel);
    if is(st, libc::S_IFDIR) {
        let mut h = header_for(st, tar::EntryType::Directory);
        let mut dname = rel.clone();
        dname.push(b'/');
        b.append_data(&mut h, std::ffi::OsStr::from_bytes(&dname), io::empty())
            .map_err(tar_err)?;
        if n.opaque {
            let mut w = header_for(st, tar::EntryType::Regular);
            w.set_mode(0o644);
            dname.extend_from_slice(b".wh..wh..opq");
            b.append_data(&mut w, std::ffi::OsStr::from_bytes(&dname), io::empty())
                .map_err(tar_err)?;
        }
    } else if is(st, libc::S_IFREG) {
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = links.get(&key) {
                let mut h = header_for(st, tar::EntryType::Link);
                b.append_link(&mut h, name, std::ffi::OsStr::from_bytes(first))
                    .map_err(tar_err)?;
                return Ok(());
            }
            links.insert(key, rel.clone());
        }
        let fd = openat(n.parent, &n.name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
            .ctx(|| format!("open {}", path.display()))?;
        let f = unsafe { File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
        let mut h = header_for(st, tar::EntryType::Regular);
        h.set_size(st.st_size as u64);
        // A file that changes size while read would corrupt the stream: read
        // exactly the size announced (short reads padded by the error below).
        let mut limited = io::Read::take(f, st.st_size as u64);
        b.append_data(&mut h, name, &mut limited).map_err(tar_err)?;
    } else if is(st, libc::S_IFLNK) {
        let target =
            readlinkat(n.parent, &n.name).ctx(|| format!("readlink {}", path.display()))?;
        let mut h = header_for(st, tar::EntryType::Symlink);
        append_symlink(b, &mut h, name, &target).map_err(tar_err)?;
    } else {
        let kind = if is(st, libc::S_IFCHR) {
            tar::EntryType::Char
        } else if is(st, libc::S_IFBLK) {
            tar::EntryType::Block
        } else if is(st, libc::S_IFIFO) {
            tar::EntryType::Fifo
        } else {
            return Ok(()); // sockets are not archived
        };
        let mut h = header_for(st, kind);
        h.set_device_major(libc::major(st.st_rdev))
            .map_err(tar_err)?;
        h.set_device_minor(libc::minor(st.st_rdev))
            .map_err(tar_err)?;
        b.append_data(&mut h, name, io::empty()).map_err(tar_err)?;
    }
    Ok(())
}

/// A symlink entry whose target is written as readlink gave it: tar's
/// `append_link` rewrites targets by their path components (`/` became `//`,
/// `a//b` `a/b`). A target longer than the header's 100 bytes goes first in
/// a GNU long-link entry (`././@LongLink`, type K), written here too.
pub(crate) fn append_symlink<W: Write, P: AsRef<Path>>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: P,
    target: &[u8],
) -> io::Result<()> {
    let room = h.as_old().linkname.len();
    if target.len() > room {
        let mut long = tar::Header::new_gnu();
        long.as_gnu_mut().expect("a GNU header").name[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_size(target.len() as u64 + 1);
        long.set_entry_type(tar::EntryType::GNULongLink);
        long.set_cksum();
        b.append(&long, io::Read::chain(target, &[0u8][..]))?;
    }
    h.set_link_name_literal(&target[..target.len().min(room)])?;
    b.append_data(h, name, io::empty())
}

/// Gzips the file `src` (a plain layer tar) into `dst`, a new file, fsynced:
/// (the gzip's digest, its size). For a push: layers are kept uncompressed
/// in the store, as docker keeps the ones it builds, and compressed when
/// they leave.
pub fn gzip_file(src: &Path, dst: &Path) -> Result<(String, u64)> {
    let mut input = File::open(src).ctx(|| format!("open {}", src.display()))?;
    let mut enc = GzEncoder::new(OutFile::create(dst)?, flate2::Compression::new(6));
    io::copy(&mut input, &mut enc).ctx(|| format!("compress {}", src.display()))?;
    OutFile::finish(enc.finish().map_err(tar_err)?, dst)
}

/// A new file written through a hash: create it (it must not exist), write,
/// then `finish` flushes and fsyncs it and gives its (digest, size).
type OutFile = HashingWriter<BufWriter<File>>;

impl OutFile {
    fn create(path: &Path) -> Result<OutFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .ctx(|| format!("create {}", path.display()))?;
        Ok(HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            count: 0,
        })
    }

    fn finish(w: OutFile, path: &Path) -> Result<(String, u64)> {
        let (digest, size) = (format_digest(w.hasher), w.count);
        let file = w.inner.into_inner().map_err(|e| tar_err(e.into_error()))?;
        file.sync_all()
            .ctx(|| format!("fsync {}", path.display()))?;
        Ok((digest, size))
    }
}
