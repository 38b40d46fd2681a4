//! A seccomp filter compiled to classic BPF from a rule list (docker's
//! profile format, flattened by the caller: its caps/arch/kernel includes
//! and excludes already decided, its architectures listed).
//!
//! The program behaves as docker's (runc's filter, built by libseccomp,
//! with runc's ENOSYS prefix):
//! 1. It dispatches on `seccomp_data.arch` to one section per ABI the filter
//!    covers: the host's own, and the sub-architectures the profile names
//!    (i386 and x32 on x86_64, arm on aarch64). Another ABI is killed. x32
//!    shares x86_64's audit arch; its calls carry bit 30 in their number.
//! 2. Each section is a binary search over intervals of syscall numbers.
//!    A number above the highest one the profile names for that ABI answers
//!    ENOSYS (a call newer than the profile: libc then falls back, as under
//!    docker), unless the default action allows. A number the profile does
//!    not name gets the default action.
//! 3. A syscall's rules are tried in order (all argument comparisons of a
//!    rule must hold; 64-bit ABIs compare both 32-bit halves, 32-bit ABIs the
//!    low word only, as libseccomp does; an argument the kernel takes as a
//!    32-bit int, its low word only everywhere, unlike libseccomp: see
//!    INT_ARGS). One without arguments decides
//!    alone; a rule whose action is the default is dropped. Names an ABI
//!    does not have are skipped.

use crate::error::{Error, Result};

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const ENOSYS: u32 = 38;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq,
}

impl Op {
    /// "EQ", "SCMP_CMP_EQ", "eq": as docker's profiles spell it.
    pub fn parse(s: &str) -> Result<Op> {
        Ok(
            match s
                .trim_start_matches("SCMP_CMP_")
                .to_ascii_uppercase()
                .as_str()
            {
                "EQ" => Op::Eq,
                "NE" => Op::Ne,
                "LT" => Op::Lt,
                "LE" => Op::Le,
                "GT" => Op::Gt,
                "GE" => Op::Ge,
                "MASKED_EQ" => Op::MaskedEq,
                other => {
                    return Err(Error::Invalid(format!(
                        "unknown seccomp operator {other:?}"
                    )))
                }
            },
        )
    }
}

impl TryFrom<String> for Op {
    type Error = Error;
    fn try_from(s: String) -> Result<Op> {
        Op::parse(&s)
    }
}

impl From<Op> for &'static str {
    fn from(op: Op) -> &'static str {
        match op {
            Op::Eq => "EQ",
            Op::Ne => "NE",
            Op::Lt => "LT",
            Op::Le => "LE",
            Op::Gt => "GT",
            Op::Ge => "GE",
            Op::MaskedEq => "MASKED_EQ",
        }
    }
}

/// One argument comparison: args[index] OP value (MASKED_EQ: args & value == value_two).
/// In JSON: [index, "OP", value, value_two].
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(from = "(u32, Op, u64, u64)", into = "(u32, Op, u64, u64)")]
pub struct ArgCmp {
    pub index: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

impl From<(u32, Op, u64, u64)> for ArgCmp {
    fn from((index, op, value, value_two): (u32, Op, u64, u64)) -> ArgCmp {
        ArgCmp {
            index,
            op,
            value,
            value_two,
        }
    }
}

impl From<ArgCmp> for (u32, Op, u64, u64) {
    fn from(a: ArgCmp) -> Self {
        (a.index, a.op, a.value, a.value_two)
    }
}

/// In JSON: [[names], action, [args]].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "RawRule", into = "RawRule")]
pub struct Rule {
    pub names: Vec<String>,
    /// A SECCOMP_RET_* value (with the errno in its low 16 bits for ERRNO).
    pub action: u32,
    pub args: Vec<ArgCmp>,
}

type RawRule = (Vec<String>, u32, Vec<ArgCmp>);

impl From<RawRule> for Rule {
    fn from((names, action, args): RawRule) -> Rule {
        Rule {
            names,
            action,
            args,
        }
    }
}

impl From<Rule> for RawRule {
    fn from(r: Rule) -> Self {
        (r.names, r.action, r.args)
    }
}

/// A flattened profile (python/ketch/runtime/seccomp.py `compile_rules`):
/// {"default": RET, "rules": [...], "arches": [...]}.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(rename = "default")]
    pub default_action: u32,
    pub rules: Vec<Rule>,
    /// The ABIs the filter covers besides the host's own ("x86", "x32",
    /// "arm", ...: `Abi::parse`). Those of another host family are ignored
    /// (the kernel never reports them here).
    pub arches: Vec<String>,
}

mod abi;
mod bpf;
mod syscalls;
#[cfg(test)]
mod tests;

use abi::*;
pub use abi::{Abi, Host, X32_BIT};
pub use bpf::Insn;
use bpf::*;

/// Compiles `profile` for the machine this runs on.
pub fn compile(profile: &Profile) -> Result<Vec<Insn>> {
    let host = Host::this().ok_or_else(|| {
        Error::Invalid("seccomp profiles are supported on x86_64 and aarch64 only".into())
    })?;
    compile_for(profile, host)
}

/// Compiles `profile` for a host of the family `host`.
pub fn compile_for(profile: &Profile, host: Host) -> Result<Vec<Insn>> {
    for r in &profile.rules {
        for c in &r.args {
            if c.index > 5 {
                return Err(Error::Invalid(format!(
                    "seccomp argument index {} out of range",
                    c.index
                )));
            }
        }
    }
    let mut abis = vec![host.native()];
    for name in &profile.arches {
        let abi = Abi::parse(name)
            .ok_or_else(|| Error::Invalid(format!("unknown seccomp architecture {name:?}")))?;
        if host.subs().contains(&abi) && !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    let named: Vec<(usize, &Rule)> = profile
        .rules
        .iter()
        .flat_map(|r| r.names.iter().filter_map(move |n| Some((row(n)?, r))))
        .collect();
    let default = profile.default_action;
    let allows = matches!(default & 0xffff_0000, RET_ALLOW | RET_LOG | RET_TRACE);
    let enosys = !allows && default != RET_ERRNO | ENOSYS;

    let mut a = Assembler {
        code: Vec::new(),
        labels: 0,
    };
    a.ld(ARCH);
    let mut tokens: Vec<u32> = Vec::new();
    for t in abis.iter().map(|x| x.audit_arch()) {
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    for token in tokens {
        let (section, next) = (a.label(), a.label());
        a.jump(JEQ_K, token, To::Label(section), To::Next);
        a.code.push(Asm::Ja(next));
        a.place(section);
        a.ld(NR);
        let has = |x: Abi| abis.contains(&x);
        let tree = |a: &mut Assembler, abi: Abi| {
            let iv = intervals(&named, default, abi, enosys);
            emit_tree(a, &iv, default, abi.wide());
        };
        if token == Abi::X86_64.audit_arch() {
            // x86_64 and x32 share the token: bit 30 of the number tells them apart.
            match (has(Abi::X86_64), has(Abi::X32)) {
                (true, true) => {
                    let x32 = a.label();
                    a.jump_far(JGE_K, X32_BIT, x32);
                    tree(&mut a, Abi::X86_64);
                    a.place(x32);
                    tree(&mut a, Abi::X32);
                }
                (true, false) => {
                    let ok = a.label();
                    a.jump(JGE_K, X32_BIT, To::Next, To::Label(ok));
                    a.ret(BAD_ARCH);
                    a.place(ok);
                    tree(&mut a, Abi::X86_64);
                }
                _ => {
                    let ok = a.label();
                    a.jump(JGE_K, X32_BIT, To::Label(ok), To::Next);
                    a.ret(BAD_ARCH);
                    a.place(ok);
                    tree(&mut a, Abi::X32);
                }
            }
        } else {
            let abi = *abis.iter().find(|x| x.audit_arch() == token).unwrap();
            tree(&mut a, abi);
        }
        a.place(next);
    }
    a.ret(BAD_ARCH);
    a.finish()
}

/// Installs `prog` on the calling thread (the caller holds CAP_SYS_ADMIN or
/// has set no_new_privs). Async-signal-safe: no allocation.
///
/// # Safety
/// A raw prctl; `prog` must be a program from `compile`.
pub unsafe fn install(prog: &[Insn]) -> libc::c_int {
    #[repr(C)]
    struct Fprog {
        len: libc::c_ushort,
        filter: *const Insn,
    }
    let fprog = Fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr(),
    };
    libc::prctl(
        libc::PR_SET_SECCOMP,
        libc::SECCOMP_MODE_FILTER as libc::c_ulong,
        &fprog as *const Fprog as libc::c_ulong,
        0,
        0,
    )
}
