//! The Python face of layer/: unpacking a layer into the store (unpack.rs)
//! and writing one from a container (diff.rs), the in-root copies
//! (copy.rs) and archive extraction into a root. Thin wrappers, registered
//! in lib.rs, each with the GIL released around the work.
//!
//! A root crosses as a plain file descriptor of a directory: the caller
//! opens it (`os.open(path, O_PATH | O_DIRECTORY)`, or `overlay_root` for
//! an image's merged layers) and closes it; the functions here work on a
//! duplicate of it.

use std::collections::HashSet;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::without_gil;
use crate::layer::copy::{self, CopyOptions};
use crate::layer::{decode, diff, tree_digest, unpack};
use crate::root::Root;

/// Unpacks a (gzip|zstd|plain) layer file into `dest` (which must not
/// exist), checking digests. Returns digest, compressed_size, diff_id,
/// tar_size, content_size and entries.
#[pyfunction]
#[pyo3(signature = (src, dest, expected_digest=None, expected_diff_id=None, max_bytes=None))]
pub fn unpack_layer<'py>(
    py: Python<'py>,
    src: PathBuf,
    dest: PathBuf,
    expected_digest: Option<String>,
    expected_diff_id: Option<String>,
    max_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = unpack::Options {
        expected_digest,
        expected_diff_id,
        max_bytes,
        ..Default::default()
    };
    let u = without_gil(|| unpack::unpack_file(&src, &dest, &opts))?;
    unpacked_dict(py, u)
}

/// Like `unpack_layer`, reading the layer from the file descriptor `fd`
/// (a pipe being filled by a download), which it takes over and closes.
#[pyfunction]
#[pyo3(signature = (fd, dest, expected_digest=None, expected_diff_id=None, max_bytes=None))]
pub fn unpack_layer_fd<'py>(
    py: Python<'py>,
    fd: i32,
    dest: PathBuf,
    expected_digest: Option<String>,
    expected_diff_id: Option<String>,
    max_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let f = take_fd(fd)?;
    let opts = unpack::Options {
        expected_digest,
        expected_diff_id,
        max_bytes,
        ..Default::default()
    };
    let u = without_gil(|| unpack::unpack(f, &dest, &opts))?;
    unpacked_dict(py, u)
}

fn unpacked_dict(py: Python<'_>, u: unpack::Unpacked) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("digest", u.digest)?;
    d.set_item("compressed_size", u.compressed_size)?;
    d.set_item("diff_id", u.diff_id)?;
    d.set_item("tar_size", u.tar_size)?;
    d.set_item("content_size", u.content_size)?;
    d.set_item("entries", u.entries)?;
    Ok(d)
}

/// A descriptor handed over by the caller, as a File that closes it.
fn take_fd(fd: i32) -> PyResult<std::fs::File> {
    if fd < 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "bad file descriptor",
        ));
    }
    // Ownership passes to Rust: the caller must not close `fd`.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Flushes the filesystem holding `path` to disk (one syncfs, not an fsync
/// per file): what makes a freshly unpacked layer durable before its rename.
#[pyfunction]
pub fn syncfs(path: PathBuf) -> PyResult<()> {
    without_gil(|| crate::sys::syncfs(&path))
}

/// Writes the uncompressed tar of a layer file to `dst`: (diff id, size).
#[pyfunction]
pub fn decompress_layer(src: PathBuf, dst: PathBuf) -> PyResult<(String, u64)> {
    without_gil(|| decode::decompress_file(&src, &dst))
}

/// Gzips a plain layer tar into `dst` (a new file): (digest, size).
#[pyfunction]
pub fn gzip_layer(src: PathBuf, dst: PathBuf) -> PyResult<(String, u64)> {
    without_gil(|| diff::gzip_file(&src, &dst))
}

/// A container's upper dir as `docker diff` lists it: [(kind, path)],
/// kind "A", "C" or "D", sorted by path.
#[pyfunction]
pub fn layer_changes(upper: PathBuf, lowers: Vec<PathBuf>) -> PyResult<Vec<(String, String)>> {
    let out = without_gil(|| diff::changes(&upper, &lowers))?;
    Ok(out.into_iter().map(|(k, p)| (k.to_string(), p)).collect())
}

/// Writes a container's upper dir as a layer tar (gzip with `gzip`) to
/// `out`, a new file: (diff id, blob digest, blob size).
#[pyfunction]
#[pyo3(signature = (upper, out, gzip=true))]
pub fn write_layer(upper: PathBuf, out: PathBuf, gzip: bool) -> PyResult<(String, String, u64)> {
    let w = without_gil(|| diff::write_layer(&upper, &out, gzip))?;
    Ok((w.diff_id, w.digest, w.size))
}

/// The read-only merged view of `lowerdirs` (top first), mounted nowhere:
/// a new directory descriptor, the caller's to close (the view goes with it).
#[pyfunction]
pub fn overlay_root(lowerdirs: Vec<PathBuf>) -> PyResult<i32> {
    let root = without_gil(|| Root::overlay(&lowerdirs))?;
    Ok(root.into_fd().into_raw_fd())
}

/// What `path` is inside the root `fd`: "dir", "file", "symlink", "other"
/// or None. The last component is followed (inside the root) with `follow`.
#[pyfunction]
#[pyo3(signature = (fd, path, follow=false))]
pub fn kind_in_root(fd: i32, path: Vec<u8>, follow: bool) -> PyResult<Option<&'static str>> {
    let root = Root::from_fd(fd)?;
    without_gil(|| copy::kind_in(&root, &path, follow))
}

/// Copies `src_path` of the root `src_fd` to `dst_path` of the root
/// `dst_fd` (see copy::copy_in_root): (entries, bytes).
#[pyfunction]
#[pyo3(signature = (src_fd, src_path, dst_fd, dst_path, chown=None, chmod=None,
                    keep_owners=false, skip=Vec::new(), hollow=Vec::new(), top_meta=false))]
#[allow(clippy::too_many_arguments)]
pub fn copy_in_root(
    src_fd: i32,
    src_path: Vec<u8>,
    dst_fd: i32,
    dst_path: Vec<u8>,
    chown: Option<(u32, u32)>,
    chmod: Option<u32>,
    keep_owners: bool,
    skip: Vec<Vec<u8>>,
    hollow: Vec<Vec<u8>>,
    top_meta: bool,
) -> PyResult<(u64, u64)> {
    let src = Root::from_fd(src_fd)?;
    let dst = Root::from_fd(dst_fd)?;
    let opts = CopyOptions {
        chown,
        chmod,
        keep_owners,
        skip: skip.into_iter().collect::<HashSet<_>>(),
        hollow: hollow.into_iter().collect::<HashSet<_>>(),
        top_meta,
    };
    let c = without_gil(|| copy::copy_in_root(&src, &src_path, &dst, &dst_path, &opts))?;
    Ok((c.entries, c.bytes))
}

/// The missing directories of `path` inside the root `fd`, each with the
/// metadata the same path has in the root `like_fd` (an image), else root's
/// with `mode` (see copy::mkdirs_like).
#[pyfunction]
#[pyo3(signature = (fd, path, like_fd=None, mode=0o755))]
pub fn mkdirs_in_root(fd: i32, path: Vec<u8>, like_fd: Option<i32>, mode: u32) -> PyResult<()> {
    let dst = Root::from_fd(fd)?;
    let like = like_fd.map(Root::from_fd).transpose()?;
    without_gil(|| copy::mkdirs_like(&dst, &path, like.as_ref(), mode))
}

/// `data` as the regular file `path` inside the root `fd` (a heredoc of COPY).
#[pyfunction]
pub fn write_in_root(
    fd: i32,
    path: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
) -> PyResult<()> {
    let dst = Root::from_fd(fd)?;
    without_gil(|| copy::write_in_root(&dst, &path, &data, mode, (uid, gid)))
}

/// Whether `src_path` of the root `src_fd` is a tar archive of any compression.
#[pyfunction]
pub fn archive_in_root(src_fd: i32, src_path: Vec<u8>) -> PyResult<bool> {
    let src = Root::from_fd(src_fd)?;
    without_gil(|| copy::is_archive_in_root(&src, &src_path))
}

/// ADD of a local archive: unpacks `src_path` of the root `src_fd` into the
/// directory `dst_path` of the root `dst_fd` if it is a tar archive of any
/// compression (the number of entries), else None.
#[pyfunction]
pub fn extract_in_root(
    src_fd: i32,
    src_path: Vec<u8>,
    dst_fd: i32,
    dst_path: Vec<u8>,
) -> PyResult<Option<u64>> {
    let src = Root::from_fd(src_fd)?;
    let dst = Root::from_fd(dst_fd)?;
    without_gil(|| copy::extract_in_root(&src, &src_path, &dst, &dst_path))
}

/// Extracts the tar stream (any compression) read from `fd`, which it takes
/// over and closes, into the existing directory `dest`, confined to it,
/// names taken literally (`ketch build -`): the number of entries.
#[pyfunction]
pub fn extract_tar_fd(fd: i32, dest: PathBuf) -> PyResult<u64> {
    let f = take_fd(fd)?;
    let opts = unpack::Options {
        literal: true,
        into_existing: true,
        ..Default::default()
    };
    let u = without_gil(|| unpack::unpack(f, &dest, &opts))?;
    Ok(u.entries)
}

/// The build cache's digest of `paths` inside the root `fd` (COPY --from):
/// names, modes, owners, link targets, device numbers and contents of every
/// entry under them, never an mtime (see tree_digest.rs).
#[pyfunction]
pub fn digest_in_root(fd: i32, paths: Vec<Vec<u8>>) -> PyResult<String> {
    let root = Root::from_fd(fd)?;
    without_gil(|| tree_digest::tree_digest(&root, &paths))
}
