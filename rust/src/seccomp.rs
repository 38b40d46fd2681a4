//! A seccomp filter compiled to classic BPF from a rule list (docker's
//! profile format, flattened by the caller: its caps/arch includes and
//! excludes already decided).
//!
//! The program checks the architecture, then walks a binary tree over the
//! sorted syscall numbers; each leaf tries that syscall's rules in order
//! (all argument comparisons of a rule must hold; 64-bit compares as two
//! 32-bit halves) and falls back to the default action. Names the
//! architecture does not have are skipped, as libseccomp does.

use crate::error::{Error, Result};

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One argument comparison: args[index] OP value (MASKED_EQ: args & value == value_two).
#[derive(Debug, Clone, Copy)]
pub struct ArgCmp {
    pub index: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub names: Vec<String>,
    /// A SECCOMP_RET_* value (with the errno in its low 16 bits for ERRNO).
    pub action: u32,
    pub args: Vec<ArgCmp>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub default_action: u32,
    pub rules: Vec<Rule>,
}

/// A classic BPF instruction (struct sock_filter).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JA: u16 = 0x05;
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET_K: u16 = 0x06;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "x86_64")]
const X32_BIT: u32 = 0x4000_0000;

/// The syscall number of `name` on this architecture.
#[cfg(target_arch = "x86_64")]
pub fn syscall_number(name: &str) -> Option<u32> {
    use crate::syscalls_x86_64::SYSCALLS;
    SYSCALLS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| SYSCALLS[i].1)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn syscall_number(_name: &str) -> Option<u32> {
    None
}

/// Jump targets while assembling: resolved to offsets at the end.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

enum Asm {
    Plain(Insn),
    /// A conditional jump (code, k, true target, false target).
    Cond(u16, u32, To, To),
    /// An unconditional jump to a label.
    Ja(usize),
    Label(usize),
}

struct Assembler {
    code: Vec<Asm>,
    labels: usize,
}

impl Assembler {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn place(&mut self, l: usize) {
        self.code.push(Asm::Label(l));
    }
    fn ld(&mut self, offset: u32) {
        self.code.push(Asm::Plain(Insn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        }));
    }
    fn and(&mut self, k: u32) {
        self.code.push(Asm::Plain(Insn {
            code: AND_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn ret(&mut self, k: u32) {
        self.code.push(Asm::Plain(Insn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn jump(&mut self, code: u16, k: u32, t: To, f: To) {
        self.code.push(Asm::Cond(code, k, t, f));
    }

    fn finish(self) -> Result<Vec<Insn>> {
        let mut at = vec![0usize; self.labels];
        let mut n = 0;
        for a in &self.code {
            match a {
                Asm::Label(l) => at[*l] = n,
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for a in &self.code {
            let here = out.len();
            let rel = |t: To| -> Result<u8> {
                match t {
                    To::Next => Ok(0),
                    To::Label(l) => u8::try_from(at[l] - here - 1)
                        .map_err(|_| Error::Invalid("seccomp rule too long".into())),
                }
            };
            match a {
                Asm::Label(_) => {}
                Asm::Plain(i) => out.push(*i),
                Asm::Cond(code, k, t, f) => out.push(Insn {
                    code: *code,
                    jt: rel(*t)?,
                    jf: rel(*f)?,
                    k: *k,
                }),
                Asm::Ja(l) => out.push(Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: (at[*l] - here - 1) as u32,
                }),
            }
        }
        if out.len() > 4096 {
            return Err(Error::Invalid(format!(
                "seccomp program of {} instructions exceeds the kernel's 4096",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// Offsets into struct seccomp_data.
const NR: u32 = 0;
const ARCH: u32 = 4;
fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
fn arg_hi(i: u32) -> u32 {
    16 + 8 * i + 4
}

/// Emits a check of `c` that jumps to `fail` when it does not hold and
/// falls through when it does.
fn emit_cmp(a: &mut Assembler, c: &ArgCmp, fail: usize) {
    let (hv, lv) = ((c.value >> 32) as u32, c.value as u32);
    let fail = To::Label(fail);
    let pass = a.label();
    match c.op {
        Op::Eq => {
            a.ld(arg_hi(c.index));
            a.jump(JEQ_K, hv, To::Next, fail);
            a.ld(arg_lo(c.index));
            a.jump(JEQ_K, lv, To::Next, fail);
        }
        Op::Ne => {
            a.ld(arg_hi(c.index));
            a.jump(JEQ_K, hv, To::Next, To::Label(pass));
            a.ld(arg_lo(c.index));
            a.jump(JEQ_K, lv, fail, To::Next);
        }
        Op::MaskedEq => {
            let (hw, lw) = ((c.value_two >> 32) as u32, c.value_two as u32);
            a.ld(arg_hi(c.index));
            a.and(hv);
            a.jump(JEQ_K, hw, To::Next, fail);
            a.ld(arg_lo(c.index));
            a.and(lv);
            a.jump(JEQ_K, lw, To::Next, fail);
        }
        Op::Gt | Op::Ge => {
            a.ld(arg_hi(c.index));
            a.jump(JGT_K, hv, To::Label(pass), To::Next);
            a.jump(JEQ_K, hv, To::Next, fail);
            a.ld(arg_lo(c.index));
            let code = if c.op == Op::Gt { JGT_K } else { JGE_K };
            a.jump(code, lv, To::Next, fail);
        }
        Op::Lt | Op::Le => {
            a.ld(arg_hi(c.index));
            a.jump(JGT_K, hv, fail, To::Next);
            a.jump(JEQ_K, hv, To::Next, To::Label(pass));
            a.ld(arg_lo(c.index));
            let code = if c.op == Op::Lt { JGE_K } else { JGT_K };
            a.jump(code, lv, fail, To::Next);
        }
    }
    a.place(pass);
}

/// The rules of one syscall, in order, then the default.
fn emit_leaf(a: &mut Assembler, rules: &[&Rule], default: u32) {
    for r in rules {
        let next = a.label();
        for c in &r.args {
            emit_cmp(a, c, next);
        }
        a.ret(r.action);
        a.place(next);
        if r.args.is_empty() {
            return; // later rules cannot be reached
        }
    }
    a.ret(default);
}

fn emit_tree(a: &mut Assembler, nrs: &[(u32, Vec<&Rule>)], default: u32) {
    if nrs.len() <= 4 {
        for (nr, rules) in nrs {
            let skip = a.label();
            a.jump(JEQ_K, *nr, To::Next, To::Label(skip));
            emit_leaf(a, rules, default);
            a.place(skip);
        }
        a.ret(default);
        return;
    }
    let mid = nrs.len() / 2;
    let right = a.label();
    // nr >= mid's: jump over the left half (too far for jt, so through ja).
    let left = a.label();
    a.jump(JGE_K, nrs[mid].0, To::Next, To::Label(left));
    a.code.push(Asm::Ja(right));
    a.place(left);
    emit_tree(a, &nrs[..mid], default);
    a.place(right);
    emit_tree(a, &nrs[mid..], default);
}

/// Compiles `profile` for the running architecture.
pub fn compile(profile: &Profile) -> Result<Vec<Insn>> {
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
    let mut by_nr: std::collections::BTreeMap<u32, Vec<&Rule>> = Default::default();
    for r in &profile.rules {
        for name in &r.names {
            if let Some(nr) = syscall_number(name) {
                by_nr.entry(nr).or_default().push(r);
            }
        }
    }
    let nrs: Vec<(u32, Vec<&Rule>)> = by_nr.into_iter().collect();
    let mut a = Assembler {
        code: Vec::new(),
        labels: 0,
    };
    #[cfg(target_arch = "x86_64")]
    {
        let native = a.label();
        a.ld(ARCH);
        a.jump(JEQ_K, AUDIT_ARCH, To::Label(native), To::Next);
        // Another ABI (i386) is not in the profile: it may not make calls at all.
        a.ret(RET_KILL_PROCESS);
        a.place(native);
        a.ld(NR);
        let not_x32 = a.label();
        a.jump(JGE_K, X32_BIT, To::Next, To::Label(not_x32));
        a.ret(profile.default_action);
        a.place(not_x32);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (ARCH, NR);
        return Err(Error::Invalid(
            "seccomp profiles are supported on x86_64 only".into(),
        ));
    }
    emit_tree(&mut a, &nrs, profile.default_action);
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

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions `compile` emits, to
    /// check the program's answers without installing it.
    fn run(prog: &[Insn], nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&AUDIT_ARCH.to_le_bytes());
        for (i, v) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                AND_K => acc &= i.k,
                RET_K => return i.k,
                JA => pc += i.k as usize,
                JEQ_K | JGT_K | JGE_K => {
                    let t = match i.code {
                        JEQ_K => acc == i.k,
                        JGT_K => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(names: &[&str], action: u32, args: Vec<ArgCmp>) -> Rule {
        Rule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action,
            args,
        }
    }

    #[test]
    fn names_resolve() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("clone3"), Some(435));
        assert_eq!(syscall_number("mseal"), Some(462));
        assert_eq!(syscall_number("chown32"), None);
    }

    #[test]
    fn allowlist_with_conditions() {
        let eperm = RET_ERRNO | 1;
        let many: Vec<String> = crate::syscalls_x86_64::SYSCALLS
            .iter()
            .filter(|(n, _)| !["mount", "clone", "clone3", "personality", "kill"].contains(n))
            .map(|(n, _)| n.to_string())
            .collect();
        let profile = Profile {
            default_action: eperm,
            rules: vec![
                Rule {
                    names: many,
                    action: RET_ALLOW,
                    args: vec![],
                },
                rule(
                    &["clone"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 0,
                        op: Op::MaskedEq,
                        value: 0x7E02_0000,
                        value_two: 0,
                    }],
                ),
                rule(&["clone3"], RET_ERRNO | 38, vec![]),
                rule(
                    &["personality"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 0,
                        op: Op::Eq,
                        value: 0xffff_ffff,
                        value_two: 0,
                    }],
                ),
                rule(
                    &["personality"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 0,
                        op: Op::Eq,
                        value: 8,
                        value_two: 0,
                    }],
                ),
                rule(
                    &["kill"],
                    RET_ALLOW,
                    vec![
                        ArgCmp {
                            index: 1,
                            op: Op::Gt,
                            value: 1 << 33,
                            value_two: 0,
                        },
                        ArgCmp {
                            index: 1,
                            op: Op::Le,
                            value: (1 << 33) + 5,
                            value_two: 0,
                        },
                    ],
                ),
                rule(&["no_such_call"], RET_ALLOW, vec![]),
            ],
        };
        let prog = compile(&profile).unwrap();
        let nr = |n| syscall_number(n).unwrap();
        for (name, _) in crate::syscalls_x86_64::SYSCALLS {
            let want = match *name {
                "mount" | "personality" | "kill" => eperm,
                "clone3" => RET_ERRNO | 38,
                _ => RET_ALLOW,
            };
            assert_eq!(run(&prog, nr(name), [0; 6]), want, "{name}");
        }
        // A number beyond every table entry, and an x32 call.
        assert_eq!(run(&prog, 1000, [0; 6]), eperm);
        assert_eq!(run(&prog, X32_BIT | 1, [0; 6]), eperm);
        let clone = nr("clone");
        assert_eq!(run(&prog, clone, [0x11 | 0x100, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, clone, [0x2000_0000, 0, 0, 0, 0, 0]), eperm);
        let pers = nr("personality");
        assert_eq!(run(&prog, pers, [8, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, pers, [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, pers, [0x1_ffff_ffff, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(run(&prog, pers, [9, 0, 0, 0, 0, 0]), eperm);
        let kill = nr("kill");
        for (v, ok) in [
            (1u64 << 33, false),
            ((1 << 33) + 1, true),
            ((1 << 33) + 5, true),
            ((1 << 33) + 6, false),
            (5, false),
            (1 << 34, false),
        ] {
            let want = if ok { RET_ALLOW } else { eperm };
            assert_eq!(run(&prog, kill, [0, v, 0, 0, 0, 0]), want, "kill {v:#x}");
        }
    }

    #[test]
    fn lt_ge_ne() {
        let p = Profile {
            default_action: RET_ERRNO | 1,
            rules: vec![
                rule(
                    &["read"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 2,
                        op: Op::Lt,
                        value: 100,
                        value_two: 0,
                    }],
                ),
                rule(
                    &["write"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 0,
                        op: Op::Ge,
                        value: 3,
                        value_two: 0,
                    }],
                ),
                rule(
                    &["socket"],
                    RET_ALLOW,
                    vec![ArgCmp {
                        index: 0,
                        op: Op::Ne,
                        value: 40,
                        value_two: 0,
                    }],
                ),
            ],
        };
        let prog = compile(&p).unwrap();
        let d = RET_ERRNO | 1;
        assert_eq!(run(&prog, 0, [0, 0, 99, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, 0, [0, 0, 100, 0, 0, 0]), d);
        assert_eq!(run(&prog, 0, [0, 0, 1 << 32, 0, 0, 0]), d);
        assert_eq!(run(&prog, 1, [2, 0, 0, 0, 0, 0]), d);
        assert_eq!(run(&prog, 1, [3, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, 1, [1 << 32, 0, 0, 0, 0, 0]), RET_ALLOW);
        let socket = syscall_number("socket").unwrap();
        assert_eq!(run(&prog, socket, [2, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, socket, [40, 0, 0, 0, 0, 0]), d);
        assert_eq!(
            run(&prog, socket, [40 | (1 << 32), 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(run(&prog, 2, [0; 6]), d);
    }
}
