//! Build-time generation: the seccomp system call table
//! (rust/src/security/seccomp/syscalls.tbl, plain columns as the kernel
//! keeps its own) becomes the `SYSCALLS` constant of
//! security/seccomp/syscalls.rs, checked here: five numbers or `-` a
//! row, names sorted and unique (the lookup is a binary search).

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

const TABLE: &str = "rust/src/security/seccomp/syscalls.tbl";
const ABIS: usize = 5;

fn main() {
    println!("cargo::rerun-if-changed={TABLE}");
    println!("cargo::rerun-if-changed=rust/build.rs");
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
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
