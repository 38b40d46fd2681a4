//! A (gzip | zstd | bzip2 | xz | plain) tar stream -> a directory in overlayfs format.
//!
//! One pass over the bytes: the compressed stream is hashed (the blob digest),
//! decompressed, hashed again (the diff id) and extracted. Everything is
//! written through `Root`, so no entry can land outside the target.
//! Whiteouts become what overlayfs reads: `.wh.NAME` a 0:0 character device,
//! `.wh..wh..opq` the `trusted.overlay.opaque` xattr on its directory.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use sha2::Digest;
use tar::EntryType;

use crate::digest::HashingReader;
use crate::error::{Context, Error, Result};
use crate::root::{clean_components, cstr, display, fstatat, is_dir, openat, remove_at, Root};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const BUF: usize = 1 << 20;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the bytes as read (compressed).
    pub digest: String,
    pub compressed_size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    pub tar_size: u64,
    /// Sum of the sizes of the regular files (what docker reports as a layer's size).
    pub content_size: u64,
    pub entries: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Options {
    pub expected_digest: Option<String>,
    pub expected_diff_id: Option<String>,
    /// Stop with `TooLarge` once the uncompressed stream passes this many bytes.
    pub max_bytes: Option<u64>,
    /// Plain files, not a layer: `.wh.` names are ordinary names (`cp`).
    pub literal: bool,
    /// Extract into `dest` as it is (it must exist) instead of creating it.
    pub into_existing: bool,
}

/// A reader that fails once more than `limit` bytes have come through.
struct Limit<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Limit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(Error::TooLarge(self.limit)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

enum Compression {
    Gzip,
    Zstd,
    Bzip2,
    Xz,
    Plain,
}

/// The most an xz stream may make the decoder allocate (its dictionary):
/// `xz -9` needs 65 MiB; a crafted header must not ask for gigabytes.
const XZ_MEMLIMIT: u64 = 256 << 20;

fn sniff<R: BufRead>(r: &mut R) -> io::Result<Compression> {
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::Plain
    })
}

/// Unpacks the layer file `src` into `dest` (created; must not exist).
pub fn unpack_file(src: &Path, dest: &Path, opts: &Options) -> Result<Unpacked> {
    let f = File::open(src).ctx(|| format!("open {}", src.display()))?;
    unpack(f, dest, opts)
}

type Compressed<R> = BufReader<HashingReader<R>>;

/// The decompressor, kept concrete so the compressed reader (and its hash)
/// can be taken back out at the end. One exists per layer: its size is no matter.
#[allow(clippy::large_enum_variant)]
enum Decoder<R: Read> {
    Gzip(flate2::bufread::MultiGzDecoder<Compressed<R>>),
    Zstd(zstd::stream::read::Decoder<'static, Compressed<R>>),
    Bzip2(bzip2::bufread::MultiBzDecoder<Compressed<R>>),
    Xz(liblzma::bufread::XzDecoder<Compressed<R>>),
    Plain(Compressed<R>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
            Decoder::Plain(d) => d.read(buf),
        }
    }
}

impl<R: Read> Decoder<R> {
    /// Picks the decompressor from the stream's first bytes; the compressed
    /// bytes are hashed as they are read.
    fn new(reader: R) -> Result<Self> {
        let mut compressed = BufReader::with_capacity(BUF, HashingReader::new(reader));
        Ok(match sniff(&mut compressed).map_err(read_error)? {
            Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(compressed)),
            Compression::Zstd => Decoder::Zstd(
                zstd::stream::read::Decoder::with_buffer(compressed).ctx(|| "zstd".into())?,
            ),
            Compression::Bzip2 => Decoder::Bzip2(bzip2::bufread::MultiBzDecoder::new(compressed)),
            Compression::Xz => {
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(|e| Error::Invalid(format!("xz: {e}")))?;
                Decoder::Xz(liblzma::bufread::XzDecoder::new_stream(compressed, stream))
            }
            Compression::Plain => Decoder::Plain(compressed),
        })
    }

    fn into_inner(self) -> Compressed<R> {
        match self {
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
            Decoder::Bzip2(d) => d.into_inner(),
            Decoder::Xz(d) => d.into_inner(),
            Decoder::Plain(d) => d,
        }
    }
}

/// Unpacks a layer stream into `dest` (created; must not exist).
pub fn unpack<R: Read>(reader: R, dest: &Path, opts: &Options) -> Result<Unpacked> {
    if !opts.into_existing {
        std::fs::create_dir(dest).ctx(|| format!("create {}", dest.display()))?;
    }
    let root = Root::open(dest)?;
    unpack_into(reader, &root, opts)
}

/// Unpacks a stream into the existing directory `root`, confined to it.
pub fn unpack_into<R: Read>(reader: R, root: &Root, opts: &Options) -> Result<Unpacked> {
    let decoder = Decoder::new(reader)?;
    // The uncompressed stream: bounded, then hashed; the hasher must see every
    // byte, including what tar leaves after its end-of-archive blocks.
    let limit = opts.max_bytes.unwrap_or(u64::MAX);
    let plain = HashingReader::new(Limit {
        inner: decoder,
        left: limit,
        limit,
    });
    let mut archive = tar::Archive::new(BufReader::with_capacity(BUF, plain));
    let mut stats = Unpacked::default();
    let mut dir_times: Vec<(Vec<Vec<u8>>, i64)> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];

    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        stats.entries += 1;
        extract_entry(
            root,
            &mut entry,
            &mut dir_times,
            &mut stats,
            &mut buf,
            opts.literal,
        )?;
    }
    // Directories' times last, deepest first, once nothing more is written in them.
    for (parts, mtime) in dir_times.iter().rev() {
        if let Ok(fd) = root.open_in(parts, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW) {
            set_times_path(&fd, *mtime).ctx(|| format!("set times of {}", display(parts)))?;
        }
    }

    // Drain the rest (tar padding, the compressor's trailer) so both digests cover everything.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_error)?;
    let (limited, diff_id, tar_size) = rest.into_inner().into_parts();
    let mut compressed = limited.inner.into_inner();
    io::copy(&mut compressed, &mut io::sink()).map_err(read_error)?;
    let (digest, compressed_size) = compressed.into_inner().finish();

    stats.digest = digest;
    stats.compressed_size = compressed_size;
    stats.diff_id = diff_id;
    stats.tar_size = tar_size;
    if let Some(want) = &opts.expected_digest {
        if *want != stats.digest {
            return Err(Error::DigestMismatch {
                what: "layer",
                expected: want.clone(),
                actual: stats.digest,
            });
        }
    }
    if let Some(want) = &opts.expected_diff_id {
        if *want != stats.diff_id {
            return Err(Error::DigestMismatch {
                what: "layer diff id",
                expected: want.clone(),
                actual: stats.diff_id,
            });
        }
    }
    Ok(stats)
}

/// Whether `reader` holds a tar archive, plain or compressed in any of the
/// ways `unpack` reads: its first block decompresses to a tar header whose
/// checksum holds (docker's ADD test: a `.gz` of plain text is a file).
pub fn is_archive<R: Read>(reader: R) -> bool {
    let Ok(mut decoder) = Decoder::new(reader) else {
        return false;
    };
    let mut block = [0u8; 512];
    let mut got = 0;
    while got < block.len() {
        match decoder.read(&mut block[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    let field = &block[148..156];
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Ok(want) = u32::from_str_radix(std::str::from_utf8(&text).unwrap_or(""), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want && block.iter().any(|b| *b != 0)
}

/// Writes the uncompressed tar of the layer file `src` to `dst` (created):
/// (diff id, size). For archives read by tools that know no zstd.
pub fn decompress_file(src: &Path, dst: &Path) -> Result<(String, u64)> {
    let f = File::open(src).ctx(|| format!("open {}", src.display()))?;
    let mut decoder = Decoder::new(f)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .ctx(|| format!("create {}", dst.display()))?;
    let mut sink = crate::digest::HashingSink(sha2::Sha256::new(), 0);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        out.write_all(&buf[..n])
            .ctx(|| format!("write {}", dst.display()))?;
        sink.write_all(&buf[..n]).expect("hashing never fails");
    }
    let size = sink.1;
    Ok((crate::digest::format_digest(sink.0), size))
}

/// atime and mtime both set to `mtime` (seconds), as in the layer.
fn times(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    [t, t]
}

fn set_times_path(fd: &OwnedFd, mtime: i64) -> io::Result<()> {
    // An O_PATH fd cannot be given to futimens; utimensat(fd, "", AT_EMPTY_PATH) can.
    set_times(fd.as_raw_fd(), c"", mtime, libc::AT_EMPTY_PATH)
}

fn set_times_at(dirfd: RawFd, name: &CString, mtime: i64) -> io::Result<()> {
    set_times(dirfd, name, mtime, 0)
}

fn set_times(
    dirfd: RawFd,
    name: &std::ffi::CStr,
    mtime: i64,
    flags: libc::c_int,
) -> io::Result<()> {
    let ts = times(mtime);
    check(unsafe {
        libc::utimensat(
            dirfd,
            name.as_ptr(),
            ts.as_ptr(),
            flags | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// A libc return value as an io::Result (-1: errno).
pub(crate) fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
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

fn extract_entry<R: Read>(
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
            check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).ctx(|| "chown /".into())?;
            check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).ctx(|| "chmod /".into())?;
            dir_times.push((Vec::new(), mtime));
        }
        return Ok(());
    };

    // Whiteouts.
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX).filter(|_| !literal) {
        let parent = root.mkdir_all(&parts)?;
        if name == OPAQUE {
            let dir = root
                .open_in(&parts, libc::O_RDONLY | libc::O_DIRECTORY)
                .ctx(|| format!("open {}", display(&parts)))?;
            let key = CString::new("trusted.overlay.opaque").unwrap();
            set_xattrs(dir.as_raw_fd(), &[(key, b"y".to_vec())])
                .ctx(|| format!("mark {} opaque", display(&parts)))?;
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
        return Ok(());
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
            check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })
                .ctx(|| format!("chown {name_str}"))?;
            check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })
                .ctx(|| format!("chmod {name_str}"))?;
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
            let fd = openat(
                pfd,
                &cname,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            )
            .ctx(|| format!("create {name_str}"))?;
            let mut file = File::from(fd);
            let want = entry.size();
            let n = copy_data(entry, &mut file, buf, &name_str)?;
            if n != want {
                return Err(Error::BadLayer(format!(
                    "the layer ends early, inside {name_str} (truncated)"
                )));
            }
            stats.content_size += n;
            let raw = file.as_raw_fd();
            check(unsafe { libc::fchown(raw, uid, gid) }).ctx(|| format!("chown {name_str}"))?;
            // After chown, which clears set-id bits.
            check(unsafe { libc::fchmod(raw, mode) }).ctx(|| format!("chmod {name_str}"))?;
            set_xattrs(raw, &attrs).ctx(|| format!("set xattrs of {name_str}"))?;
            let ts = times(mtime);
            check(unsafe { libc::futimens(raw, ts.as_ptr()) })
                .ctx(|| format!("set times of {name_str}"))?;
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| Error::BadLayer(format!("symlink {name_str} has no target")))?;
            let ctarget = cstr(&target)?;
            check(unsafe { libc::symlinkat(ctarget.as_ptr(), pfd, cname.as_ptr()) })
                .ctx(|| format!("symlink {name_str}"))?;
            check(unsafe {
                libc::fchownat(pfd, cname.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
            })
            .ctx(|| format!("chown {name_str}"))?;
            set_times_at(pfd, &cname, mtime).ctx(|| format!("set times of {name_str}"))?;
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
            check(unsafe {
                libc::mknodat(
                    pfd,
                    cname.as_ptr(),
                    ftype | 0o600,
                    libc::makedev(major, minor),
                )
            })
            .ctx(|| format!("mknod {name_str}"))?;
            check(unsafe {
                libc::fchownat(pfd, cname.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
            })
            .ctx(|| format!("chown {name_str}"))?;
            check(unsafe { libc::fchmodat(pfd, cname.as_ptr(), mode, 0) })
                .ctx(|| format!("chmod {name_str}"))?;
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

/// An error while reading the layer stream: a truncated or corrupt layer is
/// the layer's fault (BadLayer), anything else stays an I/O error.
fn read_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Error::io("read layer", e); // ours, from inside the reader chain (TooLarge)
    }
    // The tar crate reports a stream that ends inside an entry as "other".
    let eof = e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF");
    match e.kind() {
        _ if eof => {
            Error::BadLayer("the layer ends early (truncated tar or compressed stream)".into())
        }
        // The decompressors' complaints, then the tar reader's (no errno).
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Error::BadLayer(format!("corrupt layer: {}", headline(&e)))
        }
        _ if e.raw_os_error().is_none() => {
            Error::BadLayer(format!("not a valid tar stream: {}", headline(&e)))
        }
        _ => Error::io("read layer", e),
    }
}

/// The tar reader quotes header bytes in its messages ("numeric field was
/// not a number: <field> when getting cksum for <name>"): they are the input's
/// content (a host file given to `import` would be shown), so only the
/// leading phrase is kept.
fn headline(e: &io::Error) -> String {
    let msg = e.to_string();
    let head = msg.split(':').next().unwrap_or_default();
    let head = head.split(" when ").next().unwrap_or_default().trim();
    if head.is_empty() {
        "not a tar stream".into()
    } else {
        head.into()
    }
}
