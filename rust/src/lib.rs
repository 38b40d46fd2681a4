//! ketch's data plane. This file is only the Python module's registration;
//! the work is in the modules, which are plain Rust (`cargo test` needs no
//! Python: the bindings, each beside its module, are behind the `python`
//! feature that maturin enables).

pub mod cp;
pub mod digest;
pub mod error;
pub mod layer;
pub mod monitor;
pub mod net;
pub mod process;
pub mod root;
pub mod rootfs;
pub mod security;
pub mod sys;
pub mod tty;

#[cfg(feature = "python")]
#[pyo3::pymodule]
mod _native {
    use std::path::PathBuf;

    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    use crate::layer;

    #[pymodule_export]
    use crate::cp::bindings::{cp_in, cp_out, cp_stat};
    #[pymodule_export]
    use crate::digest::bindings::{digest_entries, sha256_bytes, sha256_file, Sha256};
    #[pymodule_export]
    use crate::process::bindings::{exec_in, process_config, spawn, wait};
    #[pymodule_export]
    use crate::security::bindings::{docker_caps, seccomp_program};

    // The network bridge (net.rs).
    #[pymodule_export]
    use crate::net::bindings::bridge_create;

    // In-root copies and extraction (layer/bindings.rs).
    #[pymodule_export]
    use crate::layer::bindings::{
        archive_in_root, copy_in_root, digest_in_root, extract_in_root, extract_tar_fd,
        kind_in_root, mkdirs_in_root, overlay_root, write_in_root,
    };

    // The layer, network and syncfs wrappers below belong beside their
    // modules (layer/bindings.rs, net/), which other work owns right now:
    // they move there with it.

    /// Unpacks a (gzip|zstd|plain) layer file into `dest` (which must not
    /// exist), checking digests. Returns digest, compressed_size, diff_id,
    /// tar_size, content_size and entries.
    #[pyfunction]
    #[pyo3(signature = (src, dest, expected_digest=None, expected_diff_id=None, max_bytes=None))]
    fn unpack_layer<'py>(
        py: Python<'py>,
        src: PathBuf,
        dest: PathBuf,
        expected_digest: Option<String>,
        expected_diff_id: Option<String>,
        max_bytes: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = layer::unpack::Options {
            expected_digest,
            expected_diff_id,
            max_bytes,
            ..Default::default()
        };
        let u = py.detach(|| layer::unpack::unpack_file(&src, &dest, &opts))?;
        unpacked_dict(py, u)
    }

    /// Writes the uncompressed tar of a layer file to `dst`: (diff id, size).
    #[pyfunction]
    fn decompress_layer(py: Python<'_>, src: PathBuf, dst: PathBuf) -> PyResult<(String, u64)> {
        Ok(py.detach(|| layer::unpack::decompress_file(&src, &dst))?)
    }

    /// Gzips a plain layer tar into `dst` (a new file): (digest, size).
    #[pyfunction]
    fn gzip_layer(py: Python<'_>, src: PathBuf, dst: PathBuf) -> PyResult<(String, u64)> {
        Ok(py.detach(|| layer::diff::gzip_file(&src, &dst))?)
    }

    /// A new network namespace kept at `path` (a bind mount), `lo` up.
    #[pyfunction]
    fn netns_create(py: Python<'_>, path: PathBuf) -> PyResult<()> {
        Ok(py.detach(|| crate::net::netns_create(&path))?)
    }

    /// Unmounts and removes a namespace file.
    #[pyfunction]
    fn netns_remove(path: PathBuf) {
        crate::net::netns_remove(&path)
    }

    /// A veth pair: `host` on `bridge` and up, `peer` made inside the namespace at `netns`.
    #[pyfunction]
    fn veth(
        py: Python<'_>,
        host: String,
        peer: String,
        netns: PathBuf,
        bridge: String,
    ) -> PyResult<()> {
        Ok(py.detach(|| crate::net::veth(&host, &peer, &netns, &bridge))?)
    }

    /// Inside the namespace: `ifname` gets `addr`/`prefix`, comes up, default route via `gateway`.
    #[pyfunction]
    fn net_configure(
        py: Python<'_>,
        netns: PathBuf,
        ifname: String,
        addr: [u8; 4],
        prefix: u8,
        gateway: [u8; 4],
    ) -> PyResult<()> {
        Ok(py.detach(|| crate::net::configure(&netns, &ifname, addr, prefix, gateway))?)
    }

    /// Forwards every connection on the listening socket `fd` (taken over)
    /// to `ip:port`, on background threads (the `[::]` side of a published port).
    #[pyfunction]
    fn proxy_start(fd: i32, ip: String, port: u16) -> PyResult<()> {
        let addr: std::net::Ipv4Addr = ip
            .parse()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("bad address {ip}")))?;
        crate::net::proxy_start(fd, std::net::SocketAddrV4::new(addr, port));
        Ok(())
    }

    /// Removes a network link by name (missing is fine).
    #[pyfunction]
    fn link_delete(name: String) -> PyResult<()> {
        Ok(crate::net::link_delete(&name)?)
    }

    /// A container's upper dir as `docker diff` lists it: [(kind, path)],
    /// kind "A", "C" or "D", sorted by path.
    #[pyfunction]
    fn layer_changes(
        py: Python<'_>,
        upper: PathBuf,
        lowers: Vec<PathBuf>,
    ) -> PyResult<Vec<(String, String)>> {
        let out = py.detach(|| layer::diff::changes(&upper, &lowers))?;
        Ok(out.into_iter().map(|(k, p)| (k.to_string(), p)).collect())
    }

    /// Writes a container's upper dir as a layer tar (gzip with `gzip`) to
    /// `out`, a new file: (diff id, blob digest, blob size).
    #[pyfunction]
    #[pyo3(signature = (upper, out, gzip=true))]
    fn write_layer(
        py: Python<'_>,
        upper: PathBuf,
        out: PathBuf,
        gzip: bool,
    ) -> PyResult<(String, String, u64)> {
        let w = py.detach(|| layer::diff::write_layer(&upper, &out, gzip))?;
        Ok((w.diff_id, w.digest, w.size))
    }

    /// Like `unpack_layer`, reading the layer from the file descriptor `fd`
    /// (a pipe being filled by a download), which it takes over and closes.
    #[pyfunction]
    #[pyo3(signature = (fd, dest, expected_digest=None, expected_diff_id=None, max_bytes=None))]
    fn unpack_layer_fd<'py>(
        py: Python<'py>,
        fd: i32,
        dest: PathBuf,
        expected_digest: Option<String>,
        expected_diff_id: Option<String>,
        max_bytes: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        use std::os::fd::FromRawFd;
        if fd < 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "bad file descriptor",
            ));
        }
        // Ownership passes to Rust: the caller must not close `fd`.
        let f = unsafe { std::fs::File::from_raw_fd(fd) };
        let opts = layer::unpack::Options {
            expected_digest,
            expected_diff_id,
            max_bytes,
            ..Default::default()
        };
        let u = py.detach(|| layer::unpack::unpack(f, &dest, &opts))?;
        unpacked_dict(py, u)
    }

    fn unpacked_dict(py: Python<'_>, u: layer::unpack::Unpacked) -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("digest", u.digest)?;
        d.set_item("compressed_size", u.compressed_size)?;
        d.set_item("diff_id", u.diff_id)?;
        d.set_item("tar_size", u.tar_size)?;
        d.set_item("content_size", u.content_size)?;
        d.set_item("entries", u.entries)?;
        Ok(d)
    }

    /// Flushes the filesystem holding `path` to disk (one syncfs, not an fsync per file).
    #[pyfunction]
    fn syncfs(py: Python<'_>, path: PathBuf) -> PyResult<()> {
        Ok(py.detach(|| crate::root::syncfs(&path))?)
    }
}
