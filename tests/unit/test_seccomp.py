"""docker's default seccomp profile as ketch compiles it: the BPF program
itself, run by a small interpreter with the kernel's seccomp semantics, for
every ABI a filter sees on x86_64 (x86_64, i386, x32) and aarch64 (aarch64,
arm), against a table of what docker decides for a dozen calls."""

from __future__ import annotations

import json
import struct

import pytest

from ketch import _native
from ketch.runtime import caps, seccomp

ALLOW, EPERM, ENOSYS, KILL = 0x7FFF0000, 0x00050001, 0x00050026, 0x80000000
AUDIT = {"x86_64": 0xC000003E, "x32": 0xC000003E, "i386": 0x40000003, "aarch64": 0xC00000B7, "arm": 0x40000028}
X32 = 0x40000000


def run(prog: bytes, abi: str, nr: int, args: tuple[int, ...] = ()) -> int:
    """Classic BPF as seccomp runs it over struct seccomp_data."""
    data = struct.pack("<iI8x6Q", nr, AUDIT[abi], *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    pc = acc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x06:  # ret #k
            return k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35):  # jeq, jgt, jge
            hit = acc == k if code == 0x15 else acc > k if code == 0x25 else acc >= k
            pc += jt if hit else jf
        else:
            raise AssertionError(f"opcode {code:#x}")


def program(*add: str, machine: str = "x86_64") -> bytes:
    mask = _native.docker_caps()
    for c in add:
        mask |= 1 << caps.NAMES.index(c)
    flat = seccomp.compile_rules(seccomp.default_profile(), mask, machine)
    assert flat is not None
    return _native.seccomp_program(json.dumps(flat), machine)


# (abi, call, number there, arguments, extra caps, what docker's profile answers)
X86_CASES = [
    ("x86_64", "read", 0, (), (), ALLOW),
    ("x86_64", "socket AF_INET", 41, (2,), (), ALLOW),
    ("x86_64", "socket AF_ALG", 41, (38,), (), EPERM),
    ("x86_64", "socket 39", 41, (39,), (), ALLOW),
    ("x86_64", "socket AF_VSOCK", 41, (40,), (), EPERM),
    ("x86_64", "socket AF_XDP", 41, (44,), (), ALLOW),
    ("x86_64", "socket AF_VSOCK | 1 << 32 (the kernel's int is 40)", 41, (40 | 1 << 32,), (), EPERM),
    ("x86_64", "pkey_alloc", 330, (), (), ALLOW),
    ("x86_64", "name_to_handle_at", 303, (), (), ALLOW),
    ("x86_64", "open_by_handle_at", 304, (), (), EPERM),
    ("x86_64", "open_by_handle_at", 304, (), ("DAC_READ_SEARCH",), ALLOW),
    ("x86_64", "keyctl", 250, (), (), EPERM),
    ("x86_64", "add_key", 248, (), (), EPERM),
    ("x86_64", "bpf", 321, (), (), EPERM),
    ("x86_64", "bpf", 321, (), ("BPF",), ALLOW),
    ("x86_64", "bpf", 321, (), ("SYS_ADMIN",), ALLOW),
    ("x86_64", "clone3", 435, (), (), ENOSYS),
    ("x86_64", "clone3", 435, (), ("SYS_ADMIN",), ALLOW),
    ("x86_64", "clone SIGCHLD", 56, (17,), (), ALLOW),
    ("x86_64", "clone CLONE_NEWNS", 56, (0x20000,), (), EPERM),
    ("x86_64", "clone CLONE_NEWNS", 56, (0x20000,), ("SYS_ADMIN",), ALLOW),
    ("x86_64", "unshare", 272, (), (), EPERM),
    ("x86_64", "unshare", 272, (), ("SYS_ADMIN",), ALLOW),
    ("x86_64", "mount", 165, (), (), EPERM),
    ("x86_64", "io_uring_setup", 425, (), (), EPERM),
    ("x86_64", "ptrace", 101, (), (), ALLOW),
    ("x86_64", "personality PER_LINUX32", 135, (8,), (), ALLOW),
    ("x86_64", "personality 9", 135, (9,), (), EPERM),
    ("x86_64", "chroot", 161, (), (), ALLOW),
    ("x86_64", "reboot", 169, (), (), EPERM),
    ("x86_64", "arch_prctl", 158, (), (), ALLOW),
    ("x86_64", "unused 400", 400, (), (), EPERM),
    ("x86_64", "file_getattr (above the profile)", 468, (), (), ENOSYS),
    ("i386", "getpid", 20, (), (), ALLOW),
    ("i386", "socket AF_VSOCK", 359, (40,), (), EPERM),
    ("i386", "socket AF_INET", 359, (2,), (), ALLOW),
    ("i386", "socketcall", 102, (1,), (), ALLOW),
    ("i386", "keyctl", 288, (), (), EPERM),
    ("i386", "pkey_alloc", 381, (), (), ALLOW),
    ("i386", "arch_prctl", 384, (), (), ALLOW),
    ("i386", "clone3", 435, (), (), ENOSYS),
    ("x32", "getpid", X32 | 39, (), (), ALLOW),
    ("x32", "rt_sigaction", X32 | 512, (), (), ALLOW),
    ("x32", "keyctl", X32 | 250, (), (), EPERM),
    ("x32", "socket AF_VSOCK", X32 | 41, (40,), (), EPERM),
    ("x32", "above the profile", X32 | 548, (), (), ENOSYS),
]

ARM_CASES = [
    ("aarch64", "read", 63, (), (), ALLOW),
    ("aarch64", "socket AF_INET", 198, (2,), (), ALLOW),
    ("aarch64", "socket AF_VSOCK", 198, (40,), (), EPERM),
    ("aarch64", "pkey_alloc", 289, (), (), ALLOW),
    ("aarch64", "name_to_handle_at", 264, (), (), ALLOW),
    ("aarch64", "open_by_handle_at", 265, (), (), EPERM),
    ("aarch64", "keyctl", 219, (), (), EPERM),
    ("aarch64", "bpf", 280, (), (), EPERM),
    ("aarch64", "bpf", 280, (), ("SYS_ADMIN",), ALLOW),
    ("aarch64", "clone3", 435, (), (), ENOSYS),
    ("aarch64", "clone CLONE_NEWNET", 220, (0x40000000,), (), EPERM),
    ("arm", "socket AF_VSOCK", 281, (40,), (), EPERM),
    ("arm", "keyctl", 311, (), (), EPERM),
    ("arm", "set_tls", 0xF0005, (), (), ALLOW),
    ("arm", "cacheflush", 0xF0002, (), (), ALLOW),
    ("arm", "arm_fadvise64_64", 270, (), (), ALLOW),
    ("arm", "breakpoint", 0xF0001, (), (), ALLOW),
]


@pytest.mark.parametrize(("abi", "call", "nr", "args", "add", "want"), X86_CASES)
def test_x86_64_host(abi: str, call: str, nr: int, args: tuple[int, ...], add: tuple[str, ...], want: int) -> None:
    assert run(program(*add), abi, nr, args) == want, call


@pytest.mark.parametrize(("abi", "call", "nr", "args", "add", "want"), ARM_CASES)
def test_aarch64_host(abi: str, call: str, nr: int, args: tuple[int, ...], add: tuple[str, ...], want: int) -> None:
    assert run(program(*add, machine="aarch64"), abi, nr, args) == want, call


def test_other_abis_are_killed() -> None:
    assert run(program(), "aarch64", 63) == KILL
    assert run(program(machine="aarch64"), "x86_64", 0) == KILL


def test_docker_format_rules() -> None:
    """The profile file's rules: docker's includes/excludes, archMap and
    runc's reading of two checks on one argument."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_MIPS"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
            {"names": ["gettid"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
            {"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "3.0"}},
            {"names": ["getgid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {
                "name": "kill",
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    admin = 1 << caps.NAMES.index("SYS_ADMIN")
    flat = seccomp.compile_rules(profile, admin, "x86_64")
    assert flat is not None and flat["arches"] == ["x86_64", "x86"] and flat["default"] == EPERM
    assert [r[0] for r in flat["rules"]] == [["kill"], ["kill"]]  # either signal, not both at once
    flat = seccomp.compile_rules(profile, admin | 1 << caps.NAMES.index("BPF"), "x86_64")
    assert flat is not None
    prog = _native.seccomp_program(json.dumps(flat), "x86_64")
    assert run(prog, "x86_64", 39) == ALLOW  # getpid: both caps held
    assert run(prog, "x86_64", 62, (0, 9)) == ALLOW and run(prog, "x86_64", 62, (0, 15)) == ALLOW
    assert run(prog, "x86_64", 62, (0, 2)) == EPERM
    assert run(prog, "i386", 20) == ALLOW  # i386 named: its own numbers
    assert run(prog, "x32", X32 | 39) == KILL  # x32 not named
    for bad, message in [
        ({**profile, "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "both 'architectures' and 'archMap'"),
        ({**profile, "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture 'SCMP_ARCH_Z80'"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"]}]}, "both 'name' and 'names'"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}, "no defaultAction"),
    ]:
        with pytest.raises(seccomp.KetchError, match=message):
            seccomp.compile_rules(bad, 0)
    assert seccomp.compile_rules({"defaultAction": ""}, 0) is None  # docker: unconfined
