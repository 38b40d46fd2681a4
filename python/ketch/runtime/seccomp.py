"""Seccomp profiles in docker's JSON format, flattened for the Rust compiler.

The default is docker's: an allowlist (anything else fails with EPERM),
`clone` without namespace flags, `clone3` answered with ENOSYS so that libc
falls back to `clone`, `personality` for the usual personas, and calls that
only make sense with a capability allowed when the container has it.
`--security-opt seccomp=unconfined` turns the filter off, `seccomp=FILE`
loads a profile of the same format; `--privileged` runs unconfined, as
docker does.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import KetchError
from . import caps as capnames

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
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget
shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair splice stat
stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
vfork vmsplice wait4 waitid waitpid write writev
process_vm_readv process_vm_writev ptrace
"""

# Calls allowed only to a container that holds the capability.
_BY_CAP = {
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_SYS_ADMIN": "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
    "mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd "
    "setdomainname sethostname setns syslog umount umount2 unshare",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_CLONE_NS_FLAGS = 0x7E020000


def default_profile() -> dict[str, Any]:
    """docker's default profile, in its own JSON format (amd64 and arm64 entries)."""
    rules: list[dict[str, Any]] = [{"names": _ALLOW.split(), "action": "SCMP_ACT_ALLOW"}]
    rules += [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
        for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
    ]
    rules += [
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32", "x86"]}},
        {
            "names": ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush"]
            + ["set_tls"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"arches": ["arm", "arm64"]},
        },
    ]
    rules += [
        {"names": names.split(), "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}}
        for cap, names in _BY_CAP.items()
    ]
    rules += [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": _CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    ]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": rules}


def load(path: str) -> dict[str, Any]:
    """A profile file given with --security-opt seccomp=PATH."""
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
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _action(name: str, errno: int | None) -> int:
    if name not in _ACTIONS:
        raise KetchError(f"seccomp profile: unsupported action {name!r}")
    value = _ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        value |= (1 if errno is None else int(errno)) & 0xFFFF
    return value


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _applies(rule: dict[str, Any], held: set[str], arch: str) -> bool:
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not all(c in held for c in inc["caps"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("minKernel"):
        want = tuple(int(x) for x in str(inc["minKernel"]).split(".")[:2])
        if _kernel() < want:
            return False
    if exc.get("caps") and any(c in held for c in exc["caps"]):
        return False
    return not (exc.get("arches") and arch in exc["arches"])


def compile_rules(profile: dict[str, Any], cap_mask: int) -> dict[str, Any]:
    """The profile as `_native.spawn` takes it: {"default": RET, "rules":
    [(names, RET, [(index, op, value, value_two)])]}, with the includes and
    excludes decided for the container's capabilities and this machine."""
    held = {f"CAP_{n}" for i, n in enumerate(capnames.NAMES) if cap_mask >> i & 1}
    arch = _ARCH.get(os.uname().machine, os.uname().machine)
    try:
        default = _action(profile.get("defaultAction", "SCMP_ACT_ERRNO"), profile.get("defaultErrnoRet"))
        rules = []
        for r in profile.get("syscalls") or []:
            if not _applies(r, held, arch):
                continue
            names = list(r.get("names") or ([r["name"]] if r.get("name") else []))
            args = []
            for a in r.get("args") or []:
                op = str(a["op"]).removeprefix("SCMP_CMP_")
                if op == "MASKED_EQ":
                    args.append((int(a["index"]), op, int(a["value"]), int(a.get("valueTwo", 0))))
                else:
                    args.append((int(a["index"]), op, int(a["value"]), 0))
            rules.append((names, _action(r.get("action", ""), r.get("errnoRet")), args))
    except (KeyError, TypeError, ValueError) as e:
        raise KetchError(f"seccomp profile: malformed rule ({e})") from None
    return {"default": default, "rules": rules}
