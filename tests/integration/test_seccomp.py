"""docker's default seccomp profile in real containers: what it allows and
denies, what --cap-add opens, and the i386 and x32 ABIs of an x86_64 host
(made from a 64-bit static program: `int $0x80` enters the i386 ABI, the
x32 bit in a number the x32 one), each answer compared with docker's."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from support.imagekit import Entry
from support.ketch import Ketch, requires_root
from support.wait import wait_for

pytestmark = [
    requires_root,
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="the helper's calls are x86_64's numbers"),
]

# sc CALL...: makes each call and prints its result, or -errno, one a line.
# A CALL is [32:|x32:]NR[,ARG...]: 32: through int $0x80 (the i386 ABI, from
# this 64-bit program), x32: with the x32 bit in the number. An ARG @A/B/C
# is the address of a static array of those 32-bit words.
_SC_C = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static unsigned int words[32][8];

static long int80(long nr, const long *a) {
    int ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc && i <= 32; i++) {
        char *s = argv[i];
        int abi = 64;
        if (strncmp(s, "32:", 3) == 0) abi = 32, s += 3;
        else if (strncmp(s, "x32:", 4) == 0) abi = 'x', s += 4;
        long nr = strtol(s, &s, 0), a[6] = {0};
        for (int n = 0; *s == ',' && n < 6; n++) {
            s++;
            if (*s == '@') {
                unsigned int *w = words[i - 1];
                for (int k = 0; k < 8 && (*s == '@' || *s == '/'); k++) {
                    s++;
                    w[k] = (unsigned int)strtoul(s, &s, 0);
                }
                a[n] = (long)w;
            } else {
                a[n] = strtol(s, &s, 0);
            }
        }
        long r;
        if (abi == 32) {
            r = int80(nr, a);
        } else {
            r = syscall(abi == 'x' ? nr | 0x40000000L : nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            if (r < 0) r = -(long)errno;
        }
        printf("%ld\n", r);
        fflush(stdout);
    }
    return 0;
}
"""
EPERM, ENOSYS = 1, 38
AF_INET, AF_INET6, AF_ALG, AF_VSOCK = 2, 10, 38, 40
SOCK_STREAM, SOCK_SEQPACKET = 1, 5


@pytest.fixture(scope="module")
def sc_helper(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the static syscall helper (scripts/setup.sh installs it)")
    d = tmp_path_factory.mktemp("sc")
    (d / "sc.c").write_text(_SC_C)
    # Not position-independent: the @ arrays sit below 4 GiB, where i386 calls can point.
    subprocess.run(["gcc", "-static", "-O2", "-fno-pie", "-no-pie", "-o", str(d / "sc"), str(d / "sc.c")], check=True)
    return (d / "sc").read_bytes()


@pytest.fixture
def sc_image(ketch: Ketch, sc_helper: bytes) -> str:
    return ketch.import_busybox("sc", [Entry("bin/sc", data=sc_helper, mode=0o755)])


def sc(ketch: Ketch, *calls: str, flags: tuple[str, ...] = ()) -> list[int]:
    """The answers to `calls` in a container of the image (killed by the filter: an error)."""
    r = ketch("run", "--rm", *flags, "sc", "sc", *calls)
    assert r.rc == 0, f"rc {r.rc}: {r.err}"
    out = [int(x) for x in r.out.split()]
    assert len(out) == len(calls), r.out
    return out


def call(nr: int, *args: int | str, abi: str = "") -> str:
    return abi + ",".join(str(x) for x in (nr, *args))


SOCKET, KEYCTL, ADD_KEY, REQUEST_KEY, BPF, IO_URING_SETUP = 41, 250, 248, 249, 321, 425
PKEY_ALLOC, PKEY_FREE, NAME_TO_HANDLE_AT, OPEN_BY_HANDLE_AT = 330, 331, 303, 304
UNSHARE, MOUNT, SETNS, FSOPEN, CLONE3, REBOOT, FILE_GETATTR = 272, 165, 308, 430, 435, 169, 468
LSM_LIST_MODULES = 461


def test_socket_families_as_docker(ketch: Ketch, sc_image: str) -> None:
    """Every family but AF_ALG and AF_VSOCK (on a VM, the hypervisor's side)."""
    calls = [
        call(SOCKET, AF_VSOCK, SOCK_STREAM),
        call(SOCKET, AF_ALG, SOCK_SEQPACKET),
        # The kernel takes an int: this is AF_VSOCK too (and passes docker's 64-bit check).
        call(SOCKET, AF_VSOCK | 1 << 32, SOCK_STREAM),
        call(SOCKET, AF_INET, SOCK_STREAM),
        call(SOCKET, AF_INET6, SOCK_STREAM),
        call(359, AF_VSOCK, SOCK_STREAM, abi="32:"),  # i386's socket
        call(359, AF_INET, SOCK_STREAM, abi="32:"),
        call(102, 1, f"@{AF_INET}/{SOCK_STREAM}/0", abi="32:"),  # socketcall(SYS_SOCKET, args)
    ]
    vsock, alg, vsock_high, inet, inet6, vsock32, inet32, socketcall = sc(ketch, *calls)
    assert vsock == -EPERM and alg == -EPERM and vsock_high == -EPERM and vsock32 == -EPERM
    assert inet >= 0 and inet6 >= 0 and inet32 >= 0 and socketcall >= 0
    # Without the filter the kernel itself answers (a socket here, or EAFNOSUPPORT).
    vsock, alg, vsock_high = sc(ketch, *calls[:3], flags=("--security-opt", "seccomp=unconfined"))
    assert vsock != -EPERM and alg != -EPERM and vsock_high != -EPERM


def test_pkey_and_file_handles_as_docker(ketch: Ketch, sc_image: str) -> None:
    """pkey_* and name_to_handle_at are for every container; open_by_handle_at
    needs CAP_DAC_READ_SEARCH (a handle opens any file of the filesystem)."""
    calls = [call(PKEY_ALLOC, 0, 0), call(PKEY_FREE, 15), call(NAME_TO_HANDLE_AT), call(OPEN_BY_HANDLE_AT)]
    pkey, pkey_free, name_to_handle, open_by_handle = sc(ketch, *calls)
    # The kernel's answers: a key (or ENOSPC without protection keys), EINVAL, EFAULT.
    assert pkey != -EPERM and pkey_free != -EPERM and name_to_handle != -EPERM
    assert open_by_handle == -EPERM
    pkey, pkey_free, name_to_handle, open_by_handle = sc(ketch, *calls, flags=("--cap-add", "DAC_READ_SEARCH"))
    assert -EPERM not in (pkey, pkey_free, name_to_handle, open_by_handle)


def test_calls_docker_denies(ketch: Ketch, sc_image: str) -> None:
    calls = [call(KEYCTL), call(ADD_KEY), call(REQUEST_KEY), call(BPF), call(IO_URING_SETUP, 1), call(REBOOT)]
    assert sc(ketch, *calls) == [-EPERM] * len(calls)
    # Not the kernel's own refusal: unconfined, the keyring and io_uring calls get past it.
    keyctl, add_key, request_key, _, io_uring, _ = sc(ketch, *calls, flags=("--security-opt", "seccomp=unconfined"))
    assert -EPERM not in (keyctl, add_key, request_key, io_uring)


def test_cap_sys_admin_and_cap_bpf_open_what_docker_opens(ketch: Ketch, sc_image: str) -> None:
    calls = [call(UNSHARE, 0), call(MOUNT), call(SETNS, -1, 0), call(FSOPEN), call(BPF), call(LSM_LIST_MODULES)]
    calls.append(call(CLONE3))
    *denied, clone3 = sc(ketch, *calls)
    assert denied == [-EPERM] * 6 and clone3 == -ENOSYS
    unshare, mount, setns, fsopen, bpf, lsm, clone3 = sc(ketch, *calls, flags=("--cap-add", "SYS_ADMIN"))
    assert unshare == 0  # the kernel's answers, past the filter
    assert -EPERM not in (mount, setns, fsopen, bpf, lsm) and clone3 not in (-EPERM, -ENOSYS)
    assert sc(ketch, call(BPF), flags=("--cap-add", "BPF")) != [-EPERM]
    assert sc(ketch, call(KEYCTL), flags=("--cap-add", "ALL"))[0] == -EPERM  # no capability opens keyctl


def test_i386_and_x32_calls_go_through_their_own_tables(ketch: Ketch, sc_image: str) -> None:
    """docker's archMap: on x86_64 the filter covers i386 and x32 too, each
    with its own numbers (before, an i386 call killed the container and every
    x32 call was refused)."""
    calls = [
        call(20, abi="32:"),  # getpid
        call(288, abi="32:"),  # keyctl
        call(381, 0, 0, abi="32:"),  # pkey_alloc
        call(39, abi="x32:"),  # getpid
        call(250, abi="x32:"),  # keyctl
    ]
    getpid32, keyctl32, pkey32, getpid_x32, keyctl_x32 = sc(ketch, *calls)
    assert getpid32 > 0 and pkey32 != -EPERM
    assert keyctl32 == -EPERM and keyctl_x32 == -EPERM
    # Past the filter: the pid where the kernel runs x32, ENOSYS where it does not.
    assert getpid_x32 > 0 or getpid_x32 == -ENOSYS
    # A detached container's filter (the monitor program compiles it) and an exec's.
    name = "sc-abis"
    r = ketch("run", "-d", "--name", name, sc_image, "sh", "-c", "sc 32:20 32:288 x32:250; sleep 30")
    assert r.rc == 0, r.err
    try:
        assert wait_for(lambda: len(ketch("logs", name).out.split()) == 3)
        assert ketch("logs", name).out.split()[1:] == [str(-EPERM)] * 2
        r = ketch("exec", name, "sc", *calls)
        assert r.rc == 0, r.err
        out = [int(x) for x in r.out.split()]
        assert out[0] > 0 and out[1] == -EPERM and out[4] == -EPERM
    finally:
        ketch("rm", "-f", name)


def test_calls_newer_than_the_profile_answer_enosys(ketch: Ketch, sc_image: str) -> None:
    """As under docker (runc): a number above the highest the profile names
    gets ENOSYS, so that a program falls back to an older call; a hole below
    it gets the default's EPERM."""
    assert sc(ketch, call(FILE_GETATTR), call(1000), call(400)) == [-ENOSYS, -ENOSYS, -EPERM]
