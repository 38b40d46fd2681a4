//! What the unpack fuzz targets share: a sandbox for the fuzzing process and
//! the invariant checked after every input.
//!
//! The invariant, beyond "no panic": `unpack` creates nothing outside its
//! destination. Each input is unpacked into `<work>/root`; `<work>` also
//! holds `victim`, a file no entry may replace, write, chmod, chown or link.
//! After the input `<work>` must hold exactly those two, the victim unchanged,
//! `root` still a real directory, and no overlay xattr in the tree other than
//! the `opaque` mark an opaque whiteout sets (a layer must never set its own).
//!
//! As root the fuzzing thread first moves into a mount namespace of its own
//! where every mount is read-only, except a fresh tmpfs on /tmp (the work
//! directory; 256 MiB) and libFuzzer's corpus and artifact directories. A bug
//! that writes through a symlink to an absolute host path then fails with
//! EROFS instead of touching the host, and that errno is itself a finding;
//! one that goes up with `..` lands in `<work>`, which the listing catches.

use std::ffi::CString;
use std::fs;
use std::io::{self, Cursor};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ketch_native::layer::unpack::{unpack, Options};

const VICTIM: &[u8] = b"a file beside the layer: no entry may touch it\n";
/// The uncompressed bound given to `unpack` (a decompression bomb stops there).
const MAX_BYTES: u64 = 64 << 20;

struct Sandbox {
    work: PathBuf,
    dest: PathBuf,
    victim: PathBuf,
    victim_id: (u64, u64, u32, u64, u32, u32, i64),
}

fn victim_id(m: &fs::Metadata) -> (u64, u64, u32, u64, u32, u32, i64) {
    (
        m.dev(),
        m.ino(),
        m.mode(),
        m.nlink(),
        m.uid(),
        m.gid(),
        m.mtime(),
    )
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in a path we made")
}

fn check(r: libc::c_long, what: &str) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn mount_setattr(path: &Path, recursive: bool, set: u64, clr: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let c = cpath(path);
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    check(
        unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c.as_ptr(),
                flags as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        },
        &format!("mount_setattr {}", path.display()),
    )
}

fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let (s, t, f, d) = (
        CString::new(src).unwrap(),
        cpath(target),
        CString::new(fstype).unwrap(),
        CString::new(data).unwrap(),
    );
    check(
        unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) } as _,
        &format!("mount {}", target.display()),
    )
}

/// The directories libFuzzer writes into (its corpus directories, the
/// artifact prefix's directory, else the current directory), from our argv.
fn libfuzzer_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut artifacts_named = false;
    for a in std::env::args().skip(1) {
        let artifact = a
            .strip_prefix("-artifact_prefix=")
            .or_else(|| a.strip_prefix("-exact_artifact_path="));
        let dir = if let Some(p) = artifact {
            artifacts_named = true;
            let p = Path::new(p);
            if p.is_dir() {
                p.to_path_buf()
            } else {
                p.parent().unwrap_or(Path::new(".")).to_path_buf()
            }
        } else if !a.starts_with('-') && Path::new(&a).is_dir() {
            PathBuf::from(&a)
        } else {
            continue;
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        out.push(fs::canonicalize(&dir).unwrap_or(dir));
    }
    if !artifacts_named {
        out.push(std::env::current_dir().expect("a current directory"));
    }
    out
}

/// Everything read-only but a tmpfs on /tmp and libFuzzer's own directories.
fn confine() -> io::Result<()> {
    let tmp = Path::new("/tmp");
    let keep = libfuzzer_dirs();
    if let Some(d) = keep.iter().find(|d| d.starts_with(tmp)) {
        return Err(io::Error::other(format!(
            "{} is under /tmp, which the sandbox replaces: keep the corpus and artifacts elsewhere",
            d.display()
        )));
    }
    check(
        unsafe { libc::unshare(libc::CLONE_NEWNS) } as _,
        "unshare(CLONE_NEWNS)",
    )?;
    mount(
        "none",
        Path::new("/"),
        "",
        libc::MS_REC | libc::MS_PRIVATE,
        "",
    )?;
    mount_setattr(Path::new("/"), true, MOUNT_ATTR_RDONLY, 0)?;
    for d in &keep {
        let s = d.to_str().expect("a UTF-8 corpus path");
        mount(s, d, "", libc::MS_BIND, "")?;
        mount_setattr(d, false, 0, MOUNT_ATTR_RDONLY)?;
    }
    mount("ketch-fuzz", tmp, "tmpfs", 0, "size=256m,mode=0755")
}

fn sandbox() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| {
        let as_root = unsafe { libc::geteuid() } == 0;
        let work = if as_root && std::env::var_os("KETCH_FUZZ_NO_SANDBOX").is_none() {
            if let Err(e) = confine() {
                panic!("ketch-fuzz: cannot set up the sandbox ({e}); KETCH_FUZZ_NO_SANDBOX=1 runs without it");
            }
            PathBuf::from("/tmp/work")
        } else {
            eprintln!("ketch-fuzz: no sandbox (not root or KETCH_FUZZ_NO_SANDBOX set)");
            std::env::temp_dir().join(format!("ketch-fuzz-{}", std::process::id()))
        };
        fs::create_dir_all(&work).expect("create the work directory");
        let victim = work.join("victim");
        fs::write(&victim, VICTIM).expect("write the victim");
        let meta = fs::symlink_metadata(&victim).expect("stat the victim");
        Sandbox {
            dest: work.join("root"),
            victim,
            victim_id: victim_id(&meta),
            work,
        }
    })
}

/// Unpacks `data` into a fresh destination and checks the invariant; panics
/// (a libFuzzer crash) when it does not hold.
pub fn unpack_and_check(data: &[u8], literal: bool) {
    let sb = sandbox();
    let opts = Options {
        max_bytes: Some(MAX_BYTES),
        literal,
        ..Options::default()
    };
    let result = unpack(Cursor::new(data), &sb.dest, &opts);
    if let Err(e) = &result {
        // The destination is a writable tmpfs with no mount inside: EROFS
        // means a write went elsewhere, EXDEV a link to a file outside it.
        if matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EXDEV)) {
            panic!("unpack reached outside its destination: {e}");
        }
    }
    check_beside(sb);
    check_tree(&sb.dest, !literal);
    fs::remove_dir_all(&sb.dest).expect("remove the destination");
}

/// `<work>` holds `root` (a real directory) and the untouched victim, nothing else.
fn check_beside(sb: &Sandbox) {
    let mut names: Vec<_> = fs::read_dir(&sb.work)
        .expect("list the work directory")
        .map(|e| e.expect("a directory entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["root", "victim"],
        "something was created beside the destination"
    );
    let dest = fs::symlink_metadata(&sb.dest).expect("stat the destination");
    assert!(dest.is_dir(), "the destination is no longer a directory");
    let meta = fs::symlink_metadata(&sb.victim).expect("stat the victim");
    assert_eq!(
        victim_id(&meta),
        sb.victim_id,
        "the victim's metadata changed"
    );
    assert_eq!(
        fs::read(&sb.victim).expect("read the victim"),
        VICTIM,
        "the victim was written"
    );
}

/// No overlay xattr but `trusted.overlay.opaque=y` on a directory (and that
/// only from an opaque whiteout, so never in literal mode). The walk goes
/// down by chdir with names, not paths: a layer's tree may be deeper than
/// PATH_MAX allows a path to be. The working directory is restored after.
fn check_tree(dir: &Path, layer: bool) {
    let home = fs::File::open(".").expect("open the working directory");
    std::env::set_current_dir(dir).expect("enter the destination");
    check_entry(Path::new("."), true, layer);
    walk(layer);
    let r = unsafe { libc::fchdir(home.as_raw_fd()) };
    assert_eq!(r, 0, "return to the working directory");
}

fn walk(layer: bool) {
    // The names first, so no directory stays open while we go down.
    let entries: Vec<_> = fs::read_dir(".")
        .expect("list an unpacked directory")
        .map(|e| {
            let e = e.expect("a directory entry");
            (e.file_name(), e.file_type().expect("a d_type").is_dir())
        })
        .collect();
    for (name, is_dir) in entries {
        check_entry(Path::new(&name), is_dir, layer);
        if is_dir {
            std::env::set_current_dir(&name).expect("enter an unpacked directory");
            walk(layer);
            std::env::set_current_dir("..").expect("leave an unpacked directory");
        }
    }
}

fn check_entry(name: &Path, is_dir: bool, layer: bool) {
    for (key, value) in xattrs(name) {
        if !key.starts_with(b"trusted.overlay.") {
            continue;
        }
        let allowed = layer && is_dir && key == b"trusted.overlay.opaque" && value == b"y";
        assert!(
            allowed,
            "{} carries {}={:?}",
            name.display(),
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
}

fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let c = cpath(p);
    let mut names = vec![0u8; 64 * 1024];
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 64 * 1024];
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        value.truncate(n.max(0) as usize);
        out.push((name.to_vec(), value));
    }
    out
}
