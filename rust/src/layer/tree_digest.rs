//! The build cache's key of a tree inside a root (COPY --from): what a copy
//! of it would copy, hashed; never a time.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{Context, Result};
use crate::root::{clean_components, fstat, list_dir, openat, readlinkat, reopen, Root};
use crate::sys::cstr;

/// One sha256 over what copying `paths` (each followed inside `root`)
/// would copy: every entry's name below its path, mode, owner, link
/// target, device numbers and content digest; never a time. COPY --from's
/// cache key: the same files give the same key whatever image holds them.
pub fn tree_digest(root: &Root, paths: &[Vec<u8>]) -> Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in paths {
        let shown = String::from_utf8_lossy(p).into_owned();
        let fd = root
            .open_in(&clean_components(p), libc::O_PATH)
            .ctx(|| format!("stat {shown}"))?;
        h.update(b"source\0");
        h.update(p);
        h.update(b"\0");
        hash_entry(&mut h, fd, &shown, b".")?;
    }
    Ok(crate::digest::format_digest(h)[7..].to_string())
}

fn hash_entry(h: &mut sha2::Sha256, fd: OwnedFd, shown: &str, name: &[u8]) -> Result<()> {
    use sha2::Digest;
    let st = fstat(&fd).ctx(|| format!("stat {shown}"))?;
    h.update(name);
    h.update(format!("\0{:o}\0{}\0{}\0", st.st_mode, st.st_uid, st.st_gid).as_bytes());
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let dir =
                reopen(&fd, libc::O_RDONLY | libc::O_DIRECTORY).ctx(|| format!("open {shown}"))?;
            drop(fd);
            let mut names = list_dir(&dir).ctx(|| format!("list {shown}"))?;
            names.sort();
            for n in names {
                let c = cstr(&n)?;
                let child = openat(dir.as_raw_fd(), &c, libc::O_PATH | libc::O_NOFOLLOW, 0)
                    .ctx(|| format!("open {shown}/{}", String::from_utf8_lossy(&n)))?;
                let mut full = name.to_vec();
                full.push(b'/');
                full.extend_from_slice(&n);
                hash_entry(h, child, shown, &full)?;
            }
        }
        libc::S_IFREG => {
            let f = File::from(reopen(&fd, libc::O_RDONLY).ctx(|| format!("open {shown}"))?);
            let mut r = crate::digest::HashingReader::new(f);
            io::copy(&mut r, &mut io::sink()).ctx(|| format!("read {shown}"))?;
            h.update(r.finish().0.as_bytes());
        }
        libc::S_IFLNK => {
            h.update(
                readlinkat(fd.as_raw_fd(), &CString::default())
                    .ctx(|| format!("readlink {shown}"))?,
            );
        }
        _ => h.update(format!("{}", st.st_rdev).as_bytes()),
    }
    h.update(b"\0");
    Ok(())
}
