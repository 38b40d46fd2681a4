//! Layer unpacking against hand-made tar streams, hostile ones included.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use ketch_native::digest::sha256_bytes;
use ketch_native::error::Error;
use ketch_native::layer::unpack::{unpack, Options};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ketch-unpack-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn dest(&self) -> PathBuf {
        self.0.join("layer")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A tar built entry by entry, raw names allowed (`..`, absolute, whiteouts).
struct Tar(Vec<u8>);

impl Tar {
    fn new() -> Tar {
        Tar(Vec::new())
    }
    fn raw(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        link: &str,
        data: &[u8],
    ) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Directory, 0o755, "", b"")
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name, tar::EntryType::Regular, 0o644, "", data)
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Symlink, 0o777, target, b"")
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name, tar::EntryType::Link, 0o644, target, b"")
    }
    /// A PAX extended header for the entry that follows.
    fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            // The length counts its own digits.
            let mut n = body.len() + 1;
            while format!("{n}{body}").len() != n {
                n += 1;
            }
            data.extend_from_slice(format!("{n}{body}").as_bytes());
        }
        self.raw("pax", tar::EntryType::XHeader, 0o644, "", &data)
    }
    /// A file whose header has these ids (base-256 when they exceed octal).
    fn owned(&mut self, name: &str, uid: u64, gid: u64) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o4755);
        h.set_size(0);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut v = self.0.clone();
        v.extend(std::iter::repeat_n(0u8, 1024));
        v
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn run(bytes: &[u8], dest: &Path) -> Result<ketch_native::layer::unpack::Unpacked, Error> {
    unpack(bytes, dest, &Options::default())
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn every_compression_gives_the_same_tree_and_digests() {
    let tar = Tar::new()
        .dir("etc/")
        .file("etc/hostname", b"box\n")
        .symlink("etc/link", "hostname")
        .finish();
    let diff_id = sha256_bytes(&tar);
    for bytes in [
        tar.clone(),
        gzip(&tar),
        zstd::encode_all(&tar[..], 3).unwrap(),
        bzip2(&tar),
        xz(&tar),
        // Concatenated streams, as `cat a.xz b.xz` and parallel compressors make.
        [xz(&tar[..512]), xz(&tar[512..])].concat(),
        [bzip2(&tar[..1024]), bzip2(&tar[1024..])].concat(),
    ] {
        let s = Scratch::new();
        let u = run(&bytes, &s.dest()).unwrap();
        assert_eq!(u.diff_id, diff_id);
        assert_eq!(u.digest, sha256_bytes(&bytes));
        assert_eq!(u.compressed_size, bytes.len() as u64);
        assert_eq!(u.content_size, 4 + 8); // the file, and the symlink by its target "hostname", as docker counts
        assert_eq!(fs::read(s.dest().join("etc/hostname")).unwrap(), b"box\n");
        assert_eq!(
            fs::read_link(s.dest().join("etc/link")).unwrap(),
            Path::new("hostname")
        );
        let md = fs::metadata(s.dest().join("etc/hostname")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o644);
        assert_eq!(md.mtime(), 1_600_000_000);
        // Directory times are set after their children are written.
        assert_eq!(
            fs::metadata(s.dest().join("etc")).unwrap().mtime(),
            1_600_000_000
        );
    }
}

#[test]
fn expected_digests_are_checked() {
    let tar = Tar::new().file("a", b"x").finish();
    let s = Scratch::new();
    let opts = Options {
        expected_diff_id: Some(sha256_bytes(b"other")),
        ..Default::default()
    };
    let err = unpack(&tar[..], &s.dest(), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DigestMismatch {
                what: "layer diff id",
                ..
            }
        ),
        "{err}"
    );
    let s = Scratch::new();
    let opts = Options {
        expected_digest: Some(sha256_bytes(b"other")),
        ..Default::default()
    };
    assert!(matches!(
        unpack(&tar[..], &s.dest(), &opts).unwrap_err(),
        Error::DigestMismatch { what: "layer", .. }
    ));
}

/// Wrong bytes under a digest that also break the stream (a registry that
/// sent another blob) are told as a digest mismatch: the caller hashes
/// nothing itself. Without an expected digest, or with the right one, the
/// corruption is what is reported.
#[test]
fn corrupt_bytes_under_a_digest_are_a_digest_mismatch() {
    let tar = Tar::new().file("big", &vec![7u8; 100_000]).finish();
    let good = gzip(&tar);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff; // the gzip trailer's size: the stream fails its check
    let with = |digest: Option<String>| Options {
        expected_digest: digest,
        ..Default::default()
    };
    let s = Scratch::new();
    let err = unpack(&bad[..], &s.dest(), &with(Some(sha256_bytes(&good)))).unwrap_err();
    assert!(
        matches!(err, Error::DigestMismatch { what: "layer", .. }),
        "{err}"
    );
    let s = Scratch::new();
    let err = unpack(&bad[..], &s.dest(), &with(None)).unwrap_err();
    assert!(matches!(err, Error::BadLayer(_)), "{err}");
    let s = Scratch::new();
    let err = unpack(&bad[..], &s.dest(), &with(Some(sha256_bytes(&bad)))).unwrap_err();
    assert!(matches!(err, Error::BadLayer(_)), "{err}");
}

#[test]
fn later_entries_replace_earlier_ones_and_hardlinks_share_inodes() {
    let tar = Tar::new()
        .file("f", b"first")
        .file("f", b"second")
        .dir("d/")
        .file("d/x", b"1")
        .file("d", b"now a file")
        .file("orig", b"data")
        .hardlink("copy", "orig")
        .finish();
    let s = Scratch::new();
    run(&tar, &s.dest()).unwrap();
    assert_eq!(fs::read(s.dest().join("f")).unwrap(), b"second");
    assert_eq!(fs::read(s.dest().join("d")).unwrap(), b"now a file");
    let a = fs::metadata(s.dest().join("orig")).unwrap();
    let b = fs::metadata(s.dest().join("copy")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn dotdot_and_absolute_paths_stay_inside() {
    let s = Scratch::new();
    let tar = Tar::new()
        .file("../escaped", b"x")
        .file("/abs", b"y")
        .file("a/../../b", b"z")
        .finish();
    run(&tar, &s.dest()).unwrap();
    assert!(!s.0.join("escaped").exists());
    assert_eq!(fs::read(s.dest().join("escaped")).unwrap(), b"x");
    assert_eq!(fs::read(s.dest().join("abs")).unwrap(), b"y");
    assert_eq!(fs::read(s.dest().join("b")).unwrap(), b"z");
}

#[test]
fn symlinked_parents_resolve_inside_the_root() {
    let s = Scratch::new();
    let outside = s.0.join("outside");
    fs::create_dir(&outside).unwrap();
    let abs = outside.to_str().unwrap().to_string();
    let tar = Tar::new()
        .symlink("abs", &abs)
        .file("abs/pwned", b"x")
        .symlink("rel", "../../../../../../..")
        .file("rel/tmp-pwned", b"y")
        .finish();
    run(&tar, &s.dest()).unwrap();
    assert!(!outside.join("pwned").exists());
    // The absolute link is followed as if the layer were `/`.
    assert_eq!(
        fs::read(s.dest().join(abs.trim_start_matches('/')).join("pwned")).unwrap(),
        b"x"
    );
    assert_eq!(fs::read(s.dest().join("tmp-pwned")).unwrap(), b"y");
}

#[test]
fn a_symlink_then_a_file_through_it_is_replaced_not_followed() {
    let s = Scratch::new();
    let victim = s.0.join("victim");
    fs::write(&victim, b"safe").unwrap();
    let tar = Tar::new()
        .symlink("f", victim.to_str().unwrap())
        .file("f", b"overwritten")
        .finish();
    run(&tar, &s.dest()).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"safe");
    assert!(fs::symlink_metadata(s.dest().join("f")).unwrap().is_file());
}

#[test]
fn hardlinks_cannot_reach_outside() {
    let s = Scratch::new();
    let victim = s.0.join("victim");
    fs::write(&victim, b"secret").unwrap();
    let tar = Tar::new()
        .hardlink("stolen", victim.to_str().unwrap())
        .finish();
    assert!(run(&tar, &s.dest()).is_err());
    // A link whose parent is a symlink out of the root also resolves inside.
    let s2 = Scratch::new();
    let tar = Tar::new()
        .symlink("up", s.0.to_str().unwrap())
        .hardlink("stolen", "up/victim")
        .finish();
    assert!(run(&tar, &s2.dest()).is_err());
    assert_eq!(fs::metadata(&victim).unwrap().nlink(), 1);
}

#[test]
fn bare_whiteout_is_an_error() {
    let s = Scratch::new();
    let tar = Tar::new().dir("d/").file("d/.wh.", b"").finish();
    assert!(matches!(
        run(&tar, &s.dest()).unwrap_err(),
        Error::BadLayer(_)
    ));
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !is_root() {
        eprintln!("skipped: creating 0:0 character devices needs root");
        return;
    }
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("d/")
        .file("d/.wh.gone", b"")
        .file("d/.wh..wh..opq", b"")
        .file("d/kept", b"k")
        .finish();
    run(&tar, &s.dest()).unwrap();
    let md = fs::symlink_metadata(s.dest().join("d/gone")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    assert!(!s.dest().join("d/.wh.gone").exists());
    let mut val = [0u8; 8];
    let c = std::ffi::CString::new(s.dest().join("d").to_str().unwrap()).unwrap();
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            val.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(&val[..n as usize], b"y");
    assert!(!s.dest().join("d/.wh..wh..opq").exists());
}

#[test]
fn overlay_xattrs_are_dropped_and_file_capabilities_kept() {
    if !is_root() {
        eprintln!("skipped: trusted.* xattrs need root");
        return;
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_pax_extensions([
        ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
        ("SCHILY.xattr.user.keep", &b"v"[..]),
    ])
    .unwrap();
    b.append_data(&mut h, "d/", &[][..]).unwrap();
    // A file capability (cap_net_bind_service+ep, VFS_CAP_REVISION_2) must survive.
    let cap: [u8; 20] = [0, 0, 0, 2, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut f = tar::Header::new_ustar();
    f.set_entry_type(tar::EntryType::Regular);
    f.set_mode(0o755);
    f.set_size(1);
    f.set_uid(0);
    f.set_gid(0);
    f.set_mtime(0);
    b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
        .unwrap();
    b.append_data(&mut f, "d/ping", &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let s = Scratch::new();
    run(&tar, &s.dest()).unwrap();
    let c = std::ffi::CString::new(s.dest().join("d").to_str().unwrap()).unwrap();
    let mut val = [0u8; 8];
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            val.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(n, -1);
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.keep".as_ptr(),
            val.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(&val[..n as usize], b"v");
    let ping = std::ffi::CString::new(s.dest().join("d/ping").to_str().unwrap()).unwrap();
    let mut capval = [0u8; 32];
    let n = unsafe {
        libc::getxattr(
            ping.as_ptr(),
            c"security.capability".as_ptr(),
            capval.as_mut_ptr().cast(),
            32,
        )
    };
    assert_eq!(n, 20);
    assert_eq!(capval[4], 0);
    assert_eq!(capval[5], 4);
}

#[test]
fn decompression_bombs_are_bounded() {
    let big = vec![0u8; 8 << 20];
    let tar = Tar::new().file("zeros", &big).finish();
    let bomb = gzip(&tar);
    assert!(bomb.len() < 100_000);
    let s = Scratch::new();
    let opts = Options {
        max_bytes: Some(1 << 20),
        ..Default::default()
    };
    assert!(matches!(
        unpack(&bomb[..], &s.dest(), &opts).unwrap_err(),
        Error::TooLarge(_)
    ));
}

#[test]
fn archives_are_told_from_other_files_after_decompression() {
    use ketch_native::layer::decode::is_archive;
    let tar = Tar::new().file("a", b"x").finish();
    for bytes in [
        tar.clone(),
        gzip(&tar),
        bzip2(&tar),
        xz(&tar),
        zstd::encode_all(&tar[..], 3).unwrap(),
    ] {
        assert!(is_archive(&bytes[..]));
    }
    let text = b"not an archive at all, just some text that is long enough".repeat(20);
    for bytes in [
        text.clone(),
        gzip(&text),
        bzip2(&text),
        xz(&text),
        vec![0u8; 1024],
        Vec::new(),
    ] {
        assert!(!is_archive(&bytes[..]));
    }
    let mut bad = tar.clone();
    bad[0] ^= 1; // the checksum no longer holds
    assert!(!is_archive(&bad[..]));
}

#[test]
fn truncated_and_corrupt_layers_are_bad_layers() {
    let tar = Tar::new().file("big", &vec![7u8; 100_000]).finish();
    let s = Scratch::new();
    assert!(matches!(
        run(&tar[..50_000], &s.dest()).unwrap_err(),
        Error::BadLayer(_)
    ));
    let mut gz = gzip(&tar);
    let n = gz.len();
    gz[n / 2] ^= 0xff;
    gz[n / 2 + 1] ^= 0xff;
    let s = Scratch::new();
    let err = run(&gz, &s.dest()).unwrap_err();
    assert!(
        matches!(err, Error::BadLayer(_) | Error::DigestMismatch { .. }),
        "{err}"
    );
    for cut in [gzip(&tar), bzip2(&tar), xz(&tar)] {
        let s = Scratch::new();
        let err = run(&cut[..cut.len() / 2], &s.dest()).unwrap_err();
        assert!(matches!(err, Error::BadLayer(_)), "{err}");
    }
    for mut bad in [bzip2(&tar), xz(&tar)] {
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        let s = Scratch::new();
        let err = run(&bad, &s.dest()).unwrap_err();
        assert!(matches!(err, Error::BadLayer(_)), "{err}");
    }
}

#[test]
fn decompress_gives_the_tar_and_its_diff_id() {
    let tar = Tar::new().file("a", b"hello").finish();
    let s = Scratch::new();
    let src = s.0.join("l.zst");
    fs::write(&src, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
    let (diff_id, size) =
        ketch_native::layer::decode::decompress_file(&src, &s.0.join("l.tar")).unwrap();
    assert_eq!((diff_id, size), (sha256_bytes(&tar), tar.len() as u64));
    assert_eq!(fs::read(s.0.join("l.tar")).unwrap(), tar);
}

#[test]
fn ids_beyond_32_bits_are_bad_layers_never_truncated() {
    // 2^32 truncates to 0 (root), 2^32-1 is chown's "leave the owner as it is".
    let bad = [
        Tar::new().owned("setuid", 1 << 32, 0).finish(),
        Tar::new().owned("setuid", 0, (1 << 32) + 7).finish(),
        Tar::new().owned("setuid", u64::from(u32::MAX), 0).finish(),
        Tar::new()
            .pax(&[("uid", "4294967296")])
            .file("setuid", b"x")
            .finish(),
        Tar::new()
            .pax(&[("gid", "18446744073709551617")])
            .file("setuid", b"x")
            .finish(),
        Tar::new()
            .pax(&[("uid", "-1")])
            .file("setuid", b"x")
            .finish(),
    ];
    for tar in bad {
        let s = Scratch::new();
        let err = run(&tar, &s.dest()).unwrap_err();
        assert!(matches!(err, Error::BadLayer(_)), "{err}");
        assert!(!s.dest().join("setuid").exists());
    }
}

#[test]
fn pax_ids_are_honoured() {
    if !is_root() {
        return;
    }
    // Python's tarfile (and Go's) write ids of 2^21 and more as PAX records
    // with 0 in the header: that 0 must not become the owner (a guard: the
    // checks above parse the records again).
    let tar = Tar::new()
        .pax(&[("uid", "3000000"), ("gid", "3000001")])
        .file("big-id", b"x")
        .owned("small-id", 1000, 1001)
        .finish();
    let s = Scratch::new();
    run(&tar, &s.dest()).unwrap();
    let m = fs::metadata(s.dest().join("big-id")).unwrap();
    assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
    let m = fs::metadata(s.dest().join("small-id")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
}

#[test]
fn a_non_tar_input_is_a_bad_layer_that_does_not_quote_it() {
    let s = Scratch::new();
    let mut text =
        b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            .repeat(20);
    text.resize(2048, b'\n');
    let err = run(&text, &s.dest()).unwrap_err();
    assert!(matches!(err, Error::BadLayer(_)), "{err}");
    let msg = err.to_string();
    assert!(!msg.contains("root") && !msg.contains("daemon"), "{msg}");
}
