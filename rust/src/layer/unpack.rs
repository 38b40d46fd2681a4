//! A (gzip | zstd | bzip2 | xz | plain) tar stream -> a directory in overlayfs format.
//!
//! One pass over the bytes: the compressed stream is hashed (the blob digest),
//! decompressed (decode.rs), hashed again (the diff id) and extracted entry
//! by entry (extract.rs). Everything is written through `Root`, so no entry
//! can land outside the target. Whiteouts become what overlayfs reads:
//! `.wh.NAME` a 0:0 character device, `.wh..wh..opq` the
//! `trusted.overlay.opaque` xattr on its directory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::decode::{read_error, Decoder, BUF};
use super::extract::{extract_entry, set_times_path};
use crate::digest::HashingReader;
use crate::error::{Context, Error, Result};
use crate::root::{display, Root};

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

/// Unpacks the layer file `src` into `dest` (created; must not exist).
pub fn unpack_file(src: &Path, dest: &Path, opts: &Options) -> Result<Unpacked> {
    let f = File::open(src).ctx(|| format!("open {}", src.display()))?;
    unpack(f, dest, opts)
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
    if let Err(e) = extract_all(&mut archive, root, opts, &mut stats) {
        return Err(digest_first(e, archive, opts));
    }

    // Drain the rest (tar padding, the compressor's trailer) so both digests cover everything.
    let mut rest = archive.into_inner();
    if let Err(e) = io::copy(&mut rest, &mut io::sink()) {
        return Err(digest_first_of(read_error(e), rest, opts));
    }
    let (limited, diff_id, tar_size) = rest.into_inner().into_parts();
    let mut compressed = limited.inner.into_inner();
    io::copy(&mut compressed, &mut io::sink()).map_err(read_error)?;
    let (digest, compressed_size) = compressed.into_inner().finish();

    stats.digest = digest;
    stats.compressed_size = compressed_size;
    stats.diff_id = diff_id;
    stats.tar_size = tar_size;
    verify("layer", opts.expected_digest.as_ref(), &stats.digest)?;
    verify(
        "layer diff id",
        opts.expected_diff_id.as_ref(),
        &stats.diff_id,
    )?;
    Ok(stats)
}

type Layer<R> = tar::Archive<BufReader<HashingReader<Limit<Decoder<R>>>>>;

/// Every entry of the archive into `root`, then the directories' times.
fn extract_all<R: Read>(
    archive: &mut Layer<R>,
    root: &Root,
    opts: &Options,
    stats: &mut Unpacked,
) -> Result<()> {
    let mut dir_times: Vec<(Vec<Vec<u8>>, i64)> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        stats.entries += 1;
        extract_entry(
            root,
            &mut entry,
            &mut dir_times,
            stats,
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
    Ok(())
}

/// A layer that fails as corrupt may be bytes other than its digest's (a
/// registry or mirror that sent the wrong blob): the rest of the stream is
/// read and hashed, and a digest that differs is the error reported. The
/// caller hashes nothing itself, so this is the one check of those bytes.
fn digest_first<R: Read>(e: Error, archive: Layer<R>, opts: &Options) -> Error {
    digest_first_of(e, archive.into_inner(), opts)
}

/// `digest_first` once the tar reader is gone: `rest` is the uncompressed stream.
fn digest_first_of<R: Read>(
    e: Error,
    rest: BufReader<HashingReader<Limit<Decoder<R>>>>,
    opts: &Options,
) -> Error {
    let (Error::BadLayer(_), Some(want)) = (&e, opts.expected_digest.as_ref()) else {
        return e;
    };
    let (limited, _, _) = rest.into_inner().into_parts();
    let mut compressed = limited.inner.into_inner();
    if io::copy(&mut compressed, &mut io::sink()).is_err() {
        return e;
    }
    let (actual, _) = compressed.into_inner().finish();
    if actual == *want {
        return e;
    }
    Error::DigestMismatch {
        what: "layer",
        expected: want.clone(),
        actual,
    }
}

/// The digest `actual` against the one the caller expects, if any.
fn verify(what: &'static str, expected: Option<&String>, actual: &str) -> Result<()> {
    match expected {
        Some(want) if want != actual => Err(Error::DigestMismatch {
            what,
            expected: want.clone(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}
