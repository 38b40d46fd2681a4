"""Seccomp profiles in docker's JSON format, flattened for the Rust compiler.

The default is docker's own (moby's profile as docker 29.7 ships it),
kept here as data in ketch's shape and expanded into docker's format on
demand: an allowlist (anything else fails with EPERM), `socket` for every
family but AF_ALG and AF_VSOCK, `clone` without namespace flags, `clone3`
answered with ENOSYS so that libc falls back to `clone`, `personality`
for the usual personas, a few calls per architecture, and calls that only
make sense with a capability allowed when the container has it. The
filter covers the host's ABI and its sub-architectures (i386 and x32 on
x86_64, arm on aarch64), as docker's archMap says.

`--security-opt seccomp=unconfined` turns the filter off, `seccomp=FILE`
loads a profile of the same format; `--privileged` runs unconfined, as
docker does.
"""

from __future__ import annotations

import os

from ..errors import KetchError
from . import caps as capnames

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

# Every container may make these calls.
_ALLOW = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount
listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack
signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
utimes vfork vmsplice wait4 waitid waitpid write writev
"""

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_CLONE_NS_FLAGS = 0x7E020000
_S390 = "s390 s390x"

# Calls allowed to a process that holds one capability: capability -> calls.
_WITH_ONE_CAP = {
    "SYS_BOOT": "reboot",
    "SYS_CHROOT": "chroot",
    "SYS_MODULE": "delete_module init_module finit_module",
    "SYS_PACCT": "acct",
    "SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "SYS_RAWIO": "iopl ioperm",
    "SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "SYS_TTY_CONFIG": "vhangup",
    "SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "SYSLOG": "syslog",
    "BPF": "bpf",
    "PERFMON": "perf_event_open",
}

# The rest of the profile, one group a row: (calls, action, when), the
# action "allow" or an errno; `when` holds the conditions: "argN" (op,
# value[, value_two]) on an argument, "arches" (the host's, in Go's names)
# and "caps" (all held) that the rule needs, "not_arches" and "not_caps"
# (any) that rule it out, "kernel" the oldest release it needs.
_RULES: tuple[tuple[str, str | int, dict[str, Any]], ...] = (
    # Safe from 4.8 on, where seccomp runs again after a tracer's change.
    ("process_vm_readv process_vm_writev ptrace", "allow", {"kernel": "4.8"}),
    # Every address family but AF_ALG (38: the kernel's crypto API) and
    # AF_VSOCK (40: the host side of a VM). i386's socketcall stays open:
    # its arguments are in memory, out of a filter's reach (docker's choice too).
    ("socket", "allow", {"arg0": ("LT", 38)}),
    ("socket", "allow", {"arg0": ("EQ", 39)}),
    ("socket", "allow", {"arg0": ("GT", 40)}),
    # PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32 | UNAME26, and the query.
    *(("personality", "allow", {"arg0": ("EQ", v)}) for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
    ("sync_file_range2 swapcontext", "allow", {"arches": "ppc64le"}),
    (
        "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
        "allow",
        {"arches": "arm arm64"},
    ),
    ("arch_prctl", "allow", {"arches": "amd64 x32"}),
    ("modify_ldt", "allow", {"arches": "amd64 x32 x86"}),
    ("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", "allow", {"arches": _S390}),
    ("riscv_flush_icache", "allow", {"arches": "riscv64"}),
    ("open_by_handle_at", "allow", {"caps": "DAC_READ_SEARCH"}),
    (
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr "
        "lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl "
        "quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
        "allow",
        {"caps": "SYS_ADMIN"},
    ),
    # Without CAP_SYS_ADMIN: clone without namespace flags (s390 passes the flags second).
    ("clone", "allow", {"arg0": ("MASKED_EQ", _CLONE_NS_FLAGS, 0), "not_caps": "SYS_ADMIN", "not_arches": _S390}),
    ("clone", "allow", {"arg1": ("MASKED_EQ", _CLONE_NS_FLAGS, 0), "not_caps": "SYS_ADMIN", "arches": _S390}),
    # ENOSYS, not EPERM: libc then falls back to clone, which the rules above can check.
    ("clone3", 38, {"not_caps": "SYS_ADMIN"}),
    *((calls, "allow", {"caps": cap}) for cap, calls in _WITH_ONE_CAP.items()),
)

# Each host architecture and the ones its kernel also runs (libseccomp's names).
_ARCH_MAP = (
    ("X86_64", "X86 X32"),
    ("AARCH64", "ARM"),
    ("MIPS64", "MIPS MIPS64N32"),
    ("MIPS64N32", "MIPS MIPS64"),
    ("MIPSEL64", "MIPSEL MIPSEL64N32"),
    ("MIPSEL64N32", "MIPSEL MIPSEL64"),
    ("S390X", "S390"),
    ("RISCV64", ""),
    ("LOONGARCH64", ""),
)


def default_profile() -> dict[str, Any]:
    """docker's default profile, in its own JSON format."""
    rules: list[dict[str, Any]] = [{"names": _ALLOW.split(), "action": "SCMP_ACT_ALLOW"}]
    for names, action, when in _RULES:
        rule: dict[str, Any] = {"names": names.split()}
        if action == "allow":
            rule["action"] = "SCMP_ACT_ALLOW"
        else:
            rule["action"], rule["errnoRet"] = "SCMP_ACT_ERRNO", action
        inc: dict[str, Any] = {}
        exc: dict[str, Any] = {}
        for key, v in when.items():
            if key.startswith("arg"):
                arg = {"index": int(key[3:]), "value": v[1], "op": "SCMP_CMP_" + v[0]}
                if len(v) > 2:
                    arg["valueTwo"] = v[2]
                rule["args"] = [arg]
            elif key == "kernel":
                inc["minKernel"] = v
            else:
                into = exc if key.startswith("not_") else inc
                kind = key.removeprefix("not_")
                into[kind] = [f"CAP_{c}" for c in v.split()] if kind == "caps" else v.split()
        if inc:
            rule["includes"] = inc
        if exc:
            rule["excludes"] = exc
        rules.append(rule)
    arch_map = [
        {"architecture": f"SCMP_ARCH_{a}", "subArchitectures": [f"SCMP_ARCH_{s}" for s in subs.split()] or None}
        for a, subs in _ARCH_MAP
    ]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "archMap": arch_map, "syscalls": rules}


def load(path: str) -> dict[str, Any]:
    """A profile file given with --security-opt seccomp=PATH."""
    import json

    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as e:
        raise KetchError(f"opening seccomp profile ({path}) failed: {e.strerror}") from None
    except ValueError as e:
        raise KetchError(f"decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise KetchError("decoding seccomp profile failed: the profile is not a JSON object")
    compile_rules(profile, 0)  # reject a bad profile at create, not at start
    return profile


_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
# uname's machine -> the architecture names profiles use in includes/excludes (Go's, as docker).
_NATIVE = {"x86_64": "amd64", "aarch64": "arm64", "i386": "x86", "i686": "x86", "armv7l": "arm", "armv8l": "arm"}
# ... and in architectures/archMap (libseccomp's).
_SCMP_ARCH = {"amd64": "X86_64", "arm64": "AARCH64", "x86": "X86", "arm": "ARM"}
_KNOWN_ARCHES = set(
    "NATIVE X86 X86_64 X32 ARM AARCH64 LOONGARCH64 M68K MIPS MIPS64 MIPS64N32 MIPSEL MIPSEL64 MIPSEL64N32 "
    "PPC PPC64 PPC64LE S390 S390X PARISC PARISC64 RISCV64 SH SHEB".split()
)
# The ABIs the Rust compiler has tables for (the others never reach a filter on its hosts).
_COMPILED_ARCHES = {"X86", "X86_64", "X32", "ARM", "AARCH64"}


def _action(name: str, errno: Any) -> int:
    if name not in _ACTIONS:
        raise KetchError(f"seccomp profile: unsupported action {name!r}")
    value = _ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value |= (1 if errno is None else int(errno)) & 0xFFFF
    return value


def _release(s: str) -> tuple[int, int]:
    """A release such as 6.8.0-45-generic as (6, 8), as docker reads it."""
    major, _, rest = s.partition(".")
    digits = ""
    for c in rest:
        if not c.isdigit():
            break
        digits += c
    if not major.isdigit() or not digits:
        raise ValueError(f"bad kernel version {s!r}")
    return int(major), int(digits)


def _kernel_at_least(want: Any) -> bool:
    return _release(os.uname().release) >= _release(str(want))


def _arches(profile: dict[str, Any], native: str) -> list[str]:
    """The ABIs the filter covers, from `architectures` or the native entry of `archMap`."""
    listed = profile.get("architectures") or []
    arch_map = profile.get("archMap") or []
    if listed and arch_map:
        raise KetchError("seccomp profile: both 'architectures' and 'archMap' are specified, use either")
    if not listed:
        scmp = _SCMP_ARCH.get(native)
        for entry in arch_map:
            if scmp and entry.get("architecture") == f"SCMP_ARCH_{scmp}":
                listed = [entry["architecture"], *(entry.get("subArchitectures") or [])]
                break
    out = []
    for a in listed:
        name = str(a).removeprefix("SCMP_ARCH_")
        if name not in _KNOWN_ARCHES:
            raise KetchError(f"seccomp profile: unknown architecture {a!r}")
        if name in _COMPILED_ARCHES:
            out.append(name.lower())
    return out


def _applies(rule: dict[str, Any], held: set[str], arch: str) -> bool:
    """docker's includes/excludes: excluded by the arch, any cap held or a
    new enough kernel; included only for its arches, with all its caps, from
    its kernel on."""
    exc, inc = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in (exc.get("arches") or []) or any(c in held for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and _kernel_at_least(exc["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if not all(c in held for c in inc.get("caps") or []):
        return False
    return not (inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]))


def _conditions(rule: dict[str, Any]) -> list[list[tuple[int, str, int, int]]]:
    """A rule's argument checks: one list, all to hold; or, where two check the
    same argument, one rule per check (runc's reading)."""
    args = []
    for a in rule.get("args") or []:
        op = str(a["op"]).removeprefix("SCMP_CMP_")
        two = int(a.get("valueTwo") or 0) if op == "MASKED_EQ" else 0
        args.append((int(a["index"]), op, int(a["value"]), two))
    indexes = [a[0] for a in args]
    if len(set(indexes)) < len(indexes):
        return [[a] for a in args]
    return [args]


def compile_rules(profile: dict[str, Any], cap_mask: int, machine: str | None = None) -> dict[str, Any] | None:
    """The profile as `_native.spawn` takes it: {"default": RET, "rules":
    [(names, RET, [(index, op, value, value_two)])], "arches": [...]}, with the
    includes and excludes decided for the container's capabilities and this
    machine (or a host of uname's `machine`); None for a profile with neither
    a default action nor a rule (docker runs those unconfined)."""
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    held = {f"CAP_{n}" for i, n in enumerate(capnames.NAMES) if cap_mask >> i & 1}
    machine = machine or os.uname().machine
    arch = _NATIVE.get(machine, machine)
    try:
        if not profile.get("defaultAction"):
            raise KetchError("seccomp profile: no defaultAction")
        default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
        arches = _arches(profile, arch)
        rules = []
        for r in profile.get("syscalls") or []:
            if r.get("name") and r.get("names"):
                raise KetchError("seccomp profile: both 'name' and 'names' are specified, use either")
            names = r.get("names") or ([r["name"]] if r.get("name") else [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise KetchError("seccomp profile: names must be a list of strings")
            action = _action(r.get("action", ""), r.get("errnoRet"))
            if _applies(r, held, arch):
                rules += [(names, action, args) for args in _conditions(r)]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise KetchError(f"seccomp profile: malformed rule ({e})") from None
    return {"default": default, "rules": rules, "arches": arches}
