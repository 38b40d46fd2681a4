//! Classic BPF: the instructions, a small assembler with labels, and the
//! pieces of a filter (argument comparisons, the binary search over
//! syscall-number intervals) that `compile_for` puts together.

use super::syscalls::SYSCALLS;
use super::*;

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

pub(super) const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub(super) const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(super) const JGT_K: u16 = 0x25;
pub(super) const JGE_K: u16 = 0x35;
pub(super) const JA: u16 = 0x05;
pub(super) const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(super) const RET_K: u16 = 0x06;

/// An ABI the kernel reports that the filter does not cover (libseccomp
/// kills the thread; the whole process is the safer unit).
pub(super) const BAD_ARCH: u32 = RET_KILL_PROCESS;

/// Jump targets while assembling: resolved to offsets at the end.
#[derive(Clone, Copy)]
pub(super) enum To {
    Next,
    Label(usize),
}

pub(super) enum Asm {
    Plain(Insn),
    /// A conditional jump (code, k, true target, false target).
    Cond(u16, u32, To, To),
    /// An unconditional jump to a label.
    Ja(usize),
    Label(usize),
}

pub(super) struct Assembler {
    pub(super) code: Vec<Asm>,
    pub(super) labels: usize,
}

impl Assembler {
    pub(super) fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    pub(super) fn place(&mut self, l: usize) {
        self.code.push(Asm::Label(l));
    }
    pub(super) fn plain(&mut self, code: u16, k: u32) {
        self.code.push(Asm::Plain(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    pub(super) fn ld(&mut self, offset: u32) {
        self.plain(LD_W_ABS, offset);
    }
    pub(super) fn and(&mut self, k: u32) {
        self.plain(AND_K, k);
    }
    pub(super) fn ret(&mut self, k: u32) {
        self.plain(RET_K, k);
    }
    pub(super) fn jump(&mut self, code: u16, k: u32, t: To, f: To) {
        self.code.push(Asm::Cond(code, k, t, f));
    }
    /// Goes to `target`, however far, when the comparison holds.
    pub(super) fn jump_far(&mut self, code: u16, k: u32, target: usize) {
        let stay = self.label();
        self.jump(code, k, To::Next, To::Label(stay));
        self.code.push(Asm::Ja(target));
        self.place(stay);
    }

    pub(super) fn finish(self) -> Result<Vec<Insn>> {
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
pub(super) const NR: u32 = 0;
pub(super) const ARCH: u32 = 4;
pub(super) fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
pub(super) fn arg_hi(i: u32) -> u32 {
    16 + 8 * i + 4
}

/// Emits a check of `c` that jumps to `fail` when it does not hold and
/// falls through when it does.
pub(super) fn emit_cmp(a: &mut Assembler, c: &ArgCmp, wide: bool, fail: usize) {
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
pub(super) const INT_ARGS: &[(&str, &[u32])] = &[
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
pub(super) fn int_args(name: &str) -> u8 {
    INT_ARGS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, a)| a.iter().fold(0, |m, i| m | 1 << i))
}

/// What a range of syscall numbers gets.
#[derive(Clone)]
pub(super) enum Leaf<'a> {
    Ret(u32),
    /// One syscall's conditional rules, tried in order, then the default;
    /// with the mask of its 32-bit integer arguments.
    Rules(Vec<&'a Rule>, u8),
}

pub(super) fn emit_leaf(a: &mut Assembler, leaf: &Leaf, default: u32, wide: bool) {
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
pub(super) fn emit_tree(a: &mut Assembler, iv: &[(u32, Leaf)], default: u32, wide: bool) {
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
pub(super) fn intervals<'a>(
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
