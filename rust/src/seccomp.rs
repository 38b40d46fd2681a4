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
use crate::syscalls_linux::{N, SYSCALLS};

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

    fn column(self) -> usize {
        match self {
            Abi::X86_64 => 0,
            Abi::X86 => 1,
            Abi::X32 => 2,
            Abi::Aarch64 => 3,
            Abi::Arm => 4,
        }
    }

    /// Arguments are 64-bit words (else only the low 32 bits count).
    fn wide(self) -> bool {
        matches!(self, Abi::X86_64 | Abi::X32 | Abi::Aarch64)
    }

    /// The numbers this ABI's calls reach a filter with: [first, end).
    fn domain(self) -> (u32, u64) {
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

    fn pick(self, row: &[u32; 5]) -> Option<u32> {
        match row[self.column()] {
            N => None,
            nr if self == Abi::X32 => Some(nr | X32_BIT),
            nr => Some(nr),
        }
    }
}

/// The row of `name` in the table.
fn row(name: &str) -> Option<usize> {
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

    fn native(self) -> Abi {
        match self {
            Host::X86_64 => Abi::X86_64,
            Host::Aarch64 => Abi::Aarch64,
        }
    }

    fn subs(self) -> &'static [Abi] {
        match self {
            Host::X86_64 => &[Abi::X86, Abi::X32],
            Host::Aarch64 => &[Abi::Arm],
        }
    }
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

impl Insn {
    /// The program as the kernel takes it (an array of struct sock_filter).
    pub fn bytes(prog: &[Insn]) -> Vec<u8> {
        let mut out = Vec::with_capacity(prog.len() * 8);
        for i in prog {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JA: u16 = 0x05;
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET_K: u16 = 0x06;

/// An ABI the kernel reports that the filter does not cover (libseccomp
/// kills the thread; the whole process is the safer unit).
const BAD_ARCH: u32 = RET_KILL_PROCESS;

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
    fn plain(&mut self, code: u16, k: u32) {
        self.code.push(Asm::Plain(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn ld(&mut self, offset: u32) {
        self.plain(LD_W_ABS, offset);
    }
    fn and(&mut self, k: u32) {
        self.plain(AND_K, k);
    }
    fn ret(&mut self, k: u32) {
        self.plain(RET_K, k);
    }
    fn jump(&mut self, code: u16, k: u32, t: To, f: To) {
        self.code.push(Asm::Cond(code, k, t, f));
    }
    /// Goes to `target`, however far, when the comparison holds.
    fn jump_far(&mut self, code: u16, k: u32, target: usize) {
        let stay = self.label();
        self.jump(code, k, To::Next, To::Label(stay));
        self.code.push(Asm::Ja(target));
        self.place(stay);
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
fn emit_cmp(a: &mut Assembler, c: &ArgCmp, wide: bool, fail: usize) {
    let (hv, lv) = ((c.value >> 32) as u32, c.value as u32);
    let (hw, lw) = ((c.value_two >> 32) as u32, c.value_two as u32);
    let fail = To::Label(fail);
    let pass = a.label();
    if wide {
        // The high words first: they decide unless they are equal.
        a.ld(arg_hi(c.index));
        match c.op {
            Op::Eq => a.jump(JEQ_K, hv, To::Next, fail),
            Op::Ne => a.jump(JEQ_K, hv, To::Next, To::Label(pass)),
            Op::MaskedEq => {
                a.and(hv);
                a.jump(JEQ_K, hw, To::Next, fail);
            }
            Op::Gt | Op::Ge => {
                a.jump(JGT_K, hv, To::Label(pass), To::Next);
                a.jump(JEQ_K, hv, To::Next, fail);
            }
            Op::Lt | Op::Le => {
                a.jump(JGT_K, hv, fail, To::Next);
                a.jump(JEQ_K, hv, To::Next, To::Label(pass));
            }
        }
    }
    a.ld(arg_lo(c.index));
    match c.op {
        Op::Eq => a.jump(JEQ_K, lv, To::Next, fail),
        Op::Ne => a.jump(JEQ_K, lv, fail, To::Next),
        Op::MaskedEq => {
            a.and(lv);
            a.jump(JEQ_K, lw, To::Next, fail);
        }
        Op::Gt => a.jump(JGT_K, lv, To::Next, fail),
        Op::Ge => a.jump(JGE_K, lv, To::Next, fail),
        Op::Lt => a.jump(JGE_K, lv, fail, To::Next),
        Op::Le => a.jump(JGT_K, lv, fail, To::Next),
    }
    a.place(pass);
}

/// Arguments the kernel takes as 32-bit integers, by call: only their low
/// word reaches it, so only the low word is compared. (libseccomp compares
/// all 64 bits on a 64-bit ABI, so there socket(AF_VSOCK | 1 << 32) passes
/// docker's "family > 40" and the kernel creates an AF_VSOCK socket; an
/// ioctl with TIOCSTI | 1 << 32 passes an "!= TIOCSTI" check the same way.)
const INT_ARGS: &[(&str, &[u32])] = &[
    ("fcntl", &[1]),
    ("getsockopt", &[1, 2]),
    ("ioctl", &[1]),
    ("kill", &[1]),
    ("personality", &[0]),
    ("prctl", &[0]),
    ("setsockopt", &[1, 2]),
    ("socket", &[0, 1, 2]),
    ("socketpair", &[0, 1, 2]),
    ("tgkill", &[2]),
    ("tkill", &[1]),
];

/// INT_ARGS of `name` as a bit mask of argument indexes.
fn int_args(name: &str) -> u8 {
    INT_ARGS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, a)| a.iter().fold(0, |m, i| m | 1 << i))
}

/// What a range of syscall numbers gets.
#[derive(Clone)]
enum Leaf<'a> {
    Ret(u32),
    /// One syscall's conditional rules, tried in order, then the default;
    /// with the mask of its 32-bit integer arguments.
    Rules(Vec<&'a Rule>, u8),
}

fn emit_leaf(a: &mut Assembler, leaf: &Leaf, default: u32, wide: bool) {
    match leaf {
        Leaf::Ret(k) => a.ret(*k),
        Leaf::Rules(rules, ints) => {
            for r in rules {
                let next = a.label();
                for c in &r.args {
                    emit_cmp(a, c, wide && ints >> c.index & 1 == 0, next);
                }
                a.ret(r.action);
                a.place(next);
            }
            a.ret(default);
        }
    }
}

/// A binary search over `iv` (each interval runs from its start to the next
/// one's), with the number loaded.
fn emit_tree(a: &mut Assembler, iv: &[(u32, Leaf)], default: u32, wide: bool) {
    if iv.len() == 1 {
        emit_leaf(a, &iv[0].1, default, wide);
        return;
    }
    let mid = iv.len() / 2;
    let right = a.label();
    // The left half first, aside, to know whether a jump over it fits in jt.
    let outer = std::mem::take(&mut a.code);
    emit_tree(a, &iv[..mid], default, wide);
    let left = std::mem::replace(&mut a.code, outer);
    let len = left.iter().filter(|x| !matches!(x, Asm::Label(_))).count();
    if len <= u8::MAX as usize {
        a.jump(JGE_K, iv[mid].0, To::Label(right), To::Next);
    } else {
        a.jump_far(JGE_K, iv[mid].0, right);
    }
    a.code.extend(left);
    a.place(right);
    emit_tree(a, &iv[mid..], default, wide);
}

/// The intervals of one ABI's numbers and what each gets, from the rules'
/// names resolved in the table (in the profile's order).
fn intervals<'a>(
    named: &[(usize, &'a Rule)],
    default: u32,
    abi: Abi,
    enosys: bool,
) -> Vec<(u32, Leaf<'a>)> {
    // (number, position in the profile), sorted: each number's rules in order.
    let mut nrs: Vec<(u32, usize)> = named
        .iter()
        .enumerate()
        .filter_map(|(i, (row, _))| Some((abi.pick(&SYSCALLS[*row].1)?, i)))
        .collect();
    nrs.sort_unstable();
    let (first, end) = abi.domain();
    let mut iv: Vec<(u32, Leaf)> = Vec::with_capacity(nrs.len() / 4 + 4);
    let mut push = |start: u32, leaf: Leaf<'a>| {
        if iv.last().is_some_and(|l| l.0 == start) {
            iv.pop(); // an empty gap
        }
        if let (Some((_, Leaf::Ret(prev))), Leaf::Ret(k)) = (iv.last(), &leaf) {
            if prev == k {
                return;
            }
        }
        iv.push((start, leaf));
    };
    push(first, Leaf::Ret(default));
    for group in nrs.chunk_by(|a, b| a.0 == b.0) {
        let nr = group[0].0;
        let rules = group
            .iter()
            .map(|&(_, i)| named[i].1)
            .filter(|r| r.action != default);
        let mut conditional = Vec::new();
        let mut leaf = Leaf::Ret(default);
        for r in rules {
            if r.args.is_empty() {
                leaf = Leaf::Ret(r.action);
                conditional.clear();
                break;
            }
            conditional.push(r);
        }
        if !conditional.is_empty() {
            let name = SYSCALLS[named[group[0].1].0].0;
            leaf = Leaf::Rules(conditional, int_args(name));
        }
        push(nr, leaf);
        if (nr as u64) + 1 < end {
            push(nr + 1, Leaf::Ret(default));
        }
    }
    // runc's bound: the highest number of any rule, the default's too.
    if let Some(&(last, _)) = nrs.last() {
        if enosys && (last as u64) + 1 < end {
            push(last + 1, Leaf::Ret(RET_ERRNO | ENOSYS));
        }
    }
    iv
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions `compile` emits: the
    /// kernel's seccomp semantics (one struct seccomp_data, little-endian
    /// as on both hosts), to check a program's answers without installing it.
    fn run(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
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

    const X86_64: u32 = 0xc000_003e;
    const I386: u32 = 0x4000_0003;
    const AARCH64: u32 = 0xc000_00b7;
    const ARM: u32 = 0x4000_0028;
    const EPERM: u32 = RET_ERRNO | 1;
    const NOSYS: u32 = RET_ERRNO | 38;

    fn rule(names: &[&str], action: u32, args: Vec<ArgCmp>) -> Rule {
        Rule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action,
            args,
        }
    }

    fn cmp(index: u32, op: Op, value: u64) -> ArgCmp {
        ArgCmp {
            index,
            op,
            value,
            value_two: 0,
        }
    }

    fn profile(default_action: u32, rules: Vec<Rule>, arches: &[&str]) -> Profile {
        Profile {
            default_action,
            rules,
            arches: arches.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn nr(abi: Abi, name: &str) -> u32 {
        abi.number(name).unwrap()
    }

    #[test]
    fn numbers_per_abi_are_the_kernels() {
        let known: &[(Abi, &str, u32)] = &[
            (Abi::X86_64, "read", 0),
            (Abi::X86_64, "socket", 41),
            (Abi::X86_64, "clone3", 435),
            (Abi::X86_64, "mseal", 462),
            (Abi::X86_64, "file_setattr", 469),
            (Abi::X86, "getpid", 20),
            (Abi::X86, "socketcall", 102),
            (Abi::X86, "socket", 359),
            (Abi::X86, "keyctl", 288),
            (Abi::X86, "pkey_alloc", 381),
            (Abi::X86, "chown32", 212),
            (Abi::X32, "getpid", X32_BIT | 39),
            (Abi::X32, "rt_sigaction", X32_BIT | 512),
            (Abi::X32, "readv", X32_BIT | 515),
            (Abi::X32, "pwritev2", X32_BIT | 547),
            (Abi::Aarch64, "read", 63),
            (Abi::Aarch64, "openat", 56),
            (Abi::Aarch64, "socket", 198),
            (Abi::Aarch64, "keyctl", 219),
            (Abi::Aarch64, "clone", 220),
            (Abi::Aarch64, "bpf", 280),
            (Abi::Aarch64, "pkey_alloc", 289),
            (Abi::Aarch64, "name_to_handle_at", 264),
            (Abi::Aarch64, "newfstatat", 79),
            (Abi::Aarch64, "clone3", 435),
            (Abi::Arm, "socket", 281),
            (Abi::Arm, "keyctl", 311),
            (Abi::Arm, "bpf", 386),
            (Abi::Arm, "pkey_alloc", 395),
            (Abi::Arm, "arm_fadvise64_64", 270),
            (Abi::Arm, "arm_sync_file_range", 341),
            (Abi::Arm, "breakpoint", 0xf_0001),
            (Abi::Arm, "cacheflush", 0xf_0002),
            (Abi::Arm, "set_tls", 0xf_0005),
        ];
        for (abi, name, want) in known {
            assert_eq!(abi.number(name), Some(*want), "{abi:?} {name}");
        }
        for (abi, name) in [
            (Abi::X86_64, "socketcall"),
            (Abi::X86_64, "chown32"),
            (Abi::X32, "execveat"), // x32 has its own number, 545, for it
            (Abi::X86, "arch_prctl_nonexistent"),
            (Abi::Aarch64, "open"),
            (Abi::Aarch64, "clock_gettime64"), // a 32-bit ABI's call
            (Abi::Arm, "mmap"),
        ] {
            let got = abi.number(name);
            if name == "execveat" {
                assert_eq!(got, Some(X32_BIT | 545));
            } else {
                assert_eq!(got, None, "{abi:?} {name}");
            }
        }
        let names: Vec<&str> = SYSCALLS.iter().map(|(n, _)| *n).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicate"
        );
    }

    #[test]
    fn allowlist_with_conditions() {
        let many: Vec<String> = SYSCALLS
            .iter()
            .filter(|(n, _)| !["mount", "clone", "clone3", "personality", "lseek"].contains(n))
            .map(|(n, _)| n.to_string())
            .collect();
        let p = profile(
            EPERM,
            vec![
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
                rule(&["clone3"], NOSYS, vec![]),
                rule(
                    &["personality"],
                    RET_ALLOW,
                    vec![cmp(0, Op::Eq, 0xffff_ffff)],
                ),
                rule(&["personality"], RET_ALLOW, vec![cmp(0, Op::Eq, 8)]),
                rule(
                    &["lseek"],
                    RET_ALLOW,
                    vec![cmp(1, Op::Gt, 1 << 33), cmp(1, Op::Le, (1 << 33) + 5)],
                ),
                rule(&["no_such_call"], RET_ALLOW, vec![]),
            ],
            &["x86", "x32"],
        );
        let prog = compile_for(&p, Host::X86_64).unwrap();
        for abi in [Abi::X86_64, Abi::X86, Abi::X32] {
            for (name, _) in SYSCALLS {
                let Some(n) = abi.number(name) else { continue };
                let want = match *name {
                    "mount" | "personality" | "lseek" => EPERM,
                    "clone3" => NOSYS,
                    _ => RET_ALLOW,
                };
                assert_eq!(
                    run(&prog, abi.audit_arch(), n, [0; 6]),
                    want,
                    "{abi:?} {name}"
                );
            }
        }
        let clone = nr(Abi::X86_64, "clone");
        assert_eq!(run(&prog, X86_64, clone, [0x111, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(&prog, X86_64, clone, [0x2000_0000, 0, 0, 0, 0, 0]),
            EPERM
        );
        let pers = nr(Abi::X86_64, "personality");
        assert_eq!(run(&prog, X86_64, pers, [8, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(&prog, X86_64, pers, [0xffff_ffff, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        // An unsigned int: the kernel sees 0xffff_ffff (the low word) only.
        assert_eq!(
            run(&prog, X86_64, pers, [0x1_ffff_ffff, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            run(&prog, X86_64, pers, [0x1_0000_0009, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(run(&prog, X86_64, pers, [9, 0, 0, 0, 0, 0]), EPERM);
        // i386 compares the low word only (libseccomp's rule for 32-bit ABIs).
        let pers32 = nr(Abi::X86, "personality");
        assert_eq!(
            run(&prog, I386, pers32, [0x1_0000_0008, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(run(&prog, I386, pers32, [9, 0, 0, 0, 0, 0]), EPERM);
        let lseek = nr(Abi::X86_64, "lseek");
        for (v, ok) in [
            (1u64 << 33, false),
            ((1 << 33) + 1, true),
            ((1 << 33) + 5, true),
            ((1 << 33) + 6, false),
            (5, false),
            (1 << 34, false),
        ] {
            let want = if ok { RET_ALLOW } else { EPERM };
            assert_eq!(
                run(&prog, X86_64, lseek, [0, v, 0, 0, 0, 0]),
                want,
                "lseek {v:#x}"
            );
        }
        // Above every number the profile names: ENOSYS, as runc answers.
        assert_eq!(run(&prog, X86_64, 1000, [0; 6]), NOSYS);
        assert_eq!(run(&prog, X86_64, 0x3fff_ffff, [0; 6]), NOSYS);
        assert_eq!(run(&prog, I386, 1000, [0; 6]), NOSYS);
        assert_eq!(run(&prog, X86_64, X32_BIT | 1000, [0; 6]), NOSYS);
        // A number below the highest that x86_64 leaves unused (387-423): the default.
        assert_eq!(run(&prog, X86_64, 400, [0; 6]), EPERM);
    }

    #[test]
    fn gaps_get_the_default_and_the_enosys_bound_follows_the_profile() {
        let p = profile(
            EPERM,
            vec![rule(&["read", "write", "getpid"], RET_ALLOW, vec![])],
            &[],
        );
        let prog = compile_for(&p, Host::X86_64).unwrap();
        assert_eq!(run(&prog, X86_64, 0, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, 1, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, 2, [0; 6]), EPERM);
        assert_eq!(run(&prog, X86_64, 38, [0; 6]), EPERM);
        assert_eq!(run(&prog, X86_64, 39, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, 40, [0; 6]), NOSYS); // above getpid, the highest named
                                                           // An allowing default has no bound (runc neither), nor has ERRNO(ENOSYS).
        let p = profile(RET_ALLOW, vec![rule(&["getpid"], EPERM, vec![])], &[]);
        let prog = compile_for(&p, Host::X86_64).unwrap();
        assert_eq!(run(&prog, X86_64, 39, [0; 6]), EPERM);
        assert_eq!(run(&prog, X86_64, 40, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, 999, [0; 6]), RET_ALLOW);
    }

    #[test]
    fn abis_outside_the_filter_are_killed() {
        let rules = || vec![rule(&["getpid", "keyctl"], RET_ALLOW, vec![])];
        // The host's ABI only (a profile that names no architecture).
        let prog = compile_for(&profile(EPERM, rules(), &[]), Host::X86_64).unwrap();
        assert_eq!(run(&prog, X86_64, 39, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, I386, 20, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&prog, X86_64, X32_BIT | 39, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&prog, AARCH64, 172, [0; 6]), RET_KILL_PROCESS);
        // i386 named, x32 not; arm is another family's and changes nothing here.
        let prog = compile_for(&profile(EPERM, rules(), &["x86", "arm"]), Host::X86_64).unwrap();
        assert_eq!(run(&prog, I386, 20, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, I386, 288, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, I386, 39, [0; 6]), EPERM);
        assert_eq!(run(&prog, X86_64, X32_BIT | 39, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&prog, ARM, 20, [0; 6]), RET_KILL_PROCESS);
        // x32 named: its numbers, with bit 30.
        let prog = compile_for(&profile(EPERM, rules(), &["SCMP_ARCH_X32"]), Host::X86_64).unwrap();
        assert_eq!(run(&prog, X86_64, X32_BIT | 39, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, X32_BIT | 250, [0; 6]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, X32_BIT | 38, [0; 6]), EPERM);
        assert_eq!(run(&prog, X86_64, X32_BIT | 251, [0; 6]), NOSYS);
        assert_eq!(run(&prog, I386, 20, [0; 6]), RET_KILL_PROCESS);
        assert!(compile_for(&profile(EPERM, rules(), &["mips"]), Host::X86_64).is_err());
    }

    #[test]
    fn aarch64_with_arm() {
        let p = profile(
            EPERM,
            vec![
                rule(
                    &["read", "getpid", "set_tls", "cacheflush", "open"],
                    RET_ALLOW,
                    vec![],
                ),
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Lt, 38)]),
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Eq, 39)]),
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Gt, 40)]),
                rule(&["clone3"], NOSYS, vec![]),
            ],
            &["arm", "x86"],
        );
        let prog = compile_for(&p, Host::Aarch64).unwrap();
        assert_eq!(run(&prog, AARCH64, 63, [0; 6]), RET_ALLOW); // read
        assert_eq!(run(&prog, AARCH64, 172, [0; 6]), RET_ALLOW); // getpid
        assert_eq!(run(&prog, AARCH64, 64, [0; 6]), EPERM); // write
        assert_eq!(run(&prog, AARCH64, 435, [0; 6]), NOSYS); // clone3
        assert_eq!(run(&prog, AARCH64, 436, [0; 6]), NOSYS); // above clone3
        for (family, want) in [
            (2u64, RET_ALLOW),
            (38, EPERM),
            (39, RET_ALLOW),
            (40, EPERM),
            (41, RET_ALLOW),
        ] {
            assert_eq!(
                run(&prog, AARCH64, 198, [family, 0, 0, 0, 0, 0]),
                want,
                "socket({family})"
            );
            assert_eq!(
                run(&prog, ARM, 281, [family, 0, 0, 0, 0, 0]),
                want,
                "arm socket({family})"
            );
        }
        assert_eq!(run(&prog, ARM, 3, [0; 6]), RET_ALLOW); // arm read
        assert_eq!(run(&prog, ARM, 5, [0; 6]), RET_ALLOW); // arm open
        assert_eq!(run(&prog, ARM, 0xf_0005, [0; 6]), RET_ALLOW); // set_tls
        assert_eq!(run(&prog, ARM, 0xf_0002, [0; 6]), RET_ALLOW); // cacheflush
        assert_eq!(run(&prog, ARM, 0xf_0001, [0; 6]), EPERM); // breakpoint
        assert_eq!(run(&prog, ARM, 0xf_0006, [0; 6]), NOSYS);
        assert_eq!(run(&prog, X86_64, 0, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&prog, I386, 3, [0; 6]), RET_KILL_PROCESS);
    }

    #[test]
    fn an_unconditional_rule_decides_and_default_actions_are_dropped() {
        let p = profile(
            EPERM,
            vec![
                rule(&["read"], RET_ALLOW, vec![cmp(0, Op::Eq, 3)]),
                rule(&["read"], RET_ERRNO | 5, vec![]),
                // Has the default's action: dropped, so write's second rule counts.
                rule(&["write"], EPERM, vec![]),
                rule(&["write"], RET_ALLOW, vec![cmp(0, Op::Ne, 2)]),
            ],
            &[],
        );
        let prog = compile_for(&p, Host::X86_64).unwrap();
        assert_eq!(run(&prog, X86_64, 0, [3, 0, 0, 0, 0, 0]), RET_ERRNO | 5);
        assert_eq!(run(&prog, X86_64, 0, [4, 0, 0, 0, 0, 0]), RET_ERRNO | 5);
        assert_eq!(run(&prog, X86_64, 1, [1, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(run(&prog, X86_64, 1, [2, 0, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn lt_ge_ne() {
        let p = profile(
            EPERM,
            vec![
                rule(&["read"], RET_ALLOW, vec![cmp(2, Op::Lt, 100)]),
                rule(&["write"], RET_ALLOW, vec![cmp(0, Op::Ge, 3)]),
                rule(&["lseek"], RET_ALLOW, vec![cmp(1, Op::Ne, 40)]),
                rule(&["getpid"], RET_ALLOW, vec![cmp(0, Op::Le, 7)]),
            ],
            &[],
        );
        let prog = compile_for(&p, Host::X86_64).unwrap();
        let r = |n, a: [u64; 6]| run(&prog, X86_64, n, a);
        assert_eq!(r(0, [0, 0, 99, 0, 0, 0]), RET_ALLOW);
        assert_eq!(r(0, [0, 0, 100, 0, 0, 0]), EPERM);
        assert_eq!(r(0, [0, 0, 1 << 32, 0, 0, 0]), EPERM);
        assert_eq!(r(1, [2, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(r(1, [3, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(r(1, [1 << 32, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(r(8, [0, 2, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(r(8, [0, 40, 0, 0, 0, 0]), EPERM);
        assert_eq!(r(8, [0, 40 | (1 << 32), 0, 0, 0, 0]), RET_ALLOW); // an off_t: all 64 bits count
        assert_eq!(r(39, [7, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(r(39, [8, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(r(39, [1 << 32, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(r(2, [0; 6]), EPERM);
    }

    #[test]
    fn int_arguments_compare_their_low_word() {
        let p = profile(
            EPERM,
            vec![
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Lt, 38)]),
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Eq, 39)]),
                rule(&["socket"], RET_ALLOW, vec![cmp(0, Op::Gt, 40)]),
                rule(&["ioctl"], RET_ALLOW, vec![cmp(1, Op::Ne, 0x5412)]), // TIOCSTI
            ],
            &["x86"],
        );
        for (host, abi) in [
            (Host::X86_64, Abi::X86_64),
            (Host::X86_64, Abi::X86),
            (Host::Aarch64, Abi::Aarch64),
        ] {
            let prog = compile_for(&p, host).unwrap();
            let (socket, ioctl) = (nr(abi, "socket"), nr(abi, "ioctl"));
            let arch = abi.audit_arch();
            for (family, want) in [
                (2u64, RET_ALLOW),
                (40, EPERM),
                (40 | 1 << 32, EPERM), // the kernel's int is 40
                (38 | 0xffff_ffff << 32, EPERM),
                (2 | 1 << 32, RET_ALLOW),
                (41, RET_ALLOW),
            ] {
                let got = run(&prog, arch, socket, [family, 0, 0, 0, 0, 0]);
                assert_eq!(got, want, "{abi:?} socket({family:#x})");
            }
            assert_eq!(
                run(&prog, arch, ioctl, [0, 0x5412 | 1 << 32, 0, 0, 0, 0]),
                EPERM
            );
            assert_eq!(run(&prog, arch, ioctl, [0, 0x5413, 0, 0, 0, 0]), RET_ALLOW);
        }
    }

    #[test]
    fn far_jumps_and_the_size_limit() {
        // Every other number allowed: no intervals merge, the tree is deep
        // and its left halves are far beyond a jt's reach.
        let names: Vec<String> = SYSCALLS
            .iter()
            .filter(|(_, n)| n[0] != N && n[0] % 2 == 0)
            .map(|(n, _)| n.to_string())
            .collect();
        let p = profile(
            EPERM,
            vec![Rule {
                names,
                action: RET_ALLOW,
                args: vec![],
            }],
            &["x86", "x32"],
        );
        let prog = compile_for(&p, Host::X86_64).unwrap();
        assert!(prog.len() > 600, "{}", prog.len());
        for abi in [Abi::X86_64, Abi::X32] {
            for (name, n) in SYSCALLS {
                let Some(nr) = abi.number(name) else { continue };
                if n[0] == N || nr & !X32_BIT > 462 {
                    continue;
                }
                let want = if n[0] % 2 == 0 { RET_ALLOW } else { EPERM };
                assert_eq!(run(&prog, X86_64, nr, [0; 6]), want, "{abi:?} {name}");
            }
        }
    }
}
