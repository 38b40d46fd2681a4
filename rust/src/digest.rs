//! Streaming sha256. The `sha2` crate picks the SHA-NI (x86) or ARMv8 SHA2
//! instructions at run time when the CPU has them, falling back to software.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Context, Result};

/// `sha256:<64 hex>` of a finished hasher.
pub fn format_digest(hasher: Sha256) -> String {
    let out = hasher.finalize();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in out.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and the number of bytes read so far.
    pub fn finish(self) -> (String, u64) {
        (format_digest(self.hasher), self.count)
    }

    /// The wrapped reader back, with the digest and count of what was read.
    pub fn into_parts(self) -> (R, String, u64) {
        (self.inner, format_digest(self.hasher), self.count)
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that only hashes (for `io::copy` into a digest).
pub struct HashingSink(pub Sha256, pub u64);

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// sha256 of a whole file, read in large blocks: (digest, size).
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).ctx(|| format!("open {}", path.display()))?;
    let mut sink = HashingSink(Sha256::new(), 0);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .ctx(|| format!("read {}", path.display()))?;
        if n == 0 {
            break;
        }
        sink.write_all(&buf[..n]).expect("hashing never fails");
    }
    let size = sink.1;
    Ok((format_digest(sink.0), size))
}

/// sha256 of a byte slice.
pub fn sha256_bytes(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    format_digest(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            sha256_bytes(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_bytes(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reader_matches_bytes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, sha256_bytes(&data));
    }
}

/// A stat line that changes whenever a file's content may have:
/// size, mtime and ctime to the nanosecond, inode, device.
fn stat_key(m: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}:{}:{}:{}:{}",
        m.size(),
        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        m.ino(),
        m.dev()
    )
}

/// (path, stat line, content digest): a file hashed by `digest_entries`.
pub type Hashed = (String, String, String);

/// The build cache's view of a set of files: one sha256 over each entry's
/// name, mode, owner, link target and content digest (never an mtime).
/// `cache` maps a path to (stat line, content digest) from earlier builds:
/// a file whose stat line is unchanged is not read again. Returns the
/// digest (hex) and the (path, stat line, digest) of every file hashed now.
pub fn digest_entries(
    entries: &[(String, std::path::PathBuf)],
    cache: &std::collections::HashMap<String, (String, String)>,
) -> Result<(String, Vec<Hashed>)> {
    use std::os::unix::fs::MetadataExt;
    let mut h = Sha256::new();
    let mut fresh = Vec::new();
    for (name, path) in entries {
        let m = std::fs::symlink_metadata(path).ctx(|| format!("stat {}", path.display()))?;
        h.update(format!("{name}\0{:o}\0{}\0{}\0", m.mode(), m.uid(), m.gid()).as_bytes());
        let ft = m.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(path).ctx(|| format!("readlink {}", path.display()))?;
            use std::os::unix::ffi::OsStrExt;
            h.update(target.as_os_str().as_bytes());
            h.update(b"\0");
        } else if ft.is_file() {
            let key = path.to_string_lossy().into_owned();
            let stat = stat_key(&m);
            let digest = match cache.get(&key) {
                Some((s, d)) if *s == stat => d.clone(),
                _ => {
                    let (d, _) = sha256_file(path)?;
                    fresh.push((key, stat, d.clone()));
                    d
                }
            };
            h.update(digest.as_bytes());
        }
    }
    let out = h.finalize();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, fresh))
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn entries_digest_follows_content_mode_and_names_and_uses_the_cache() {
        let dir = std::env::temp_dir().join(format!("ketch-digest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"one").unwrap();
        let entries = vec![("f".to_string(), f.clone())];
        let (d1, fresh) = digest_entries(&entries, &Default::default()).unwrap();
        assert_eq!(fresh.len(), 1);
        let cache: std::collections::HashMap<String, (String, String)> =
            fresh.into_iter().map(|(p, s, d)| (p, (s, d))).collect();
        // unchanged: the same digest and nothing read again
        let (d2, fresh2) = digest_entries(&entries, &cache).unwrap();
        assert_eq!((d2.as_str(), fresh2.len()), (d1.as_str(), 0));
        // a touch re-reads the file but keeps the digest
        let t = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        let (d3, fresh3) = digest_entries(&entries, &cache).unwrap();
        assert_eq!((d3.as_str(), fresh3.len()), (d1.as_str(), 1));
        // content, mode and name all count
        std::fs::write(&f, b"two").unwrap();
        assert_ne!(digest_entries(&entries, &cache).unwrap().0, d1);
        std::fs::write(&f, b"one").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(digest_entries(&entries, &cache).unwrap().0, d1);
        let renamed = vec![("g".to_string(), f.clone())];
        assert_ne!(digest_entries(&renamed, &cache).unwrap().0, d1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The Python face: `_native.sha256_file`, `sha256_bytes`, `Sha256`, `digest_entries`.
#[cfg(feature = "python")]
pub mod bindings {
    use std::path::PathBuf;

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;

    use crate::error::without_gil;

    /// sha256 of a file: ("sha256:<hex>", size).
    #[pyfunction]
    pub fn sha256_file(path: PathBuf) -> PyResult<(String, u64)> {
        without_gil(|| super::sha256_file(&path))
    }

    /// sha256 of bytes: "sha256:<hex>".
    #[pyfunction]
    pub fn sha256_bytes(py: Python<'_>, data: Vec<u8>) -> String {
        py.detach(|| super::sha256_bytes(&data))
    }

    /// An incremental sha256.
    #[pyclass(module = "ketch._native")]
    pub struct Sha256 {
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
                .ok_or_else(|| PyValueError::new_err("digest already taken"))?;
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
                .ok_or_else(|| PyValueError::new_err("digest already taken"))?;
            Ok(super::format_digest(h))
        }
    }

    /// The build cache's digest of files (see `digest_entries`): `entries`
    /// are (name, path) in order, `cache` path -> (stat line, digest).
    #[pyfunction]
    pub fn digest_entries(
        entries: Vec<(String, PathBuf)>,
        cache: std::collections::HashMap<String, (String, String)>,
    ) -> PyResult<(String, Vec<super::Hashed>)> {
        without_gil(|| super::digest_entries(&entries, &cache))
    }
}
