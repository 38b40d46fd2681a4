"""Sizes and limits as docker reads them (go-units' RAMInBytes for
-m/--memory, the only size flag ketch has) and --cpus."""

from __future__ import annotations

import pytest

from ketch.errors import KetchError
from ketch.runtime.cgroups import check_cpus, parse_bytes


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("512m", 512 << 20),
        ("512M", 512 << 20),
        ("1g", 1 << 30),
        ("1.5GB", 1610612736),
        ("10 MiB", 10 << 20),
        ("32.3 mb", 33869004),  # go-units truncates: 32.3 * 2^20 = 33869004.8
        ("7168k", 7168 << 10),
        ("2t", 2 << 40),
        ("1p", 1 << 50),
        ("6291456", 6 << 20),  # plain bytes; exactly the minimum
        ("7340032b", 7 << 20),
        ("0.3g", 322122547),
    ],
)
def test_sizes_binary_units_any_case(text: str, want: int) -> None:
    assert parse_bytes(text) == want


@pytest.mark.parametrize(
    "text", ["1e9", "nan", "inf", "-1", "10x", "", "32bm", "1.2.3m", "m", "0x10m", "1,5g", " 32m ", "32m b"]
)
def test_what_is_not_a_size(text: str) -> None:
    with pytest.raises(KetchError) as e:
        parse_bytes(text)
    assert str(e.value) == f'invalid argument "{text}" for "-m, --memory" flag: invalid size: \'{text}\''


def test_the_flag_named_in_the_message_is_the_callers() -> None:
    with pytest.raises(KetchError, match='^invalid argument "lots" for "--memory-swap" flag: invalid size: \'lots\'$'):
        parse_bytes("lots", "--memory-swap")


@pytest.mark.parametrize("text", ["6291455", "100k", "5m", "0", "5.9m"])
def test_below_six_megabytes_is_refused(text: str) -> None:
    with pytest.raises(KetchError) as e:
        parse_bytes(text)
    assert str(e.value) == "Minimum memory limit allowed is 6MB"


def test_cpus() -> None:
    for ok in (None, 0.5, 1.0, 64.0):
        check_cpus(ok)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(KetchError) as e:
            check_cpus(bad)
        assert (
            str(e.value) == f'invalid argument "{bad}" for "--cpus" flag: the number of CPUs must be a positive number'
        )
