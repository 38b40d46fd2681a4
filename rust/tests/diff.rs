//! An overlay upper dir out as `docker diff` changes and as a layer tar,
//! and that tar back in through the unpacker.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ketch_native::layer::diff::{changes, write_layer};
use ketch_native::layer::unpack::{unpack_file, Options};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ketch-diff-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn whiteout(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
}

fn set_opaque(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let r = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            b"y".as_ptr().cast(),
            1,
            0,
        )
    };
    assert_eq!(r, 0);
}

/// Symlink targets a tar writer must keep byte for byte (the root, doubled
/// slashes and dots, one longer than the header's 100 bytes).
fn odd_links() -> Vec<(&'static str, String)> {
    vec![
        ("root", "/".to_string()),
        ("dots", "a//b/./c/".to_string()),
        ("long", format!("/{}/x", "d".repeat(150))),
        ("full", format!("{}/", "e".repeat(99))), // exactly the header's 100 bytes
        ("longdots", format!("a//./{}", "f".repeat(97))), // 102: tidied, it would fit the header
    ]
}

/// lower: /etc/passwd, /etc/old, /var/cache/a ; upper: the changes.
fn make(s: &Scratch) -> (PathBuf, PathBuf) {
    let lower = s.0.join("lower");
    let upper = s.0.join("upper");
    fs::create_dir_all(lower.join("etc")).unwrap();
    fs::create_dir_all(lower.join("var/cache")).unwrap();
    fs::write(lower.join("etc/passwd"), "root\n").unwrap();
    fs::write(lower.join("etc/old"), "x").unwrap();
    fs::write(lower.join("var/cache/a"), "a").unwrap();
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::create_dir_all(upper.join("var/cache")).unwrap();
    fs::create_dir_all(upper.join("new/deep")).unwrap();
    fs::write(upper.join("etc/passwd"), "root\nweb\n").unwrap();
    fs::set_permissions(upper.join("etc/passwd"), fs::Permissions::from_mode(0o600)).unwrap();
    whiteout(&upper.join("etc/old"));
    set_opaque(&upper.join("var/cache"));
    fs::write(upper.join("var/cache/b"), "b").unwrap();
    fs::write(upper.join("new/deep/file"), "data").unwrap();
    fs::hard_link(upper.join("new/deep/file"), upper.join("new/link")).unwrap();
    symlink("../etc/passwd", upper.join("new/sym")).unwrap();
    for (name, target) in odd_links() {
        symlink(target, upper.join("new").join(name)).unwrap();
    }
    fs::write(upper.join("etc-a"), "sorts between etc and etc/").unwrap();
    (lower, upper)
}

#[test]
fn changes_as_docker_lists_them() {
    if !is_root() {
        eprintln!("skipped: whiteouts and trusted xattrs need root");
        return;
    }
    let s = Scratch::new("changes");
    let (lower, upper) = make(&s);
    let got = changes(&upper, &[lower]).unwrap();
    let want: Vec<(char, String)> = [
        ('C', "/etc"),
        ('D', "/etc/old"),
        ('C', "/etc/passwd"),
        ('A', "/etc-a"),
        ('A', "/new"),
        ('A', "/new/deep"),
        ('A', "/new/deep/file"),
        ('A', "/new/dots"),
        ('A', "/new/full"),
        ('A', "/new/link"),
        ('A', "/new/long"),
        ('A', "/new/longdots"),
        ('A', "/new/root"),
        ('A', "/new/sym"),
        ('C', "/var"),
        ('C', "/var/cache"),
        ('A', "/var/cache/b"),
    ]
    .iter()
    .map(|(k, p)| (*k, p.to_string()))
    .collect();
    // docker sorts by path string ("/etc-a" before "/etc/old": - is 0x2d, / is 0x2f).
    let mut want_sorted = want.clone();
    want_sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, want_sorted);
}

#[test]
fn layer_tar_has_whiteouts_opaque_links_and_round_trips() {
    if !is_root() {
        eprintln!("skipped: whiteouts and trusted xattrs need root");
        return;
    }
    let s = Scratch::new("tar");
    let (_lower, upper) = make(&s);
    for gzip in [false, true] {
        let out = s.0.join(format!("layer-{gzip}.tar"));
        let w = write_layer(&upper, &out, gzip).unwrap();
        assert_eq!(w.size, fs::metadata(&out).unwrap().len());
        if !gzip {
            assert_eq!(w.digest, w.diff_id);
            assert_eq!(w.tar_size, w.size);
        } else {
            assert_ne!(w.digest, w.diff_id);
        }
        // Same tree, same bytes.
        let again = s.0.join(format!("again-{gzip}.tar"));
        assert_eq!(write_layer(&upper, &again, gzip).unwrap().digest, w.digest);
        assert!(
            write_layer(&upper, &again, gzip).is_err(),
            "an existing output is not overwritten"
        );

        if !gzip {
            let mut names = Vec::new();
            let mut ar = tar::Archive::new(fs::File::open(&out).unwrap());
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let kind = e.header().entry_type();
                if name == "new/link" {
                    assert_eq!(kind, tar::EntryType::Link);
                    assert_eq!(
                        e.link_name().unwrap().unwrap().to_str(),
                        Some("new/deep/file")
                    );
                }
                if name == "new/sym" {
                    assert_eq!(
                        e.link_name().unwrap().unwrap().to_str(),
                        Some("../etc/passwd")
                    );
                }
                for (odd, target) in odd_links() {
                    if name == format!("new/{odd}") {
                        assert_eq!(e.link_name_bytes().unwrap().as_ref(), target.as_bytes());
                    }
                }
                if name == "etc/passwd" {
                    assert_eq!(e.header().mode().unwrap(), 0o600);
                    let mut body = String::new();
                    e.read_to_string(&mut body).unwrap();
                    assert_eq!(body, "root\nweb\n");
                }
                names.push(name);
            }
            for want in [
                "etc/.wh.old",
                "var/cache/",
                "var/cache/.wh..wh..opq",
                "var/cache/b",
                "new/deep/file",
            ] {
                assert!(
                    names.iter().any(|n| n == want),
                    "{want} missing from {names:?}"
                );
            }
            // A directory comes before what it holds.
            let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
            assert!(pos("new/") < pos("new/deep/") && pos("new/deep/") < pos("new/deep/file"));
        }

        // Back in: the unpacker turns it into the same overlay form.
        let dest = s.0.join(format!("unpacked-{gzip}"));
        unpack_file(&out, &dest, &Options::default()).unwrap();
        let wh = fs::symlink_metadata(dest.join("etc/old")).unwrap();
        assert_eq!(wh.rdev(), 0);
        assert_eq!(fs::read_to_string(dest.join("var/cache/b")).unwrap(), "b");
        assert_eq!(
            fs::metadata(dest.join("new/link")).unwrap().ino(),
            fs::metadata(dest.join("new/deep/file")).unwrap().ino()
        );
        assert_eq!(
            fs::read_link(dest.join("new/sym")).unwrap().to_str(),
            Some("../etc/passwd")
        );
        for (odd, target) in odd_links() {
            let back = fs::read_link(dest.join("new").join(odd)).unwrap();
            assert_eq!(back.as_os_str().to_str(), Some(target.as_str()), "{odd}");
        }
    }
}

#[test]
fn a_symlinked_directory_is_archived_not_followed() {
    let s = Scratch::new("symdir");
    let upper = s.0.join("upper");
    fs::create_dir_all(&upper).unwrap();
    fs::create_dir_all(s.0.join("host-secret")).unwrap();
    fs::write(s.0.join("host-secret/key"), "TOPSECRETDATA").unwrap();
    symlink(s.0.join("host-secret"), upper.join("etc")).unwrap();
    let out = s.0.join("l.tar");
    write_layer(&upper, &out, false).unwrap();
    let mut body = Vec::new();
    fs::File::open(&out)
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    assert!(!body.windows(13).any(|w| w == b"TOPSECRETDATA"));
    let ch = changes(&upper, &[]).unwrap();
    assert_eq!(ch, vec![('A', "/etc".to_string())]);
}
