"""runtime/policies.py: --restart, --health-* over the image's HEALTHCHECK
and --log-opt, parsed as docker parses them; models.ids.duration_ns (Go's
durations); runtime/boot.py's choice of what a reboot brings back."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketch.errors import KetchError
from ketch.models.ids import duration_ns
from ketch.runtime import policies


def test_restart_policies() -> None:
    assert policies.restart_policy("no") == {"policy": "no", "max_retries": 0}
    assert policies.restart_policy("on-failure:5") == {"policy": "on-failure", "max_retries": 5}
    assert policies.restart_policy("unless-stopped")["policy"] == "unless-stopped"
    for bad in ("", "sometimes", "always:2", "on-failure:", "on-failure:-1", "on-failure:1e9"):
        with pytest.raises(KetchError, match="invalid restart policy"):
            policies.restart_policy(bad)


def test_go_durations() -> None:
    assert duration_ns("0") == 0
    assert duration_ns("1m30s") == 90 * 10**9
    assert duration_ns("500ms") == 5 * 10**8
    assert duration_ns("1.5h") == 5400 * 10**9
    assert duration_ns("-2s") == -2 * 10**9
    for bad in ("", "1", "s", "1d", "1s ", "1e3s", "9" * 30 + "h"):
        with pytest.raises(ValueError, match="invalid duration"):
            duration_ns(bad)


def test_health_flags_over_the_images_check() -> None:
    image = {"Test": ["CMD", "probe"], "Interval": 5 * 10**9, "Retries": 7}
    assert policies.healthcheck(image) == image
    assert policies.healthcheck(image, interval="1s") == {**image, "Interval": 10**9}
    assert policies.healthcheck(image, cmd="true") == {**image, "Test": ["CMD-SHELL", "true"]}
    assert policies.healthcheck(image, disabled=True) is None
    assert policies.healthcheck({"Test": ["NONE"]}) is None
    assert policies.healthcheck(None) is None
    assert policies.healthcheck(None, interval="1s") is None  # nothing to run
    assert policies.probe_argv({"Test": ["CMD-SHELL", "a b"]}) == ["/bin/sh", "-c", "a b"]
    assert policies.probe_argv({"Test": ["CMD", "a", "b"]}) == ["a", "b"]
    with pytest.raises(KetchError, match="conflicts"):
        policies.healthcheck(image, retries=2, disabled=True)
    with pytest.raises(KetchError, match="invalid healthcheck test"):
        policies.healthcheck({"Test": ["SHELL", "x"]})


def test_log_options() -> None:
    assert policies.log_options([]) == {"max_size": 0, "max_file": 1}
    assert policies.log_options(["max-size=1k", "max-file=3"]) == {"max_size": 1000, "max_file": 3}
    assert policies.log_options(["max-size=10MB"])["max_size"] == 10**7
    assert policies.log_options(["max-size=1.5m"])["max_size"] == 1_500_000
    assert policies.log_options(["max-size=512"])["max_size"] == 512
    for bad, message in [
        (["max-size=garbage"], "invalid size"),
        (["max-size=1x"], "invalid size"),
        (["max-size=" + "9" * 30 + "p"], "invalid size"),
        (["max-file=0", "max-size=1k"], "less than 1"),
        (["max-file=2"], "only be used with max-size"),
        (["tag=x"], "unknown log opt 'tag'"),
        (["max-size"], "expected KEY=VALUE"),
    ]:
        with pytest.raises(KetchError, match=message):
            policies.log_options(bad)


def test_what_a_reboot_brings_back(tmp_path: Path) -> None:
    from ketch.config import Settings
    from ketch.runtime.boot import wanted
    from ketch.runtime.state import Container
    from ketch.store import Store

    store = Store(settings=Settings(tmp_path / "store", environ={"KETCH_RUN_ROOT": str(tmp_path / "run")}))

    def c(policy: str, code: int = 137, retries: int = 0, count: int = 0, started: float | None = 1.0) -> Container:
        config = {"restart": {"policy": policy, "max_retries": retries}}
        k = Container("a" * 64, "n", "i", "img", config, 0.0, "exited", None, None, code, started, 2.0)
        k.restart_count = count
        return k

    assert wanted(store, c("always")) and wanted(store, c("unless-stopped"))
    assert not wanted(store, c("no")) and not wanted(store, c("always", started=None))
    assert wanted(store, c("on-failure", 137, retries=3, count=2)) and not wanted(store, c("on-failure", 0))
    assert not wanted(store, c("on-failure", 1, retries=3, count=3))
    stopped = store.root / "containers" / ("a" * 64)
    stopped.mkdir(parents=True)
    (stopped / "stopped").touch()
    assert wanted(store, c("always")) and not wanted(store, c("unless-stopped"))
