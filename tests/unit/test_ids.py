"""docker's short ids, RFC 3339 times and architecture names, written once."""

import re

from ketch.models import ids


def test_short_id_of_a_digest_and_of_a_bare_id() -> None:
    hexid = "0123456789abcdef" * 4
    assert ids.short_id(f"sha256:{hexid}") == "0123456789ab"
    assert ids.short_id(hexid) == "0123456789ab"


def test_rfc3339_is_utc_with_and_without_the_fraction() -> None:
    assert ids.rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert ids.rfc3339(1.5, fraction=False) == "1970-01-01T00:00:01Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ids.rfc3339())


def test_host_arch_in_docker_spelling(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    for machine, goarch in [("x86_64", "amd64"), ("aarch64", "arm64"), ("i686", "386"), ("riscv64", "riscv64")]:
        real = os.uname()
        fake = os.uname_result((real.sysname, real.nodename, real.release, real.version, machine))
        monkeypatch.setattr(os, "uname", lambda fake=fake: fake)
        assert ids.host_arch() == goarch
