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
