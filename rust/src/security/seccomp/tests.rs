//! The compiler checked by running its programs in a small BPF interpreter.

use super::syscalls::{N, SYSCALLS};
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

/// One rule an entry: allow `name` when its argument `index` compares by
/// `op` with `value`.
fn allow_if(conds: &[(&str, u32, Op, u64)]) -> Vec<Rule> {
    conds
        .iter()
        .map(|&(name, index, op, value)| rule(&[name], RET_ALLOW, vec![cmp(index, op, value)]))
        .collect()
}

/// socket(2) for every address family but 38 and 40: three rules around them.
const SOCKET_BUT_38_AND_40: [(&str, u32, Op, u64); 3] = [
    ("socket", 0, Op::Lt, 38),
    ("socket", 0, Op::Eq, 39),
    ("socket", 0, Op::Gt, 40),
];

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
    let some = ["read", "getpid", "set_tls", "cacheflush", "open"];
    let mut rules = vec![rule(&some, RET_ALLOW, vec![])];
    rules.extend(allow_if(&SOCKET_BUT_38_AND_40));
    rules.push(rule(&["clone3"], NOSYS, vec![]));
    let p = profile(EPERM, rules, &["arm", "x86"]);
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
    let rules = allow_if(&[
        ("read", 2, Op::Lt, 100),
        ("write", 0, Op::Ge, 3),
        ("lseek", 1, Op::Ne, 40),
        ("getpid", 0, Op::Le, 7),
    ]);
    let p = profile(EPERM, rules, &[]);
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
    let mut rules = allow_if(&SOCKET_BUT_38_AND_40);
    rules.extend(allow_if(&[("ioctl", 1, Op::Ne, 0x5412)])); // TIOCSTI
    let p = profile(EPERM, rules, &["x86"]);
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
