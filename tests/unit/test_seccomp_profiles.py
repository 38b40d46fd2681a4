"""runtime/seccomp.py beyond test_seccomp.py's BPF runs: profile files as
--security-opt seccomp=PATH reads them, the actions and errno values a
profile names, the ABIs it covers, and the profiles refused before anything
is made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ketch import _native
from ketch.errors import KetchError
from ketch.runtime import seccomp

ALLOW, ERRNO, TRACE, LOG, TRAP, KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x7FF00000, 0x7FFC0000, 0x00030000, 0x80000000


def compiled(profile: dict[str, Any], machine: str = "x86_64") -> dict[str, Any]:
    out = seccomp.compile_rules(profile, 0, machine)
    assert out is not None
    return out


def test_the_default_profile_compiles_for_each_host() -> None:
    profile = seccomp.default_profile()
    assert (profile["defaultAction"], profile["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    caps = _native.docker_caps()
    x86 = seccomp.compile_rules(profile, caps, "x86_64")
    arm = seccomp.compile_rules(profile, caps, "aarch64")
    assert x86 is not None and arm is not None
    assert (x86["default"], x86["arches"], arm["arches"]) == (ERRNO | 1, ["x86_64", "x86", "x32"], ["aarch64", "arm"])
    allowed = {n for names, action, _ in x86["rules"] if action == ALLOW for n in names}
    assert {"read", "write", "execve", "clone"} <= allowed and not {"kexec_load", "bpf", "mount"} & allowed
    for machine in ("x86_64", "aarch64"):
        flat = seccomp.compile_rules(profile, caps, machine)
        assert len(_native.seccomp_program(json.dumps(flat), machine)) % 8 == 0  # whole BPF instructions


def test_sys_admin_adds_dockers_rules_for_it() -> None:
    from ketch.runtime import caps as capnames

    profile = seccomp.default_profile()
    plain = seccomp.compile_rules(profile, _native.docker_caps(), "x86_64")
    admin = seccomp.compile_rules(profile, _native.docker_caps() | 1 << capnames.NAMES.index("SYS_ADMIN"), "x86_64")
    assert plain is not None and admin is not None

    def allowed(flat: dict[str, Any]) -> set[str]:
        return {n for names, action, _ in flat["rules"] if action == ALLOW for n in names}

    assert {"mount", "umount2", "unshare", "setns"} <= allowed(admin) - allowed(plain)


@pytest.mark.parametrize(
    ("action", "errno", "want"),
    [
        ("SCMP_ACT_ALLOW", None, ALLOW),
        ("SCMP_ACT_ERRNO", None, ERRNO | 1),  # EPERM unless errnoRet says otherwise
        ("SCMP_ACT_ERRNO", 38, ERRNO | 38),
        ("SCMP_ACT_TRACE", None, TRACE | 1),
        ("SCMP_ACT_TRACE", 7, TRACE | 7),
        ("SCMP_ACT_LOG", 5, LOG),  # errnoRet only for ERRNO and TRACE
        ("SCMP_ACT_TRAP", None, TRAP),
        ("SCMP_ACT_KILL", None, 0),
        ("SCMP_ACT_KILL_THREAD", None, 0),
        ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS),
    ],
)
def test_actions_and_their_errno(action: str, errno: int | None, want: int) -> None:
    rule: dict[str, Any] = {"names": ["getpid"], "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    flat = compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    assert flat["rules"] == [(["getpid"], want, [])]
    assert compiled({"defaultAction": action, **({"defaultErrnoRet": errno} if errno else {})})["default"] == want


def test_a_custom_profile_with_args_and_arch_map() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 13,
        "archMap": [
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 255, "valueTwo": 4,
                                                                         "op": "SCMP_CMP_MASKED_EQ"}],
            },
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        ],
    }  # fmt: skip
    x86 = compiled(profile)
    assert (x86["default"], x86["arches"]) == (ERRNO | 13, ["x86_64", "x86"])
    # two checks on two arguments: one rule with both; ptrace is for arm64 only
    assert x86["rules"] == [
        (["read", "write"], ALLOW, []),
        (["personality"], ALLOW, [(0, "EQ", 8, 0), (1, "MASKED_EQ", 255, 4)]),
    ]
    arm = compiled(profile, "aarch64")
    assert arm["arches"] == ["aarch64", "arm"] and arm["rules"][-1] == (["ptrace"], ALLOW, [])
    assert len(_native.seccomp_program(json.dumps(x86), "x86_64")) > 0


def test_a_valuetwo_counts_only_for_masked_eq() -> None:
    rule = {
        "names": ["kill"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 1, "value": 9, "valueTwo": 3, "op": "EQ"}],
    }
    assert compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule]})["rules"] == [
        (["kill"], ALLOW, [(1, "EQ", 9, 0)])
    ]


def test_unknown_call_names_are_ignored_as_libseccomp_does() -> None:
    def prog(names: list[str]) -> bytes:
        flat = {"default": ERRNO | 1, "rules": [(names, ALLOW, [])] if names else [], "arches": ["x86_64"]}
        return _native.seccomp_program(json.dumps(flat), "x86_64")

    assert prog(["no_such_call"]) == prog([])
    assert prog(["read", "no_such_call"]) == prog(["read"]) != prog([])


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "seccomp profile: unsupported action 'SCMP_ACT_NOPE'"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]},
         "seccomp profile: unsupported action ''"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]},
         "seccomp profile: names must be a list of strings"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_ALLOW"}]},
         "seccomp profile: names must be a list of strings"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"value": 1, "op": "SCMP_CMP_EQ"}]}]},
         "seccomp profile: malformed rule ('index')"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]},
         "seccomp profile: malformed rule (bad kernel version 'x')"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "eperm"},
         "seccomp profile: malformed rule (invalid literal for int() with base 10: 'eperm')"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": "read"},
         "seccomp profile: malformed rule ('str' object has no attribute 'get')"),
    ],
)  # fmt: skip
def test_bad_profiles_are_refused(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(KetchError) as e:
        seccomp.compile_rules(profile, 0, "x86_64")
    assert str(e.value) == message


def test_profile_files(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]}
        )
    )
    assert seccomp.load(str(good))["syscalls"][0]["names"] == ["kexec_load"]
    cases = {
        "missing.json": None,
        "broken.json": "{not json",
        "list.json": "[1, 2]",
        "bad-action.json": json.dumps({"defaultAction": "SCMP_ACT_WHATEVER"}),
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    messages = []
    for name in cases:
        with pytest.raises(KetchError) as e:
            seccomp.load(str(tmp_path / name))
        messages.append(str(e.value))
    assert messages == [
        f"opening seccomp profile ({tmp_path / 'missing.json'}) failed: No such file or directory",
        "decoding seccomp profile failed: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "decoding seccomp profile failed: the profile is not a JSON object",
        "seccomp profile: unsupported action 'SCMP_ACT_WHATEVER'",
    ]


def test_kernel_releases_as_docker_reads_them() -> None:
    assert seccomp._release("6.8.0-45-generic") == (6, 8)
    assert seccomp._release("5.15") == (5, 15)
    assert seccomp._release("4.19.112+") == (4, 19)
    for bad in ("6", "x.1", "6.x", ""):
        with pytest.raises(ValueError, match="bad kernel version"):
            seccomp._release(bad)
