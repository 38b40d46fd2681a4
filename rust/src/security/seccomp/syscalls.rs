//! Linux system call numbers by name, for the ABIs a seccomp filter sees on
//! an x86_64 or an aarch64 host. Columns: x86_64, i386, x32 (without the
//! x32 bit, 0x4000_0000, that its calls carry), aarch64, arm (EABI; its
//! private calls at 0xf_0000 and up included); `N` (in the table, `-`)
//! where the ABI lacks the call. Names are the ones seccomp profiles use
//! (the kernel tables' own; arm's private calls as breakpoint, cacheflush,
//! usr26, usr32, set_tls, get_tls), sorted for binary search.
//!
//! Data, not code: the rows are in syscalls.tbl beside this file, one call
//! a line with a column per ABI, and become `SYSCALLS` when the crate is
//! built (rust/build.rs checks them on the way). The numbers are the
//! kernel's syscall tables as of Linux 7.1-rc4
//! (arch/x86/entry/syscalls/syscall_{64,32}.tbl, scripts/syscall.tbl,
//! arch/arm/tools/syscall.tbl), in the per-ABI form libseccomp resolves
//! names with; cross-checked against the `syscalls` crate 0.8.1 (no number
//! differs for any name both know).

/// No such call on this ABI.
pub const N: u32 = u32::MAX;

pub const SYSCALLS: &[(&str, [u32; 5])] = include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));
