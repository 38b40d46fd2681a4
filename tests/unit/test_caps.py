"""runtime/caps.py: docker's rules for --cap-add, --cap-drop and --privileged
over a default set, and the names it takes."""

from __future__ import annotations

import pytest

from ketch.errors import KetchError
from ketch.runtime import caps


def bit(*names: str) -> int:
    out = 0
    for n in names:
        out |= 1 << caps.NAMES.index(n)
    return out


# docker's default set (what _native.docker_caps() gives: 0xa80425fb)
DEFAULT = bit(
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE",
    "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP",
)  # fmt: skip
ALL = (1 << len(caps.NAMES)) - 1


@pytest.fixture(autouse=True)
def every_cap_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root with a full bounding set, whoever runs these tests."""
    monkeypatch.setattr(caps, "all_caps", lambda: ALL)


def test_the_default_is_dockers() -> None:
    from ketch import _native

    assert DEFAULT == 0xA80425FB == _native.docker_caps()


def test_numbers_are_the_kernels() -> None:
    assert (caps.NAMES.index("CHOWN"), caps.NAMES.index("NET_RAW"), caps.NAMES.index("SYS_ADMIN")) == (0, 13, 21)
    assert (caps.NAMES.index("BPF"), caps.NAMES.index("CHECKPOINT_RESTORE"), len(caps.NAMES)) == (39, 40, 41)


def test_nothing_asked_is_the_default() -> None:
    assert caps.mask(DEFAULT, [], [], False) == DEFAULT


def test_names_with_and_without_cap_in_any_case() -> None:
    for name in ("SYS_ADMIN", "sys_admin", "CAP_SYS_ADMIN", "cap_Sys_Admin"):
        assert caps.mask(DEFAULT, [name], [], False) == DEFAULT | bit("SYS_ADMIN"), name
    assert caps.mask(DEFAULT, [], ["net_raw", "CAP_MKNOD"], False) == DEFAULT & ~bit("NET_RAW", "MKNOD")


def test_drop_then_add() -> None:
    assert caps.mask(DEFAULT, ["NET_ADMIN"], ["CHOWN", "KILL"], False) == (DEFAULT & ~bit("CHOWN", "KILL")) | bit(
        "NET_ADMIN"
    )
    # the same name on both sides: docker drops from the default, then adds it back
    assert caps.mask(DEFAULT, ["CHOWN"], ["CHOWN"], False) == DEFAULT


def test_drop_all_leaves_only_what_is_added() -> None:
    assert caps.mask(DEFAULT, [], ["ALL"], False) == 0
    assert caps.mask(DEFAULT, ["CAP_CHOWN", "net_bind_service"], ["all"], False) == bit("CHOWN", "NET_BIND_SERVICE")


def test_add_all_gives_everything_but_what_is_dropped() -> None:
    assert caps.mask(DEFAULT, ["ALL"], [], False) == ALL
    # docker: ALL in --cap-add wins over the default, and --cap-drop still applies
    assert caps.mask(DEFAULT, ["ALL"], ["NET_RAW", "SYS_ADMIN"], False) == ALL & ~bit("NET_RAW", "SYS_ADMIN")
    assert caps.mask(DEFAULT, ["all"], ["ALL"], False) == ALL


def test_privileged_gives_everything_held_whatever_else_is_asked() -> None:
    assert caps.mask(DEFAULT, [], ["ALL"], True) == ALL
    assert caps.mask(0, ["NOPE"], [], True) == ALL  # docker does not look at the lists then


@pytest.mark.parametrize(
    ("add", "drop", "message"),
    [
        (["NOPE"], [], 'invalid capability: NOPE (unknown capability: "CAP_NOPE")'),
        (["cap_nope"], [], 'invalid capability: cap_nope (unknown capability: "CAP_NOPE")'),
        ([], ["SYS_WHATEVER"], 'invalid capability: SYS_WHATEVER (unknown capability: "CAP_SYS_WHATEVER")'),
        (["ALL"], ["BOGUS"], 'invalid capability: BOGUS (unknown capability: "CAP_BOGUS")'),
        # docker checks every name, also beside ALL
        ([], ["ALL", "BOGUS"], 'invalid capability: BOGUS (unknown capability: "CAP_BOGUS")'),
        (["CAP_"], [], 'invalid capability: CAP_ (unknown capability: "CAP_")'),
    ],
)
def test_unknown_names_are_refused(add: list[str], drop: list[str], message: str) -> None:
    with pytest.raises(KetchError) as e:
        caps.mask(DEFAULT, add, drop, False)
    assert str(e.value) == message
