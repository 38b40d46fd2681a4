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


def test_rfc3339_epoch_is_parse_rfc3339s_time() -> None:
    """The listings' datetime-free reading gives the Unix time parse_rfc3339
    gives, for the forms docker writes (fractions to nanoseconds, Z or an
    offset, no zone) over two millennia, and for what is not one (None)."""
    import datetime
    import random

    rnd = random.Random(3339)
    for _ in range(5000):
        t = rnd.uniform(-3e10, 7e10)  # 1019 .. 4188
        d = datetime.datetime.fromtimestamp(t, datetime.UTC)
        frac = rnd.choice(["", "." + str(rnd.randint(0, 10**9 - 1)).rjust(9, "0"), ".5", f".{d.microsecond:06d}"])
        s = d.strftime("%Y-%m-%dT%H:%M:%S") + frac + rnd.choice(["Z", "+02:00", "-11:30", "", "+00:00"])
        want = ids.parse_rfc3339(s)
        assert want is not None
        assert ids.rfc3339_epoch(s) == want.timestamp(), s
    for s in ["", None, "bad", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "1999-12-31T23:59:60Z",
              "2006-01-02T15:04:05+7:00", "2006-01-02T24:00:00Z", "2_24-01-01T00:00:00Z", "+020-01-01T00:00:00Z",
              "2020-01-01T0 :00:00Z", "0000-01-01T00:00:00Z", "2020-01-01T00:00:00+99:00", "2020-01-01T00:00:00-24:00",
              "2020-01-01T00:00:00+23:60", "2020-01-01T00:00:00+23:59", "\uff12\uff10\uff12\uff10-01-01T00:00:00Z",
              "2020-01-01T00:00:00Zjunk"]:  # fmt: skip
        want = ids.parse_rfc3339(s)
        assert ids.rfc3339_epoch(s) == (want.timestamp() if want else None), s


def test_a_fraction_followed_by_an_offset_keeps_the_offset() -> None:
    """(parse_rfc3339 once read the offset's digits as more of the fraction.)"""
    assert ids.parse_rfc3339("2006-01-02T15:04:05.5-03:30") == ids.parse_rfc3339("2006-01-02T18:34:05.5Z")
    assert ids.rfc3339_epoch("2006-01-02T15:04:05.5-03:30") == 1136226845.5
