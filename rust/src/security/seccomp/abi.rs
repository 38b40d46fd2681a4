//! The system call ABIs a filter sees, and the host families they belong to.

use super::syscalls::{N, SYSCALLS};

/// A system call ABI, as the kernel reports it to a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
}

/// Bit 30 of an x32 call's number (__X32_SYSCALL_BIT).
pub const X32_BIT: u32 = 0x4000_0000;

impl Abi {
    /// "x86_64", "x86", "x32", "aarch64", "arm" (libseccomp's names, with or
    /// without their SCMP_ARCH_ prefix).
    pub fn parse(name: &str) -> Option<Abi> {
        let n = name.trim_start_matches("SCMP_ARCH_").to_ascii_lowercase();
        Some(match n.as_str() {
            "x86_64" => Abi::X86_64,
            "x86" => Abi::X86,
            "x32" => Abi::X32,
            "aarch64" => Abi::Aarch64,
            "arm" => Abi::Arm,
            _ => return None,
        })
    }

    /// AUDIT_ARCH_* as in seccomp_data.arch.
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => 0xc000_003e, // EM_X86_64 | 64-bit | LE
            Abi::X86 => 0x4000_0003,               // EM_386 | LE
            Abi::Aarch64 => 0xc000_00b7,           // EM_AARCH64 | 64-bit | LE
            Abi::Arm => 0x4000_0028,               // EM_ARM | LE
        }
    }

    pub(super) fn column(self) -> usize {
        match self {
            Abi::X86_64 => 0,
            Abi::X86 => 1,
            Abi::X32 => 2,
            Abi::Aarch64 => 3,
            Abi::Arm => 4,
        }
    }

    /// Arguments are 64-bit words (else only the low 32 bits count).
    pub(super) fn wide(self) -> bool {
        matches!(self, Abi::X86_64 | Abi::X32 | Abi::Aarch64)
    }

    /// The numbers this ABI's calls reach a filter with: [first, end).
    pub(super) fn domain(self) -> (u32, u64) {
        match self {
            Abi::X86_64 => (0, X32_BIT as u64),
            Abi::X32 => (X32_BIT, 1 << 32),
            _ => (0, 1 << 32),
        }
    }

    /// The number of `name` as a filter sees it (x32's with its bit).
    pub fn number(self, name: &str) -> Option<u32> {
        self.pick(&SYSCALLS[row(name)?].1)
    }

    pub(super) fn pick(self, row: &[u32; 5]) -> Option<u32> {
        match row[self.column()] {
            N => None,
            nr if self == Abi::X32 => Some(nr | X32_BIT),
            nr => Some(nr),
        }
    }
}

/// The row of `name` in the table.
pub(super) fn row(name: &str) -> Option<usize> {
    SYSCALLS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()
}

/// A host family: its own ABI and those its kernel may also run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    X86_64,
    Aarch64,
}

impl Host {
    /// The machine this code runs on (None: a family ketch has no tables for).
    pub fn this() -> Option<Host> {
        if cfg!(target_arch = "x86_64") {
            Some(Host::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Host::Aarch64)
        } else {
            None
        }
    }

    pub fn parse(name: &str) -> Option<Host> {
        match name {
            "x86_64" | "amd64" => Some(Host::X86_64),
            "aarch64" | "arm64" => Some(Host::Aarch64),
            _ => None,
        }
    }

    pub(super) fn native(self) -> Abi {
        match self {
            Host::X86_64 => Abi::X86_64,
            Host::Aarch64 => Abi::Aarch64,
        }
    }

    pub(super) fn subs(self) -> &'static [Abi] {
        match self {
            Host::X86_64 => &[Abi::X86, Abi::X32],
            Host::Aarch64 => &[Abi::Arm],
        }
    }
}
