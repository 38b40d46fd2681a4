"""What the monitor is told to do besides running the process, as `run`
and `create` flags say it in docker's words: the restart policy
(--restart), the healthcheck (--health-* merged with the image's
HEALTHCHECK, --no-healthcheck) and the json-file log's rotation
(--log-opt max-size/max-file). Parsed and checked at create; the container's
config keeps the result, runtime/process.py hands it to the monitor."""

from __future__ import annotations

import re

from ..errors import KetchError

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True
if TYPE_CHECKING:
    from typing import Any

POLICIES = ("no", "on-failure", "always", "unless-stopped")

# docker's healthcheck defaults
DEFAULT_INTERVAL = 30 * 10**9
DEFAULT_TIMEOUT = 30 * 10**9
DEFAULT_RETRIES = 3
MIN_DURATION = 10**6  # 1 ms: docker refuses shorter (other than 0, the default)


def restart_policy(text: str) -> dict[str, Any]:
    """--restart no|on-failure[:N]|always|unless-stopped -> {"policy", "max_retries"}."""
    name, sep, count = text.partition(":")
    if name not in POLICIES:
        raise KetchError(f"invalid restart policy: unknown policy '{name[:40]}'; use one of 'no', 'always', "
                         "'on-failure', or 'unless-stopped'")  # fmt: skip
    if sep and name != "on-failure":
        raise KetchError("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    retries = 0
    if sep:
        if not re.fullmatch(r"[0-9]{1,9}", count):
            raise KetchError(f"invalid restart policy format: maximum retry count must be an integer: {count[:40]!r}")
        retries = int(count)
    return {"policy": name, "max_retries": retries}


def _duration(flag: str, value: str | None) -> int | None:
    if value is None:
        return None
    from ..models.ids import duration_ns

    try:
        ns = duration_ns(value)
    except ValueError as e:
        raise KetchError(f'invalid argument "{value[:40]}" for "--{flag}" flag: time: {e}') from None
    if ns < 0:
        raise KetchError(f"--{flag} cannot be negative")
    if 0 < ns < MIN_DURATION:
        raise KetchError(f"--{flag} cannot be less than 1ms")
    return ns


def healthcheck(
    image: dict[str, Any] | None,
    cmd: str | None = None,
    interval: str | None = None,
    timeout: str | None = None,
    start_period: str | None = None,
    retries: int | None = None,
    disabled: bool = False,
) -> dict[str, Any] | None:
    """The container's healthcheck in docker's form ({Test, Interval, Timeout,
    StartPeriod, Retries}; None: none): the flags given over the image's
    HEALTHCHECK, field by field, as docker merges them; --no-healthcheck
    (or the image's NONE) turns it off."""
    given = {"Interval": _duration("health-interval", interval), "Timeout": _duration("health-timeout", timeout),
             "StartPeriod": _duration("health-start-period", start_period), "Retries": retries}  # fmt: skip
    if retries is not None and retries < 0:
        raise KetchError("--health-retries cannot be negative")
    if disabled:
        if cmd is not None or any(v is not None for v in given.values()):
            raise KetchError("--no-healthcheck conflicts with --health-* options")
        return None
    hc = dict(image or {})
    if cmd is not None:
        hc["Test"] = ["CMD-SHELL", cmd]
    for key, value in given.items():
        if value:
            hc[key] = value
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        raise KetchError(f"invalid healthcheck test: {test[:3]!r}")
    return hc


def probe_argv(hc: dict[str, Any]) -> list[str]:
    """The probe's command: CMD's words as they are, CMD-SHELL's through /bin/sh -c."""
    test = hc["Test"]
    return ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtTpP])?[iI]?[bB]?")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def log_options(opts: list[str]) -> dict[str, int]:
    """--log-opt max-size=SIZE (docker's decimal units: 1k is 1000 bytes)
    and max-file=N -> {"max_size": bytes (0: unbounded), "max_file": N}."""
    out = {"max_size": 0, "max_file": 1}
    seen: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            raise KetchError(f"invalid log opt '{opt[:40]}': expected KEY=VALUE")
        if key not in ("max-size", "max-file"):
            raise KetchError(f"unknown log opt '{key[:40]}' for json-file log driver")
        seen[key] = value
    if "max-size" in seen:
        m = _SIZE.fullmatch(seen["max-size"])
        if m is None:
            raise KetchError(f"invalid size: '{seen['max-size'][:40]}'")
        size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
        if size < 0 or size >= 2**63:
            raise KetchError(f"invalid size: '{seen['max-size'][:40]}'")
        out["max_size"] = size
    if "max-file" in seen:
        if not re.fullmatch(r"[0-9]{1,9}", seen["max-file"]):
            raise KetchError(f'strconv.Atoi: parsing "{seen["max-file"][:40]}": invalid syntax')
        n = int(seen["max-file"])
        if n < 1:
            raise KetchError("max-file cannot be less than 1")
        if n > 1 and not out["max_size"]:
            raise KetchError("max-file can only be used with max-size")  # nothing would ever rotate
        out["max_file"] = n
    return out
