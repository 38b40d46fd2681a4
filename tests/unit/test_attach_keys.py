"""docker's --detach-keys and its escape proxy (runtime/attach.py)."""

from __future__ import annotations

import pytest

from ketch.errors import UsageError
from ketch.runtime.attach import _Keys, detach_keys


def test_detach_keys_are_dockers() -> None:
    assert detach_keys(None) == b"\x10\x11"  # ctrl-p,ctrl-q
    assert detach_keys("ctrl-a,x,ctrl-@,ctrl-_") == b"\x01x\x00\x1f"
    for bad in ("ctrl-1", "ab", "", "ctrl-"):
        with pytest.raises(UsageError, match="Unknown character"):
            detach_keys(bad)


def test_the_escape_proxy_holds_a_prefix_and_lets_a_mismatch_through() -> None:
    k = _Keys(b"\x10\x11")
    assert k.feed(b"ab\x10") == (b"ab", False)  # ctrl-p held
    assert k.feed(b"c") == (b"\x10c", False)  # not the sequence: both sent
    assert k.feed(b"x\x10") == (b"x", False)
    assert k.feed(b"\x11rest") == (b"", True)  # the sequence across two reads: a detach
