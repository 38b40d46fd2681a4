//! Build-time generation: the seccomp system call table
//! (rust/src/security/seccomp/syscalls.tbl, plain columns as the kernel
//! keeps its own) becomes the `SYSCALLS` constant of
//! security/seccomp/syscalls.rs, checked here: five numbers or `-` a
//! row, names sorted and unique (the lookup is a binary search).
//!
//! And, when the Python extension is built (the `python` feature: maturin,
//! `pip wheel .`, the sdist), the `ketch-monitor` program it cannot work
//! without: built static by a cargo of its own and put in the package
//! (python/ketch/ketch-monitor, which pyproject.toml's include ships in
//! the wheel). The build fails if it cannot be made: no wheel without it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use std::{env, fs, io};

const TABLE: &str = "rust/src/security/seccomp/syscalls.tbl";
const ABIS: usize = 5;

fn main() {
    let started = SystemTime::now();
    println!("cargo::rerun-if-changed={TABLE}");
    println!("cargo::rerun-if-changed=rust/build.rs");
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    if env::var_os("CARGO_FEATURE_PYTHON").is_some() {
        monitor(Path::new(&dir), started);
    }
    let text = fs::read_to_string(Path::new(&dir).join(TABLE)).expect(TABLE);
    let mut out = String::from("&[\n");
    let mut last: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{TABLE}:{}", i + 1);
        let mut cols = line.split('#').next().unwrap_or("").split_whitespace();
        let Some(name) = cols.next() else { continue };
        assert!(
            last.is_none_or(|l| l < name),
            "{}: {name} out of order",
            at()
        );
        last = Some(name);
        let nums: Option<Vec<String>> = cols.map(number).collect();
        let nums = nums
            .filter(|n| n.len() == ABIS)
            .unwrap_or_else(|| panic!("{}: {name}: {ABIS} numbers or - expected", at()));
        writeln!(out, "    ({name:?}, [{}]),", nums.join(", ")).unwrap();
    }
    out.push_str("]\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("syscalls.rs");
    fs::write(dest, out).expect("write $OUT_DIR/syscalls.rs");
}

/// One column: `-` (the ABI lacks the call) or a number, in decimal.
fn number(col: &str) -> Option<String> {
    match col {
        "-" => Some("N".to_string()),
        n => n.parse::<u32>().ok().map(|n| n.to_string()),
    }
}

/// Where the package wants the program (pyproject.toml's include).
const MONITOR: &str = "python/ketch/ketch-monitor";

/// Builds `ketch-monitor` (static, stripped) for the target of this build
/// and installs it at MONITOR, or fails the build.
fn monitor(dir: &Path, started: SystemTime) {
    for watched in ["rust/src", "rust/bin", "Cargo.toml", "Cargo.lock", MONITOR] {
        println!("cargo::rerun-if-changed={watched}");
    }
    println!("cargo::rerun-if-env-changed=KETCH_MONITOR_RUSTFLAGS");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("monitor");
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let extra = env::var("KETCH_MONITOR_RUSTFLAGS").unwrap_or_default();
    // glibc's libc.a (libc6-dev) makes it static; without one, a dynamic
    // program, said loudly (it then needs the build machine's glibc or newer).
    let built = build_monitor(
        dir,
        &out,
        &target,
        &format!("-C target-feature=+crt-static {extra}"),
    ) || {
        println!(
            "cargo::warning=ketch-monitor could not be linked statically; building it dynamic"
        );
        build_monitor(dir, &out, &target, &extra)
    };
    let program = out.join(&target).join("release").join("ketch-monitor");
    if !built || !program.is_file() {
        panic!(
            "ketch-monitor could not be built (cargo build --release --features monitor-bin --bin ketch-monitor): \
             ketch cannot start a container without it, so no package is made without it"
        );
    }
    install(&program, &dir.join(MONITOR), started)
        .unwrap_or_else(|e| panic!("install ketch-monitor as {MONITOR}: {e}"));
}

/// One cargo build of the program with `rustflags`, in a target dir of its
/// own (the outer build holds the lock of its own). The outer build's
/// settings are not its: maturin's compiler wrappers (zig cannot link glibc
/// statically), its target dir, its flags.
fn build_monitor(dir: &Path, out: &Path, target: &str, rustflags: &str) -> bool {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--features",
            "monitor-bin",
            "--bin",
            "ketch-monitor",
        ])
        .args(["--target", target, "--target-dir"])
        .arg(out)
        .env("RUSTFLAGS", format!("-C strip=symbols {rustflags}"))
        .stdin(Stdio::null())
        // Its stdout is not this script's (cargo reads directives there).
        .stdout(io::stderr());
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let theirs = [
            "CARGO_TARGET_",
            "CARGO_BUILD_",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_MAKEFLAGS",
            "CARGO_FEATURE_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || [
                "CC",
                "CXX",
                "AR",
                "CFLAGS",
                "CXXFLAGS",
                "LDFLAGS",
                "TARGET_CC",
                "TARGET_CXX",
                "TARGET_AR",
                "MAKEFLAGS",
                "MFLAGS",
            ]
            .contains(&key.as_ref())
            || ["CC_", "CXX_", "AR_", "CFLAGS_", "CXXFLAGS_"]
                .iter()
                .any(|p| key.starts_with(p));
        if theirs {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// Copies `program` to `dest` (by a rename, so a running copy is never
/// rewritten), with a modification time from before this script started:
/// cargo then does not see its own output as a change of the next build.
fn install(program: &Path, dest: &Path, started: SystemTime) -> io::Result<()> {
    let new = fs::read(program)?;
    if fs::read(dest).ok().as_deref() != Some(new.as_slice()) {
        let tmp = dest.with_extension("tmp");
        fs::write(&tmp, &new)?;
        fs::rename(&tmp, dest)?;
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755))?;
    // Read-only: a monitor running from it (ETXTBSY for a writer) is fine.
    fs::File::open(dest)?.set_modified(started - Duration::from_secs(2))
}
