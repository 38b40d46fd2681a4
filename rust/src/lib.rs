//! ketch's data plane. This file is only the Python module's registration;
//! the work is in the modules, which are plain Rust (`cargo test` needs no
//! Python: the bindings are behind the `python` feature that maturin enables).

pub mod cp;
pub mod digest;
pub mod error;
pub mod layer;
pub mod monitor;
pub mod net;
pub mod process;
pub mod reexec;
pub mod root;
pub mod seccomp;
pub mod spawn;
mod syscalls_linux;

#[cfg(feature = "python")]
#[pyo3::pymodule]
mod _native {
    use std::path::PathBuf;

    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    use crate::{digest, layer};

    // In-root copies and extraction (layer/bindings.rs).
    #[pymodule_export]
    use crate::layer::bindings::{
        archive_in_root, copy_in_root, digest_in_root, extract_in_root, extract_tar_fd,
        kind_in_root, mkdirs_in_root, overlay_root, write_in_root,
    };

    /// sha256 of a file: ("sha256:<hex>", size).
    #[pyfunction]
    fn sha256_file(py: Python<'_>, path: PathBuf) -> PyResult<(String, u64)> {
        Ok(py.detach(|| digest::sha256_file(&path))?)
    }

    /// sha256 of bytes: "sha256:<hex>".
    #[pyfunction]
    fn sha256_bytes(py: Python<'_>, data: Vec<u8>) -> String {
        py.detach(|| digest::sha256_bytes(&data))
    }

    /// An incremental sha256.
    #[pyclass(module = "ketch._native")]
    struct Sha256 {
        inner: Option<sha2::Sha256>,
    }

    #[pymethods]
    impl Sha256 {
        #[new]
        fn new() -> Self {
            use sha2::Digest;
            Sha256 {
                inner: Some(sha2::Sha256::new()),
            }
        }

        fn update(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
            use sha2::Digest;
            let h = self
                .inner
                .as_mut()
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("digest already taken"))?;
            if data.len() >= 64 * 1024 {
                // `data` borrows an immutable bytes object, which stays alive meanwhile.
                py.detach(|| h.update(data));
            } else {
                h.update(data);
            }
            Ok(())
        }

        /// "sha256:<hex>"; the hasher cannot be used afterwards.
        fn digest(&mut self) -> PyResult<String> {
            let h = self
                .inner
                .take()
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("digest already taken"))?;
            Ok(digest::format_digest(h))
        }
    }

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

    /// The build cache's digest of files (see digest.rs): `entries` are
    /// (name, path) in order, `cache` path -> (stat line, digest).
    #[pyfunction]
    fn digest_entries(
        py: Python<'_>,
        entries: Vec<(String, PathBuf)>,
        cache: std::collections::HashMap<String, (String, String)>,
    ) -> PyResult<(String, Vec<crate::digest::Hashed>)> {
        Ok(py.detach(|| crate::digest::digest_entries(&entries, &cache))?)
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

    fn cp_target(t: &Bound<'_, PyDict>) -> PyResult<crate::cp::Target> {
        if let Some(pid) = t.get_item("pid")? {
            return Ok(crate::cp::Target::Running(pid.extract()?));
        }
        let get = |k: &str| -> PyResult<Bound<'_, pyo3::PyAny>> {
            t.get_item(k)?
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(k.to_string()))
        };
        Ok(crate::cp::Target::Stopped {
            lowerdirs: get("lowerdirs")?.extract()?,
            upper: get("upper")?.extract()?,
            work: get("work")?.extract()?,
            rootfs: get("rootfs")?.extract()?,
        })
    }

    /// What `path` is inside a container ("dir", "file", "symlink", "other") or None.
    #[pyfunction]
    #[pyo3(signature = (target, path, follow=false))]
    fn cp_stat(
        py: Python<'_>,
        target: &Bound<'_, PyDict>,
        path: String,
        follow: bool,
    ) -> PyResult<Option<&'static str>> {
        let t = cp_target(target)?;
        Ok(py.detach(|| crate::cp::stat_in(&t, &path, follow))?)
    }

    /// `ketch cp` container -> host: `src` as `name` into the host directory `dest_dir`.
    #[pyfunction]
    fn cp_out(
        py: Python<'_>,
        target: &Bound<'_, PyDict>,
        src: String,
        name: String,
        dest_dir: PathBuf,
    ) -> PyResult<()> {
        let t = cp_target(target)?;
        Ok(py.detach(|| crate::cp::copy_out(&t, &src, &name, &dest_dir))?)
    }

    /// `ketch cp` host -> container: `src` as `name` into `dest_dir` inside the container.
    #[pyfunction]
    fn cp_in(
        py: Python<'_>,
        target: &Bound<'_, PyDict>,
        src: PathBuf,
        name: String,
        dest_dir: String,
    ) -> PyResult<()> {
        let t = cp_target(target)?;
        Ok(py.detach(|| crate::cp::copy_in(&t, &src, &name, &dest_dir))?)
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

    /// The BPF program (struct sock_filter array) a flattened profile compiles
    /// to, for this machine or a host family ("x86_64", "aarch64").
    /// `profile`: the JSON of `seccomp.compile_rules`'s result.
    #[pyfunction]
    #[pyo3(signature = (profile, host=None))]
    fn seccomp_program<'py>(
        py: Python<'py>,
        profile: &str,
        host: Option<&str>,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let p: crate::seccomp::Profile = serde_json::from_str(profile)
            .map_err(|e| crate::error::Error::Invalid(format!("invalid seccomp profile: {e}")))?;
        let prog = match host {
            None => crate::seccomp::compile(&p)?,
            Some(h) => {
                let h = crate::seccomp::Host::parse(h)
                    .ok_or_else(|| crate::error::Error::Invalid(format!("unknown host {h:?}")))?;
                crate::seccomp::compile_for(&p, h)?
            }
        };
        Ok(pyo3::types::PyBytes::new(
            py,
            &crate::seccomp::Insn::bytes(&prog),
        ))
    }

    /// A child that failed before its exec, as SpawnError((stage, errno, message)).
    fn spawned(r: crate::error::Result<Result<i32, crate::spawn::SpawnFailure>>) -> PyResult<i32> {
        match r? {
            Ok(pid) => Ok(pid),
            Err(f) => Err(crate::pyerr::SpawnError::new_err((
                f.stage.name(),
                f.errno,
                f.text(),
            ))),
        }
    }

    /// Parses a process configuration (`ProcessConfig.to_json()`) as
    /// `spawn` would, and returns it re-serialised: what the helper gets.
    #[pyfunction]
    fn process_config(process: &str) -> PyResult<String> {
        Ok(crate::spawn::Config::from_json(process)?.to_json())
    }

    /// Starts a container process (see spawn.rs) described by `process`
    /// (`ProcessConfig.to_json()`); returns its pid once it has exec'd.
    /// With `tty_socket`, it gets a pty from its own devpts and sends the
    /// master side there. `stdio`: three descriptors for its 0, 1 and 2
    /// (None: /dev/null).
    #[pyfunction]
    #[pyo3(signature = (process, tty_socket=-1, stdio=None))]
    fn spawn(
        py: Python<'_>,
        process: &str,
        tty_socket: i32,
        stdio: Option<[i32; 3]>,
    ) -> PyResult<i32> {
        let mut config = crate::spawn::Config::from_json(process)?;
        config.tty_socket = tty_socket;
        if let Some(fds) = stdio {
            config.stdio = fds;
        }
        spawned(py.detach(|| crate::spawn::spawn(&config)))
    }

    /// Runs `process` (`ProcessConfig.to_json()`, without a `container`
    /// part) inside the running container whose init is `pid` (`ketch
    /// exec`); returns the pid to wait for. Raises SpawnError like `spawn`.
    /// With `tty_socket`, the process gets a pty from the container's
    /// devpts (as `spawn`); its stdio is `stdio` (three descriptors, None:
    /// /dev/null).
    #[pyfunction]
    #[pyo3(signature = (pid, process, tty_socket=-1, stdio=None))]
    fn exec_in(
        py: Python<'_>,
        pid: i32,
        process: &str,
        tty_socket: i32,
        stdio: Option<[i32; 3]>,
    ) -> PyResult<i32> {
        let mut config = crate::spawn::Config::from_json(process)?;
        config.tty_socket = tty_socket;
        if let Some(fds) = stdio {
            config.stdio = fds;
        }
        spawned(py.detach(|| crate::spawn::exec_in(pid, &config)))
    }

    /// Waits for a child: its exit code as docker reports it (128 + signal
    /// when killed), or None when a signal interrupted the wait.
    #[pyfunction]
    fn wait(py: Python<'_>, pid: i32) -> PyResult<Option<i32>> {
        Ok(py.detach(|| crate::spawn::wait(pid))?)
    }

    /// Docker's default capability set, as a bit mask.
    #[pyfunction]
    fn docker_caps() -> u64 {
        crate::spawn::DOCKER_CAPS
    }

    /// Flushes the filesystem holding `path` to disk (one syncfs, not an fsync per file).
    #[pyfunction]
    fn syncfs(py: Python<'_>, path: PathBuf) -> PyResult<()> {
        Ok(py.detach(|| crate::root::syncfs(&path))?)
    }
}

#[cfg(feature = "python")]
pub(crate) mod pyerr {
    use pyo3::PyErr;

    use crate::error::Error;

    pyo3::import_exception!(ketch.errors, LayerError);
    pyo3::import_exception!(ketch.errors, DigestMismatchError);
    pyo3::import_exception!(ketch.errors, NoSpaceError);
    pyo3::import_exception!(ketch.errors, SpawnError);

    impl From<Error> for PyErr {
        fn from(e: Error) -> PyErr {
            let msg = e.to_string();
            match &e {
                Error::DigestMismatch { .. } => DigestMismatchError::new_err(msg),
                Error::BadLayer(_) | Error::TooLarge(_) => LayerError::new_err(msg),
                Error::Invalid(_) => pyo3::exceptions::PyValueError::new_err(msg),
                Error::Io { .. } if e.raw_os_error() == Some(libc::ENOSPC) => {
                    NoSpaceError::new_err(msg)
                }
                Error::Io { source, .. } => {
                    pyo3::exceptions::PyOSError::new_err((source.raw_os_error().unwrap_or(0), msg))
                }
            }
        }
    }
}
