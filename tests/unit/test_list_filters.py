"""The filters of `ps` (runtime/inspect.py: select) and `images`
(store/inspect.py: image_rows) with docker's semantics: values of one key
ORed, keys ANDed, label values ANDed (docker's MatchKVList), before/since
about the list's order; the rows of `network ls --format`. No root: rows
written to a store of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ketch.config import Settings
from ketch.errors import ContainerNotFound, ImageNotFound, KetchError, UsageError
from ketch.reference import parse
from ketch.store import Store
from ketch.store import containers as rows
from ketch.store import images as imgs


def _store(tmp_path: Path) -> Store:
    return Store(settings=Settings(tmp_path / "root", environ={"KETCH_RUN_ROOT": str(tmp_path / "run")}))


def _image(store: Store, tag: str | None, created: str, labels: dict[str, str] | None = None, **kw: Any) -> str:
    cfg = {**imgs.scratch_config(), "created": created, "config": {"Labels": labels} if labels else {}}
    cfg["history"] = [{"created": created, "created_by": f"make {tag}", "empty_layer": True}]
    return imgs.create_image(store, cfg, tag=parse(tag) if tag else None, **kw)


def _container(store: Store, cid: str, name: str, image: str, created: float, code: int, **config: Any) -> None:
    """An exited container (a running one would need a live process)."""
    p = {"argv": ["sleep", "1"], "env": [], "cwd": "/", "hostname": "h", "network": "none", **config}
    rows.insert(store, cid, name, image, "lab/base:1", p, created, lambda: "x")
    rows.set_running(store, cid, 999_999, None, created)
    rows.set_exited(store, cid, code, created + 1)


def _names(store: Store, filters: list[str], all_: bool = True) -> list[str]:
    from ketch.runtime.listing import select

    return [c.name for c in select(store, all_, filters)]


@pytest.fixture
def three(tmp_path: Path) -> Store:
    """a (oldest, exited 0), b (exited 3, a volume and a bind), c (newest,
    exited 0): labels, networks and mounts as their configs keep them."""
    store = _store(tmp_path)
    img = _image(store, "lab/base:1", "2024-01-01T00:00:00Z", {"tier": "img"})
    vol = str(store.root / "volumes" / "data" / "_data")
    _container(store, "a" * 64, "a", img, 1000.0, 0, labels={"tier": "front", "x": "1"})
    _container(
        store, "b" * 64, "b", img, 2000.0, 3, network="lab-net",
        binds=[[vol, "/data", False], ["/srv/host", "/host", True]], volume_names=["data"],
    )  # fmt: skip
    _container(store, "c" * 64, "c", img, 3000.0, 0, labels={"tier": "back"})
    return store


def test_label_filters_and_their_values(three: Store) -> None:
    assert _names(three, ["label=tier"]) == ["c", "b", "a"]  # the key alone (b has its image's)
    assert _names(three, ["label=tier=front"]) == ["a"]
    assert _names(three, ["label=tier=front", "label=x=1"]) == ["a"]  # label values ANDed, as docker's
    assert _names(three, ["label=tier=front", "label=tier=back"]) == []
    assert _names(three, ["label=nope"]) == []


def test_a_container_made_before_labels_has_its_images(three: Store) -> None:
    from ketch.runtime.listing import labels
    from ketch.runtime.state import lookup

    assert labels(three, lookup(three, "b")) == {"tier": "img"}  # no "labels" key: the image's
    assert _names(three, ["label=tier=img"]) == ["b"]


def test_exited_before_and_since(three: Store) -> None:
    assert _names(three, ["exited=3"]) == ["b"]
    assert _names(three, ["exited=0"]) == ["c", "a"]
    assert _names(three, ["exited=0", "exited=3"]) == ["c", "b", "a"]  # one key's values ORed
    assert _names(three, ["exited=0", "label=tier=back"]) == ["c"]  # keys ANDed
    assert _names(three, ["before=c"]) == ["b", "a"]
    assert _names(three, ["since=a"]) == ["c", "b"]
    assert _names(three, ["since=a", "before=c"]) == ["b"]
    assert _names(three, ["before=" + "c" * 12]) == ["b", "a"]  # by id too
    assert _names(three, ["exited=3"], all_=False) == []  # exited does not imply -a (docker's daemon)
    with pytest.raises(ContainerNotFound, match="No such container: nosuch"):
        _names(three, ["before=nosuch"])
    with pytest.raises(KetchError, match=r"invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax"):
        _names(three, ["exited=x"])


def test_network_and_volume(three: Store) -> None:
    assert _names(three, ["network=lab-net"]) == ["b"]
    assert _names(three, ["network=none"]) == ["c", "a"]
    assert _names(three, ["network=lab-net", "network=none"]) == ["c", "b", "a"]
    assert _names(three, ["volume=data"]) == ["b"]  # a named volume by name
    assert _names(three, ["volume=/data"]) == ["b"]  # or by where it is mounted
    assert _names(three, ["volume=/srv/host"]) == ["b"]  # a bind by its source
    assert _names(three, ["volume=other"]) == []


@pytest.fixture
def ported(tmp_path: Path) -> Store:
    """web (publishes 8080->80/tcp and 53/udp; its image EXPOSEs 443), hc
    (a healthcheck its monitor found unhealthy), new (a healthcheck, never
    started: no health yet), plain (none of these)."""
    import json

    from ketch.runtime.state import container_dir

    store = _store(tmp_path)
    cfg = {**imgs.scratch_config(), "created": "2024-01-01T00:00:00Z", "config": {"ExposedPorts": {"443/tcp": {}}}}
    cfg["history"] = [{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": True}]
    img = imgs.create_image(store, cfg, tag=parse("lab/web:1"))
    web = [
        {"host_ip": "0.0.0.0", "host_port": 8080, "proto": "tcp", "port": 80},
        {"host_ip": "0.0.0.0", "host_port": 5353, "proto": "udp", "port": 53},
    ]
    hc = {"Test": ["CMD-SHELL", "true"]}
    _container(store, "a" * 64, "web", img, 1000.0, 0, network="bridge", publish=web)
    _container(store, "b" * 64, "hc", img, 2000.0, 0, healthcheck=hc)
    _container(store, "d" * 64, "plain", img, 4000.0, 0)
    d = container_dir(store, "b" * 64)
    d.mkdir(parents=True, exist_ok=True)
    (d / "state.json").write_text(json.dumps({"health": {"Status": "unhealthy", "FailingStreak": 3, "Log": []}}))
    p = {"argv": ["sleep", "1"], "env": [], "cwd": "/", "hostname": "h", "network": "none", "healthcheck": hc}
    rows.insert(store, "c" * 64, "new", img, "lab/web:1", p, 3000.0, lambda: "x")  # created, never started
    return store


def test_health_publish_expose_is_task_and_isolation(ported: Store) -> None:
    assert _names(ported, ["health=unhealthy"]) == ["hc"]
    assert _names(ported, ["health=none"]) == ["plain", "new", "web"]  # no check, or no result yet: docker's none
    assert _names(ported, ["health=healthy"]) == [] and _names(ported, ["health=starting"]) == []
    assert _names(ported, ["health=healthy", "health=unhealthy"]) == ["hc"]
    assert _names(ported, ["publish=80"]) == ["web"]  # the container port, tcp by default
    assert _names(ported, ["publish=80/tcp"]) == ["web"]
    assert _names(ported, ["publish=8080"]) == []  # not the host port
    assert _names(ported, ["publish=80/udp"]) == [] and _names(ported, ["publish=53/UDP"]) == ["web"]
    assert _names(ported, ["publish=79-81"]) == ["web"]
    assert _names(ported, ["publish=443"]) == []  # exposed, not published
    assert _names(ported, ["expose=443"]) == ["plain", "new", "hc", "web"]  # the image's EXPOSE
    assert _names(ported, ["expose=80"]) == ["web"]  # a published port is exposed too
    assert _names(ported, ["expose=53/udp", "publish=80"]) == ["web"]
    assert _names(ported, ["expose=9000-9999"]) == []
    assert _names(ported, ["is-task=true"]) == []  # no swarm task here
    assert _names(ported, ["is-task=false"]) == ["plain", "new", "hc", "web"]
    every = ["plain", "new", "hc", "web"]
    assert _names(ported, ["isolation=default"]) == _names(ported, ["isolation=hyperv"]) == every


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("health=sick", "Unrecognised filter value for health: sick"),
        ("is-task=maybe", "Invalid filter 'is-task=[maybe]'"),
        ("publish=80:80", "filter for 'publish' should not contain ':': 80:80"),
        ("expose=abc", 'error while looking up for expose abc: strconv.ParseUint: parsing "abc": invalid syntax'),
        ("publish=70000", 'error while looking up for publish 70000: strconv.ParseUint: parsing "70000": value out'),
        ("expose=90-80", "error while looking up for expose 90-80: Invalid range specified for the Port: 90-80"),
        ("publish=", "error while looking up for publish : Empty string specified for ports."),
        ("expose=a-b", 'error while looking up for expose a-b: strconv.ParseUint: parsing "a": invalid syntax'),
    ],
)
def test_bad_health_port_and_task_filters_are_dockers_errors(ported: Store, spec: str, message: str) -> None:
    with pytest.raises(KetchError) as e:
        _names(ported, [spec])
    assert str(e.value).startswith(message)


def test_a_bad_filter_is_dockers_error(three: Store) -> None:
    with pytest.raises(KetchError, match="invalid filter 'colour'"):
        _names(three, ["colour=red"])
    with pytest.raises(KetchError, match=r"invalid filter 'status=up': invalid value for state \(up\): must be one of"):
        _names(three, ["status=up"])
    with pytest.raises(UsageError, match="bad format of filter"):
        _names(three, ["label"])


def test_mounts_name_volumes_and_bind_sources(three: Store) -> None:
    from ketch.runtime.listing import mounts
    from ketch.runtime.state import lookup

    ms = mounts(three, lookup(three, "b"))
    assert [(m.name, m.destination, m.volume) for m in ms] == [("data", "/data", True), ("", "/host", False)]
    assert ms[1].source == "/srv/host"


# -- images -------------------------------------------------------------------


@pytest.fixture
def images(tmp_path: Path) -> Store:
    store = _store(tmp_path)
    old = _image(store, "lab/old:1", "2024-01-01T00:00:00Z", {"stage": "base", "team": "a"})
    _image(store, "docker.io/library/busybox:latest", "2024-02-01T00:00:00Z", {"stage": "prod"})
    _image(store, None, "2024-03-01T00:00:00Z")  # dangling
    _image(store, "lab/new:2", "2024-04-01T00:00:00Z", parent=old)
    return store


def _rows(store: Store, filters: list[str], all_: bool = False) -> list[str]:
    from ketch.store.inspect import image_rows

    return [f"{r.repository}:{r.tag}" for r in image_rows(store, None, all_, filters)]


def test_image_filters(images: Store) -> None:
    assert _rows(images, []) == ["lab/new:2", "<none>:<none>", "busybox:latest", "lab/old:1"]
    assert _rows(images, ["dangling=true"]) == ["<none>:<none>"]
    assert _rows(images, ["dangling=false"]) == ["lab/new:2", "busybox:latest", "lab/old:1"]
    assert _rows(images, ["label=stage"]) == ["busybox:latest", "lab/old:1"]
    assert _rows(images, ["label=stage=base", "label=team=a"]) == ["lab/old:1"]  # ANDed
    assert _rows(images, ["label=stage=base", "label=team=b"]) == []
    assert _rows(images, ["before=busybox"]) == ["lab/old:1"]
    assert _rows(images, ["since=busybox"]) == ["lab/new:2", "<none>:<none>"]
    assert _rows(images, ["since=lab/old:1", "before=lab/new:2"]) == ["<none>:<none>", "busybox:latest"]
    assert _rows(images, ["until=2024-02-15"]) == ["busybox:latest", "lab/old:1"]
    assert _rows(images, ["until=2024-02-15T00:00:00Z", "until=1706745600"]) == ["lab/old:1"]  # the earliest
    assert len(_rows(images, ["until=1h"])) == 4  # created more than an hour ago: all of them
    with pytest.raises(ImageNotFound):
        _rows(images, ["before=lab/nothing"])
    with pytest.raises(KetchError, match="invalid value for 'until' filter: failed to parse value as time or duration"):
        _rows(images, ["until=soon"])


def test_reference_globs_as_docker_matches_them(images: Store) -> None:
    assert _rows(images, ["reference=busybox"]) == ["busybox:latest"]
    assert _rows(images, ["reference=busy*:latest"]) == ["busybox:latest"]
    assert _rows(images, ["reference=docker.io/library/busybox"]) == ["busybox:latest"]  # in full, too
    assert _rows(images, ["reference=lab/*"]) == ["lab/new:2", "lab/old:1"]
    assert _rows(images, ["reference=*"]) == ["busybox:latest"]  # * stops at a /, as Go's path.Match
    assert _rows(images, ["reference=lab/*:1", "reference=busybox"]) == ["busybox:latest", "lab/old:1"]
    assert _rows(images, ["reference=lab/[mn]ew"]) == ["lab/new:2"]
    with pytest.raises(KetchError, match="syntax error in pattern"):
        _rows(images, ["reference=lab/[a"])


def test_a_bad_image_filter(images: Store) -> None:
    with pytest.raises(KetchError, match=r"invalid filter 'dangling=\[maybe\]'"):
        _rows(images, ["dangling=maybe"])
    with pytest.raises(KetchError, match="invalid filter 'colour'"):
        _rows(images, ["colour=red"])
    with pytest.raises(UsageError, match="bad format of filter"):
        _rows(images, ["dangling"])


# -- network ls --format: the predefined networks' rows ------------------------------


def test_network_ls_rows_are_dockers_fields(tmp_path: Path) -> None:
    from ketch.cli.networks import NETWORK_HEADER, network_rows
    from ketch.cli.template import format_rows
    from ketch.models.network import NetworkSummary

    nets = [NetworkSummary("1" * 64, "bridge", "bridge"), NetworkSummary("2" * 64, "host", "host")]
    out = format_rows(
        "table {{.Name}}\t{{.Driver}}\t{{.Scope}}\t{{.ID}}", network_rows(nets, ["1" * 12, "2" * 12]), NETWORK_HEADER
    )
    assert out.splitlines() == [
        "NAME      DRIVER    SCOPE     NETWORK ID",
        "bridge    bridge    local     111111111111",
        "host      host      local     222222222222",
    ]
    assert format_rows("{{json .}}", network_rows(nets[1:], ["x"]), NETWORK_HEADER) == (
        '{"Driver":"host","ID":"x","IPv4":"false","IPv6":"false","Internal":"false","Labels":"","Name":"host",'
        '"Scope":"local"}\n'
    )


def test_times_as_docker_filters_take_them() -> None:
    from ketch.models.filters import parse_time

    now = 1_800_000_000.0
    assert [now - parse_time(v, now) for v in ("10m", "1h30m", "1.5h", "90s", "500ms")] == [600, 5400, 5400, 90, 0.5]
    assert parse_time("2024-01-01T00:00:00Z", now) == 1_704_067_200
    assert parse_time("2024-01-01T10:00:00+02:00", now) == 1_704_096_000
    assert parse_time("1700000000.5", now) == 1_700_000_000.5
    for bad in ("soon", "-", "10 minutes", "1e9"):
        with pytest.raises(KetchError, match="failed to parse value as time or duration"):
            parse_time(bad, now)


def test_reference_patterns_are_gos_path_match_in_linear_time() -> None:
    import time

    from ketch.store.inspect import path_match

    for pattern, name, want in [
        ("busy*", "busybox", True), ("*", "lab/busybox", False), ("*/*", "lab/b", True), ("?", "/", False),
        ("a*b*c", "aXbYc", True), ("a*b*c", "aXbYcZ", False), ("[^a]usybox", "busybox", True),
        ("b[a-z]sy?ox", "busybox", True), ("a\\*", "a*", True), ("a\\*", "ab", False), ("", "", True),
    ]:  # fmt: skip
        assert path_match(pattern, name) is want, (pattern, name)
    start = time.monotonic()
    assert not path_match("*a" * 40 + "*b", "a" * 250)  # a regex would backtrack for ages here
    assert time.monotonic() - start < 1
    for bad in ("[", "[]", "a\\", "x[^"):
        with pytest.raises(KetchError, match="syntax error in pattern"):
            path_match(bad, "")
