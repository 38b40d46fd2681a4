//! In-root copies (layer/copy.rs) between real directories and the merged,
//! unattached overlay of real layers: hostile links stay inside their
//! roots, special files stay nodes and are never read, metadata is kept.
//! As root (mounts, device nodes, owners); skipped otherwise.

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use ketch_native::layer::copy::{
    copy_in_root, extract_in_root, kind_in, mkdirs_like, write_in_root, CopyOptions,
};
use ketch_native::layer::tree_digest::tree_digest;
use ketch_native::root::{overlay_classic, Root};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ketch-copy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn dir(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let r = unsafe { libc::mknod(c.as_ptr(), kind | 0o644, libc::makedev(major, minor)) };
    assert_eq!(r, 0, "mknod {}", path.display());
}

fn root(p: &Path) -> Root {
    Root::open(p).unwrap()
}

/// A host directory that a hostile image points at, and what it holds.
fn victim(s: &Scratch) -> PathBuf {
    let v = s.dir("host");
    fs::create_dir_all(v.join("etc")).unwrap();
    fs::write(v.join("etc/shadow"), b"HOST SECRET\n").unwrap();
    v
}

/// Two layers: the bottom one a small root, the top one hostile links,
/// device nodes and a whiteout of the bottom's /gone.
fn image(s: &Scratch, host: &Path) -> Vec<PathBuf> {
    let bottom = s.dir("l0");
    fs::create_dir_all(bottom.join("etc")).unwrap();
    fs::write(bottom.join("etc/shadow"), b"image shadow\n").unwrap();
    fs::write(bottom.join("gone"), b"deleted above\n").unwrap();
    let top = s.dir("l1");
    symlink("/", top.join("data")).unwrap();
    symlink("../../..", top.join("rel")).unwrap();
    symlink(host.join("etc/shadow"), top.join("abs")).unwrap();
    symlink(host, top.join("hostdir")).unwrap();
    mknod(&top.join("null"), libc::S_IFCHR, 1, 3);
    mknod(&top.join("disk"), libc::S_IFBLK, 7, 0);
    mknod(&top.join("fifo"), libc::S_IFIFO, 0, 0);
    mknod(&top.join("gone"), libc::S_IFCHR, 0, 0); // overlayfs' whiteout
    vec![top, bottom]
}

fn opts() -> CopyOptions {
    CopyOptions {
        keep_owners: true,
        ..Default::default()
    }
}

#[test]
fn links_of_the_image_resolve_inside_it_never_on_the_host() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    let lowers = image(&s, &host);
    let img = Root::overlay(&lowers).unwrap();
    let out = s.dir("out");
    let dst = root(&out);
    for (i, src) in [
        "/data/etc/shadow",
        "/rel/etc/shadow",
        "data/../../etc/shadow",
    ]
    .iter()
    .enumerate()
    {
        copy_in_root(
            &img,
            src.as_bytes(),
            &dst,
            format!("f{i}").as_bytes(),
            &opts(),
        )
        .unwrap();
        assert_eq!(
            fs::read(out.join(format!("f{i}"))).unwrap(),
            b"image shadow\n"
        );
    }
    // /abs -> <host>/etc/shadow: that path does not exist inside the image.
    assert!(copy_in_root(&img, b"/abs", &dst, b"abs", &opts()).is_err());
    assert_eq!(kind_in(&img, b"/hostdir/etc", true).unwrap(), None);
    // A directory through a link: the image's /etc, not the host's.
    copy_in_root(&img, b"/data/etc", &dst, b"etc", &opts()).unwrap();
    assert_eq!(fs::read(out.join("etc/shadow")).unwrap(), b"image shadow\n");
    // The whole root: links copied as links, the whiteout applied.
    copy_in_root(&img, b"/", &dst, b"all", &opts()).unwrap();
    assert_eq!(fs::read_link(out.join("all/data")).unwrap(), Path::new("/"));
    assert_eq!(
        fs::read_link(out.join("all/abs")).unwrap(),
        host.join("etc/shadow")
    );
    assert!(!out.join("all/gone").exists() && fs::symlink_metadata(out.join("all/gone")).is_err());
    assert_eq!(fs::read(host.join("etc/shadow")).unwrap(), b"HOST SECRET\n");
    assert_eq!(fs::metadata(host.join("etc/shadow")).unwrap().nlink(), 1);
}

#[test]
fn special_files_stay_nodes_and_are_never_opened() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    let img = Root::overlay(&image(&s, &host)).unwrap();
    let out = s.dir("out");
    let dst = root(&out);
    // A FIFO that nobody writes: opening it would hang the copy.
    for (name, major, minor) in [("null", 1, 3), ("disk", 7, 0), ("fifo", 0, 0)] {
        let c = copy_in_root(&img, name.as_bytes(), &dst, name.as_bytes(), &opts()).unwrap();
        assert_eq!(c.bytes, 0);
        let m = fs::symlink_metadata(out.join(name)).unwrap();
        let ft = m.file_type();
        assert!(
            ft.is_char_device() || ft.is_block_device() || ft.is_fifo(),
            "{name}: {ft:?}"
        );
        if !ft.is_fifo() {
            assert_eq!(
                (libc::major(m.rdev()), libc::minor(m.rdev())),
                (major, minor)
            );
        }
    }
    assert!(fs::symlink_metadata(out.join("disk"))
        .unwrap()
        .file_type()
        .is_block_device());
    // The same from a plain directory (a build context), which has no nodev.
    let ctx = s.dir("ctx");
    mknod(&ctx.join("zero"), libc::S_IFCHR, 1, 5);
    let c = copy_in_root(&root(&ctx), b"/", &dst, b"ctx", &CopyOptions::default()).unwrap();
    assert_eq!(c.bytes, 0);
    assert!(fs::symlink_metadata(out.join("ctx/zero"))
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn owners_modes_times_xattrs_and_hardlinks_are_kept() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let src = s.dir("src");
    fs::create_dir(src.join("d")).unwrap();
    fs::write(src.join("d/a"), b"shared").unwrap();
    fs::hard_link(src.join("d/a"), src.join("b")).unwrap();
    std::os::unix::fs::lchown(src.join("d/a"), Some(1000), Some(1001)).unwrap();
    fs::set_permissions(src.join("d/a"), fs::Permissions::from_mode(0o4750)).unwrap();
    std::os::unix::fs::lchown(src.join("d"), Some(7), Some(8)).unwrap();
    symlink("a", src.join("d/l")).unwrap();
    std::os::unix::fs::lchown(src.join("d/l"), Some(5), Some(6)).unwrap();
    let c = std::ffi::CString::new(src.join("d/a").as_os_str().as_bytes()).unwrap();
    let r = unsafe {
        libc::setxattr(c.as_ptr(), c"user.k".as_ptr(), b"v".as_ptr().cast(), 1, 0)
            + libc::setxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
    };
    let xattrs = r == 0;
    let times = [libc::timespec {
        tv_sec: 1_600_000_000,
        tv_nsec: 123,
    }; 2];
    let cd = std::ffi::CString::new(src.join("d").as_os_str().as_bytes()).unwrap();
    unsafe { libc::utimensat(libc::AT_FDCWD, cd.as_ptr(), times.as_ptr(), 0) };

    let out = s.dir("out");
    copy_in_root(&root(&src), b"/", &root(&out), b"/x", &opts()).unwrap();
    let a = fs::metadata(out.join("x/d/a")).unwrap();
    assert_eq!((a.uid(), a.gid(), a.mode() & 0o7777), (1000, 1001, 0o4750));
    assert_eq!(
        a.ino(),
        fs::metadata(out.join("x/b")).unwrap().ino(),
        "hardlinks stay hardlinks"
    );
    let d = fs::metadata(out.join("x/d")).unwrap();
    assert_eq!(
        (d.uid(), d.gid(), d.mtime(), d.mtime_nsec()),
        (7, 8, 1_600_000_000, 123)
    );
    let l = fs::symlink_metadata(out.join("x/d/l")).unwrap();
    assert_eq!((l.uid(), l.gid()), (5, 6));
    if xattrs {
        let c = std::ffi::CString::new(out.join("x/d/a").as_os_str().as_bytes()).unwrap();
        let mut buf = [0u8; 8];
        let n =
            unsafe { libc::getxattr(c.as_ptr(), c"user.k".as_ptr(), buf.as_mut_ptr().cast(), 8) };
        assert_eq!(&buf[..n.max(0) as usize], b"v");
        let n = unsafe {
            libc::getxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                8,
            )
        };
        assert!(n < 0, "overlayfs' own xattrs are not copied");
    }

    // The build context's way: 0:0, or --chown / --chmod.
    copy_in_root(
        &root(&src),
        b"d",
        &root(&out),
        b"ctx",
        &CopyOptions::default(),
    )
    .unwrap();
    let a = fs::metadata(out.join("ctx/a")).unwrap();
    assert_eq!((a.uid(), a.gid(), a.mode() & 0o7777), (0, 0, 0o4750));
    let o = CopyOptions {
        chown: Some((42, 43)),
        chmod: Some(0o640),
        ..Default::default()
    };
    copy_in_root(&root(&src), b"d", &root(&out), b"own", &o).unwrap();
    let a = fs::metadata(out.join("own/a")).unwrap();
    assert_eq!((a.uid(), a.gid(), a.mode() & 0o7777), (42, 43, 0o640));
    let l = fs::symlink_metadata(out.join("own/l")).unwrap();
    assert_eq!((l.uid(), l.file_type().is_symlink()), (42, true));
}

#[test]
fn the_destination_is_confined_and_links_planted_in_it_are_replaced() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    let out = s.dir("out");
    // An earlier source left links in the destination that lead to the host.
    symlink(host.join("etc"), out.join("etc")).unwrap();
    symlink(host.join("etc/shadow"), out.join("shadow")).unwrap();
    let src = s.dir("src");
    fs::create_dir(src.join("etc")).unwrap();
    fs::write(src.join("etc/shadow"), b"pwned\n").unwrap();
    fs::write(src.join("shadow"), b"pwned\n").unwrap();
    copy_in_root(
        &root(&src),
        b"/",
        &root(&out),
        b"/",
        &CopyOptions::default(),
    )
    .unwrap();
    assert!(fs::symlink_metadata(out.join("etc")).unwrap().is_dir());
    assert_eq!(fs::read(out.join("shadow")).unwrap(), b"pwned\n");
    // A destination path through a link resolves inside the destination.
    symlink("/../../..", out.join("up")).unwrap();
    copy_in_root(
        &root(&src),
        b"shadow",
        &root(&out),
        b"up/etc/x",
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read(out.join("etc/x")).unwrap(), b"pwned\n");
    write_in_root(&root(&out), b"/up/etc/here", b"doc\n", 0o644, (0, 0)).unwrap();
    assert_eq!(fs::read(out.join("etc/here")).unwrap(), b"doc\n");
    assert_eq!(fs::read(host.join("etc/shadow")).unwrap(), b"HOST SECRET\n");
    assert_eq!(fs::read_dir(host.join("etc")).unwrap().count(), 1);
}

#[test]
fn excluded_entries_and_hollow_directories() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let src = s.dir("src");
    fs::create_dir_all(src.join("logs/sub")).unwrap();
    fs::create_dir_all(src.join("empty")).unwrap();
    fs::write(src.join("logs/a.log"), b"").unwrap();
    fs::write(src.join("logs/keep.log"), b"k").unwrap();
    fs::write(src.join("secret"), b"s").unwrap();
    fs::write(src.join("empty/x"), b"x").unwrap();
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<HashSet<_>>()
    };
    let o = CopyOptions {
        skip: set(&["secret", "logs/a.log", "logs/sub", "empty/x"]),
        hollow: set(&["logs", "empty"]),
        ..Default::default()
    };
    let out = s.dir("out");
    copy_in_root(&root(&src), b".", &root(&out), b"/", &o).unwrap();
    let mut names: Vec<_> = walk(&out);
    names.sort();
    assert_eq!(names, ["logs", "logs/keep.log"]);
}

fn walk(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(d).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        }
        out.push(name);
    }
    out
}

#[test]
fn mkdirs_take_the_image_metadata_resolved_inside_it() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    std::os::unix::fs::lchown(host.join("etc"), Some(99), Some(99)).unwrap();
    let layer = s.dir("layer");
    fs::create_dir_all(layer.join("app/conf")).unwrap();
    std::os::unix::fs::lchown(layer.join("app"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(layer.join("app"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink(&host, layer.join("h")).unwrap();
    let img = Root::overlay(&[layer]).unwrap();
    let out = s.dir("out");
    mkdirs_like(&root(&out), b"/app/conf/new", Some(&img), 0o755).unwrap();
    let app = fs::metadata(out.join("app")).unwrap();
    assert_eq!((app.uid(), app.mode() & 0o7777), (1000, 0o750));
    assert_eq!(fs::metadata(out.join("app/conf/new")).unwrap().uid(), 0);
    // <host>/etc is not the image's: h/etc is made root's, 0755.
    mkdirs_like(&root(&out), b"/h/etc", Some(&img), 0o755).unwrap();
    let e = fs::metadata(out.join("h/etc")).unwrap();
    assert_eq!((e.uid(), e.mode() & 0o7777), (0, 0o755));
}

#[test]
fn the_classic_mount_gives_the_same_view() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    let lowers = image(&s, &host);
    let new = Root::overlay(&lowers).unwrap();
    let old = Root::from_owned(overlay_classic(&lowers).unwrap(), "classic".into());
    let paths = [b"/".to_vec()];
    assert_eq!(
        tree_digest(&new, &paths).unwrap(),
        tree_digest(&old, &paths).unwrap()
    );
    let single = Root::from_owned(overlay_classic(&lowers[1..]).unwrap(), "classic".into());
    assert_eq!(
        kind_in(&single, b"/etc/shadow", true).unwrap(),
        Some("file")
    );
    assert_eq!(
        kind_in(&Root::overlay(&[]).unwrap(), b"/etc", true).unwrap(),
        None
    );
    // Mounted nowhere: nothing new in this process's mount table.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*s.0.to_string_lossy()), "{mounts}");
    // Read-only.
    let fd = new
        .open_in(&[], libc::O_RDONLY | libc::O_DIRECTORY)
        .unwrap();
    let r = unsafe { libc::mkdirat(fd.as_raw_fd(), c"x".as_ptr(), 0o755) };
    assert!(r < 0);
}

#[test]
fn tree_digest_follows_content_and_metadata_not_times() {
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let a = s.dir("a");
    fs::write(a.join("f"), b"one").unwrap();
    let d1 = tree_digest(&root(&a), &[b"/".to_vec()]).unwrap();
    let t = [libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    }; 2];
    let c = std::ffi::CString::new(a.join("f").as_os_str().as_bytes()).unwrap();
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), t.as_ptr(), 0) };
    assert_eq!(tree_digest(&root(&a), &[b"/".to_vec()]).unwrap(), d1);
    fs::write(a.join("f"), b"two").unwrap();
    assert_ne!(tree_digest(&root(&a), &[b"/".to_vec()]).unwrap(), d1);
}

/// A tar with hostile entries: a link to the host then a file through it,
/// `..` names, an absolute link, a hardlink to a host file.
fn hostile_tar(host: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, link: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let hs = host.to_str().unwrap();
    add("out", tar::EntryType::Symlink, hs, b"");
    add("out/etc/shadow", tar::EntryType::Regular, "", b"pwned\n");
    add(
        "../../../../../../../../../etc/x",
        tar::EntryType::Regular,
        "",
        b"pwned\n",
    );
    add(
        "abs",
        tar::EntryType::Symlink,
        &format!("{hs}/etc/shadow"),
        b"",
    );
    add("abs", tar::EntryType::Regular, "", b"pwned\n");
    add("ok.txt", tar::EntryType::Regular, "", b"fine\n");
    add(
        "hard",
        tar::EntryType::Link,
        &format!("{hs}/etc/shadow"),
        b"",
    );
    b.into_inner().unwrap()
}

#[test]
fn add_extracts_bzip2_and_xz_inside_the_destination_only() {
    use std::io::Write;
    if !is_root() {
        return;
    }
    let s = Scratch::new();
    let host = victim(&s);
    let tar = hostile_tar(&host);
    let ctx = s.dir("ctx");
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&tar).unwrap();
    fs::write(ctx.join("a.tar.bz2"), bz.finish().unwrap()).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&tar).unwrap();
    fs::write(ctx.join("a.tar.xz"), xz.finish().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"just text, not a tar\n").unwrap();
    fs::write(ctx.join("text.gz"), gz.finish().unwrap()).unwrap();
    let out = s.dir("out");
    for name in ["a.tar.bz2", "a.tar.xz"] {
        let r = extract_in_root(
            &root(&ctx),
            name.as_bytes(),
            &root(&out),
            format!("/{name}/").as_bytes(),
        );
        assert_eq!(r.unwrap(), Some(7), "{name}");
        // The link to <host>/etc/shadow is the copy of that path inside the destination.
        assert_eq!(fs::read(out.join(name).join("hard")).unwrap(), b"pwned\n");
        let d = out.join(name);
        assert_eq!(fs::read(d.join("ok.txt")).unwrap(), b"fine\n");
        assert_eq!(fs::read(d.join("etc/x")).unwrap(), b"pwned\n");
        assert_eq!(fs::read(d.join("abs")).unwrap(), b"pwned\n");
    }
    assert_eq!(
        extract_in_root(&root(&ctx), b"text.gz", &root(&out), b"t").unwrap(),
        None
    );
    assert_eq!(fs::read(host.join("etc/shadow")).unwrap(), b"HOST SECRET\n");
    let m = fs::metadata(host.join("etc/shadow")).unwrap();
    assert_eq!(m.nlink(), 1);
    assert_eq!(fs::read_dir(host.join("etc")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(&host).unwrap().count(), 1);
}
