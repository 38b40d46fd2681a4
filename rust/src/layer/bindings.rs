//! The Python face of the in-root copies (layer/copy.rs) and of archive
//! extraction into a root: thin wrappers, registered in lib.rs.
//!
//! A root crosses as a plain file descriptor of a directory: the caller
//! opens it (`os.open(path, O_PATH | O_DIRECTORY)`, or `overlay_root` for
//! an image's merged layers) and closes it; the functions here work on a
//! duplicate of it, with the GIL released.

use std::collections::HashSet;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::PathBuf;

use pyo3::prelude::*;

use crate::layer::copy::{self, CopyOptions};
use crate::root::Root;

/// The read-only merged view of `lowerdirs` (top first), mounted nowhere:
/// a new directory descriptor, the caller's to close (the view goes with it).
#[pyfunction]
pub fn overlay_root(py: Python<'_>, lowerdirs: Vec<PathBuf>) -> PyResult<i32> {
    let root = py.detach(|| Root::overlay(&lowerdirs))?;
    Ok(root.into_fd().into_raw_fd())
}

/// What `path` is inside the root `fd`: "dir", "file", "symlink", "other"
/// or None. The last component is followed (inside the root) with `follow`.
#[pyfunction]
#[pyo3(signature = (fd, path, follow=false))]
pub fn kind_in_root(
    py: Python<'_>,
    fd: i32,
    path: Vec<u8>,
    follow: bool,
) -> PyResult<Option<&'static str>> {
    let root = Root::from_fd(fd)?;
    Ok(py.detach(|| copy::kind_in(&root, &path, follow))?)
}

/// Copies `src_path` of the root `src_fd` to `dst_path` of the root
/// `dst_fd` (see copy::copy_in_root): (entries, bytes).
#[pyfunction]
#[pyo3(signature = (src_fd, src_path, dst_fd, dst_path, chown=None, chmod=None,
                    keep_owners=false, skip=Vec::new(), hollow=Vec::new(), top_meta=false))]
#[allow(clippy::too_many_arguments)]
pub fn copy_in_root(
    py: Python<'_>,
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
    let c = py.detach(|| copy::copy_in_root(&src, &src_path, &dst, &dst_path, &opts))?;
    Ok((c.entries, c.bytes))
}

/// The missing directories of `path` inside the root `fd`, each with the
/// metadata the same path has in the root `like_fd` (an image), else root's
/// with `mode` (see copy::mkdirs_like).
#[pyfunction]
#[pyo3(signature = (fd, path, like_fd=None, mode=0o755))]
pub fn mkdirs_in_root(
    py: Python<'_>,
    fd: i32,
    path: Vec<u8>,
    like_fd: Option<i32>,
    mode: u32,
) -> PyResult<()> {
    let dst = Root::from_fd(fd)?;
    let like = like_fd.map(Root::from_fd).transpose()?;
    Ok(py.detach(|| copy::mkdirs_like(&dst, &path, like.as_ref(), mode))?)
}

/// `data` as the regular file `path` inside the root `fd` (a heredoc of COPY).
#[pyfunction]
pub fn write_in_root(
    py: Python<'_>,
    fd: i32,
    path: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
) -> PyResult<()> {
    let dst = Root::from_fd(fd)?;
    Ok(py.detach(|| copy::write_in_root(&dst, &path, &data, mode, (uid, gid)))?)
}

/// Whether `src_path` of the root `src_fd` is a tar archive of any compression.
#[pyfunction]
pub fn archive_in_root(py: Python<'_>, src_fd: i32, src_path: Vec<u8>) -> PyResult<bool> {
    let src = Root::from_fd(src_fd)?;
    Ok(py.detach(|| copy::is_archive_in_root(&src, &src_path))?)
}

/// ADD of a local archive: unpacks `src_path` of the root `src_fd` into the
/// directory `dst_path` of the root `dst_fd` if it is a tar archive of any
/// compression (the number of entries), else None.
#[pyfunction]
pub fn extract_in_root(
    py: Python<'_>,
    src_fd: i32,
    src_path: Vec<u8>,
    dst_fd: i32,
    dst_path: Vec<u8>,
) -> PyResult<Option<u64>> {
    let src = Root::from_fd(src_fd)?;
    let dst = Root::from_fd(dst_fd)?;
    Ok(py.detach(|| copy::extract_in_root(&src, &src_path, &dst, &dst_path))?)
}

/// Extracts the tar stream (any compression) read from `fd`, which it takes
/// over and closes, into the existing directory `dest`, confined to it,
/// names taken literally (`ketch build -`): the number of entries.
#[pyfunction]
pub fn extract_tar_fd(py: Python<'_>, fd: i32, dest: PathBuf) -> PyResult<u64> {
    if fd < 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "bad file descriptor",
        ));
    }
    // Ownership passes to Rust: the caller must not close `fd`.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    let opts = crate::layer::unpack::Options {
        literal: true,
        into_existing: true,
        ..Default::default()
    };
    let u = py.detach(|| crate::layer::unpack::unpack(f, &dest, &opts))?;
    Ok(u.entries)
}

/// The build cache's digest of `paths` inside the root `fd` (COPY --from):
/// names, modes, owners, link targets, device numbers and contents of every
/// entry under them, never an mtime (see copy::tree_digest).
#[pyfunction]
pub fn digest_in_root(py: Python<'_>, fd: i32, paths: Vec<Vec<u8>>) -> PyResult<String> {
    let root = Root::from_fd(fd)?;
    Ok(py.detach(|| copy::tree_digest(&root, &paths))?)
}
