"""runtime/spec.py: users and groups resolved from an image's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.errors import KetchError
from ketch.runtime.spec import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
web:x:1000:1000::/home/web:/bin/sh
huge:x:4294967296:0::/:/bin/sh
minus:x:-1:0::/:/bin/sh
word:x:x:0::/:/bin/sh
hugegid:x:2000:4294967296::/:/bin/sh
top:x:4294967294:4294967294::/:/bin/sh
"""
GROUP = """root:x:0:
web:x:1000:web
big:x:99999999999999999999:
"""


@pytest.fixture
def spec_layer(tmp_path: Path) -> list[Path]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return [tmp_path]


@pytest.mark.parametrize(
    "user",
    [
        "4294967296",  # 2^32: wrapped, it would be root
        "4294967295",  # (uid_t)-1: "leave unchanged" to setuid
        "99999999999999999999",
        "0:4294967296",
        "1000:18446744073709551616",
        "huge",  # the image's passwd gives an id out of range
        "minus",
        "word",
        "hugegid",
        "root:big",  # the image's group file gives one
    ],
)
def test_ids_beyond_32_bits_are_refused(spec_layer: list[Path], user: str) -> None:
    with pytest.raises(KetchError) as e:
        resolve_user(user, spec_layer)
    msg = str(e.value)
    assert "\n" not in msg and ("must be in range 0-4294967294" in msg or "not a valid id" in msg), msg


def test_ids_in_range_resolve(spec_layer: list[Path]) -> None:
    assert resolve_user("web", spec_layer) == (1000, 1000, [1000])
    assert resolve_user("1000", spec_layer) == (1000, 1000, [1000])
    assert resolve_user("top", spec_layer) == (4294967294, 4294967294, [4294967294])
    assert resolve_user("4294967294:7", spec_layer) == (4294967294, 7, [7])
    assert resolve_user("12345:678", spec_layer) == (12345, 678, [678])
    assert resolve_user("", spec_layer) == (0, 0, [0])
