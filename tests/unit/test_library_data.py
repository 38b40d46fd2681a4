"""The data the library hands a face (no root, no registry): what the CLI
prints and the Engine API would serialise comes from these functions, never
from code in cli/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ketch.config import Settings
from ketch.errors import ConflictError, ImageNotFound, KetchError, ObjectNotFound, UsageError
from ketch.reference import parse
from ketch.store import Store
from ketch.store import containers as rows
from ketch.store import images as imgs

CID = "c0" * 32


def _store(tmp_path: Path) -> Store:
    return Store(settings=Settings(tmp_path / "root", environ={"KETCH_RUN_ROOT": str(tmp_path / "run")}))


def _history(n: int) -> list[dict[str, Any]]:
    return [
        {"created": f"2024-01-0{i + 1}T00:00:00Z", "created_by": f"/bin/sh -c step {i}", "empty_layer": True}
        for i in range(n)
    ]


def _base(store: Store, tag: str = "lab/base:1") -> str:
    cfg = {**imgs.scratch_config(), "created": "2024-01-01T00:00:00Z", "history": _history(2)}
    return imgs.create_image(store, cfg, tag=parse(tag))


def _child(store: Store, parent: str, tag: str = "lab/child:1") -> str:
    history = {"created": "2024-02-01T00:00:00Z", "created_by": "ketch commit", "comment": "made here"}
    return imgs.create_image(store, {"Cmd": ["sh"]}, parent=parent, history=history, tag=parse(tag))


def _container(store: Store, image_id: str, state: str = "created", **config: Any) -> None:
    p = {"argv": ["sh", "-c", "echo hi"], "env": ["A=1"], "cwd": "/", "hostname": "h", "network": "none", **config}
    rows.insert(store, CID, "web", image_id, "lab/base:1", p, 1_700_000_000.0, lambda: "x")
    if state == "exited":
        rows.set_exited(store, CID, 3, 1_700_000_100.0)


# -- store/inspect.py ----------------------------------------------------------


def test_image_inspect_is_dockers_document(tmp_path: Path) -> None:
    from ketch.store.inspect import image_inspect

    store = _store(tmp_path)
    base = _base(store)
    doc = image_inspect(store, "lab/base:1")
    assert doc["Id"] == base
    assert doc["RepoTags"] == ["lab/base:1"]
    assert doc["Parent"] == ""
    assert doc["RootFS"] == {"Type": "layers", "Layers": []}
    assert "Variant" not in doc  # omitted when the config has none, as docker's omitempty
    assert image_inspect(store, _child(store, base))["Comment"] == "made here"
    with pytest.raises(ImageNotFound):
        image_inspect(store, "lab/nothing")


def test_history_is_newest_first_with_the_ids_still_here(tmp_path: Path) -> None:
    from ketch.store.inspect import history

    store = _store(tmp_path)
    base = _base(store)
    child = _child(store, base)
    rows_ = history(store, "lab/child:1")
    assert [r.created_by for r in rows_] == ["ketch commit", "/bin/sh -c step 1", "/bin/sh -c step 0"]
    assert [r.image.id if r.image else None for r in rows_] == [child, base, None]
    assert rows_[0].comment == "made here" and rows_[0].size == 0


def test_image_rows_name_each_tag_and_hide_intermediate_images(tmp_path: Path) -> None:
    from ketch.store.inspect import image_rows

    store = _store(tmp_path)
    base = _base(store)
    _child(store, base)
    imgs.tag(store, "lab/child:1", "lab/child:2")
    names = sorted((r.repository, r.tag) for r in image_rows(store))
    assert names == [("lab/base", "1"), ("lab/child", "1"), ("lab/child", "2")]
    assert [r.tag for r in image_rows(store, "lab/child:2")] == ["2"]
    imgs.remove(store, "lab/base:1")  # untagged: the child's parent, now intermediate
    assert {r.repository for r in image_rows(store)} == {"lab/child"}
    assert ("<none>", "<none>") in {(r.repository, r.tag) for r in image_rows(store, all_=True)}


# -- store/images.py: remove ---------------------------------------------------


def test_remove_reports_what_it_untagged_then_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    base = _base(store)
    imgs.tag(store, "lab/base:1", "lab/base:2")
    first = imgs.remove(store, "lab/base:1")
    assert (first.untagged, first.deleted) == (["lab/base:1"], [])  # another name still holds it
    last = imgs.remove(store, "lab/base:2")
    assert last.untagged == ["lab/base:2"]
    assert last.deleted == [base]
    with pytest.raises(ImageNotFound):
        imgs.get(store, base)


def test_remove_refuses_an_image_a_container_uses(tmp_path: Path) -> None:
    store = _store(tmp_path)
    base = _base(store)
    _container(store, base)
    with pytest.raises(ConflictError, match="is using its referenced image"):
        imgs.remove(store, "lab/base:1")
    forced = imgs.remove(store, "lab/base:1", force=True)
    assert (forced.untagged, forced.deleted) == (["lab/base:1"], [])  # the image stays for its container


# -- store/archive.py: save_to_file --------------------------------------------


def test_save_to_file_leaves_no_half_archive(tmp_path: Path) -> None:
    import tarfile

    from ketch.store.archive import save_to_file

    store = _store(tmp_path)
    _base(store)
    target = tmp_path / "out.tar"
    save_to_file(store, ["lab/base:1"], target)
    with tarfile.open(target) as tf:
        assert "manifest.json" in tf.getnames()
    with pytest.raises(ImageNotFound):
        save_to_file(store, ["lab/nothing"], tmp_path / "bad.tar")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tar") or "ketch-tmp" in p.name) == ["out.tar"]


def test_load_returns_the_images_and_their_names(tmp_path: Path) -> None:
    from ketch.store.archive import Loaded, load, save_to_file

    store = _store(tmp_path)
    base = _base(store)
    save_to_file(store, ["lab/base:1"], tmp_path / "named.tar")
    save_to_file(store, [base], tmp_path / "by-id.tar")
    other = Store(settings=Settings(tmp_path / "other", environ={"KETCH_RUN_ROOT": str(tmp_path / "run")}))
    with open(tmp_path / "named.tar", "rb") as f:
        assert load(other, f) == [Loaded(base, ["lab/base:1"])]
    with open(tmp_path / "by-id.tar", "rb") as f:
        assert [x.image_id for x in load(other, f)] == [base]


# -- runtime/inspect.py --------------------------------------------------------


def test_container_inspect_and_inspect_any(tmp_path: Path) -> None:
    from ketch.runtime.inspect import container_inspect, inspect_any

    store = _store(tmp_path)
    base = _base(store)
    _container(store, base, limits={"memory": 1 << 30, "cpus": 1.5, "pids": 64})
    doc = container_inspect(store, "web")
    assert (doc["Id"], doc["Name"], doc["Path"], doc["Args"]) == (CID, "/web", "sh", ["-c", "echo hi"])
    assert doc["Created"] == "2023-11-14T22:13:20.000000Z"
    assert doc["State"]["Status"] == "created" and doc["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    hc = doc["HostConfig"]
    assert (hc["NetworkMode"], hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == ("none", 1 << 30, 1_500_000_000, 64)
    # every key docker shows, set or not (tests/integration/test_docker_parity.py holds the whole set to docker's)
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0} and hc["ShmSize"] == 64 << 20
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    ns = doc["NetworkSettings"]
    assert (ns["IPAddress"], ns["Ports"]) == ("", {}) and set(ns["Networks"]) == {"none"}
    assert inspect_any(store, "web")["Id"] == CID  # a container first
    assert inspect_any(store, "lab/base:1")["Id"] == base  # then an image
    with pytest.raises(ObjectNotFound, match="No such object: nothing"):
        inspect_any(store, "nothing")


def test_wait_exit_gives_the_recorded_code(tmp_path: Path) -> None:
    from ketch.runtime.inspect import wait_exit

    store = _store(tmp_path)
    _container(store, _base(store), state="exited")
    assert wait_exit(store, "web") == 3


def test_select_keeps_what_ps_filters_keep(tmp_path: Path) -> None:
    from ketch.runtime.listing import select

    store = _store(tmp_path)
    _container(store, _base(store), state="exited")
    assert select(store) == []  # running ones only
    assert [c.id for c in select(store, all_=True)] == [CID]
    assert [c.id for c in select(store, filters=["status=exited"])] == [CID]  # a status filter shows stopped ones
    assert select(store, True, ["name=nope"]) == []
    assert [c.name for c in select(store, True, ["id=c0c0", "ancestor=lab/base:1"])] == ["web"]
    with pytest.raises(KetchError, match="invalid filter 'colour'"):
        select(store, True, ["colour=red"])
    with pytest.raises(KetchError, match="bad format of filter"):
        select(store, True, ["status"])


def test_logs_reads_the_json_file_lines(tmp_path: Path) -> None:
    from ketch.runtime.inspect import logs
    from ketch.runtime.state import log_path, lookup

    store = _store(tmp_path)
    _container(store, _base(store), state="exited")
    path = log_path(store, lookup(store, "web"))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"log": f"line {i}\n", "stream": "stderr" if i == 2 else "stdout", "time": f"t{i}"} for i in range(4)]
    path.write_text("not json\n" + "\n".join(json.dumps(x) for x in lines) + "\n")  # a torn line is passed over
    assert [e.text for e in logs(store, "web")] == [f"line {i}\n" for i in range(4)]
    tail = list(logs(store, "web", tail="2"))
    assert [(e.stream, e.time) for e in tail] == [("stderr", "t2"), ("stdout", "t3")]
    assert list(logs(store, "web", tail="0")) == []
    assert len(list(logs(store, "web", follow=True, tail="-1"))) == 4  # not running: follow ends at the end
    with pytest.raises(KetchError, match="--tail"):
        list(logs(store, "web", tail="x"))


def test_port_of_a_stopped_container_is_none_published(tmp_path: Path) -> None:
    from ketch.runtime.inspect import port

    store = _store(tmp_path)
    _container(store, _base(store), state="exited")
    assert port(store, "web") == []
    with pytest.raises(KetchError, match="No public port '80/tcp' published for web"):
        port(store, "web", "80")


# -- runtime/launch.py ---------------------------------------------------------


def test_run_flags_become_the_runtimes_options(tmp_path: Path) -> None:
    from ketch.runtime import launch

    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=1\n")
    settings = Settings(environ={"KETCH_DEFAULT_NETWORK": "none"})
    o = launch.options(
        settings, tty=True, memory="64m", cpus=0.5, env_file=[str(env_file)], env=["A=1"], volumes=None, name="x"
    )
    assert (o.network, o.tty, o.name, o.volumes) == ("none", True, "x", [])
    assert (o.limits.memory, o.limits.cpus, o.limits.pids) == (64 << 20, 0.5, None)
    assert o.env == ["FROM_FILE=1", "A=1"]  # --env-file first, -e wins
    assert launch.options(Settings(environ={})).network == "bridge"
    assert launch.options(settings, network="host").network == "host"
    assert launch.options(settings, restart="on-failure:2").restart == "on-failure:2"
    with pytest.raises(UsageError, match="invalid restart policy"):
        launch.options(settings, restart="sometimes")
    with pytest.raises(KetchError) as e:
        launch.options(settings, cpus=-1.0)
    assert e.value.exit_code == 125
    with pytest.raises(TypeError, match="not a run option: colour"):
        launch.options(settings, colour="red")


# -- registry/search.py, registry/server/checks.py -----------------------------


def test_search_filters_as_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.registry import search

    answer = [
        {"name": "a", "description": None, "star_count": 5, "is_official": True},
        {"name": "b", "description": "bee", "star_count": "12", "is_official": False, "is_automated": True},
    ]
    monkeypatch.setattr(search, "_ask", lambda term, limit, settings: answer[:limit])
    assert [r.name for r in search.search("x")] == ["a", "b"]
    assert search.search("x")[0] == search.SearchResult("a", "", 5, True, False)
    assert [r.name for r in search.search("x", filters=["stars=10"])] == ["b"]
    assert [r.name for r in search.search("x", filters=["is-official=false"])] == ["b"]
    assert [r.name for r in search.search("x", 1, ["is-automated=true"])] == ["a"]
    for bad in ("stars=many", "colour=red", "is-official=yes"):
        with pytest.raises(UsageError, match="invalid filter"):
            search.parse_filters([bad])


def test_logout_says_whether_there_was_anything_to_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.registry.login import Logout, logout

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"lab.example:5000": {"auth": "eDp5"}}}))
    assert logout("lab.example:5000") == Logout("lab.example:5000", True)
    assert logout("https://lab.example:5000/") == Logout("lab.example:5000", False)
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {}
    assert logout(None).server == "https://index.docker.io/v1/"


def test_serve_options_are_checked_before_listening(tmp_path: Path) -> None:
    from ketch.registry.server.checks import check_access_file, check_listen_address, check_serve_options

    check_listen_address("127.0.0.1:5000")
    check_listen_address("[::1]:5000")
    for addr, why in (("host", "missing port"), ("h:99999", "invalid port"), ("::1:80", "too many colons")):
        with pytest.raises(UsageError, match=why):
            check_listen_address(addr)
    good = tmp_path / "ok.json"
    good.write_text(json.dumps({"repositories": {"lab/*": {"pull": ["ann"], "push": ["bob"]}}}))
    check_access_file(str(good))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"repositories": {"lab/*": {"pull": "ann"}}}))
    with pytest.raises(UsageError, match="expected"):
        check_access_file(str(bad))
    with pytest.raises(UsageError, match="use basic or token"):
        check_serve_options("127.0.0.1:5000", "magic", None, 30.0, 1, 1)
    with pytest.raises(UsageError, match="positive number of seconds"):
        check_serve_options("127.0.0.1:5000", "basic", None, float("nan"), 1, 1)


# -- network/networks.py, builder/state.py -------------------------------------


def test_network_inspect_document(tmp_path: Path) -> None:
    import ipaddress

    from ketch.models.network import Network
    from ketch.network.networks import inspect_document
    from ketch.store import networks as net_rows

    store = _store(tmp_path)
    net = Network("lab", "ee" * 32, ipaddress.IPv4Network("10.9.0.0/24"), ipaddress.IPv4Address("10.9.0.1"), "kx0", 0.5)
    net_rows.insert(store, net)
    doc = inspect_document(store, "lab")
    assert (doc["Name"], doc["Id"], doc["Created"]) == ("lab", "ee" * 32, "1970-01-01T00:00:00.500000Z")
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]
    assert doc["Options"] == {"com.docker.network.bridge.name": "kx0"} and doc["Containers"] == {}


def test_network_create_has_the_bridge_driver_only(tmp_path: Path) -> None:
    from ketch.network.networks import create

    with pytest.raises(KetchError, match='plugin "overlay" not found'):
        create(_store(tmp_path), "lab", driver="overlay")


def test_build_args_and_labels_as_docker_reads_them() -> None:
    from ketch.builder.state import build_args, labels

    assert build_args(["A=1", "B", "C", "D="], {"B": "from env"}) == {"A": "1", "B": "from env", "D": ""}
    assert labels(["a=1", "b"]) == {"a": "1", "b": ""}


def test_times_in_documents_are_rfc3339() -> None:
    from ketch.runtime.inspect import _time

    assert _time(None) == "0001-01-01T00:00:00Z"
    assert _time(time.mktime((2024, 1, 2, 3, 4, 5, 0, 0, 0)) - time.timezone).startswith("2024-01-02T03:04:05")


def test_status_text_is_docker_s_status_column() -> None:
    """ps's STATUS (and the Engine API's Status) from the container record."""
    import time
    from types import SimpleNamespace

    from ketch.runtime.listing import status_text

    now = time.time()

    def c(**kw: object) -> Any:
        base = dict(state="created", started=None, finished=None, exit_code=None, paused=False,
                    restarting=False, config={}, health=None)  # fmt: skip
        return SimpleNamespace(**{**base, **kw})

    assert status_text(c()) == "Created"
    assert status_text(c(state="running", started=now - 300)) == "Up 5 minutes"
    assert status_text(c(state="running", started=now - 300, paused=True)) == "Up 5 minutes (Paused)"
    hc = {"healthcheck": {"Test": ["CMD", "true"]}}
    assert status_text(c(state="running", started=now - 3, config=hc)) == "Up 3 seconds (health: starting)"
    running_healthy = c(state="running", started=now - 3, config=hc, health={"Status": "healthy"})
    assert status_text(running_healthy) == "Up 3 seconds (healthy)"
    assert status_text(c(state="exited", finished=now - 7200, exit_code=3)) == "Exited (3) 2 hours ago"
    assert (
        status_text(c(state="running", restarting=True, exit_code=1, finished=now - 2))
        == "Restarting (1) 2 seconds ago"
    )


def test_disk_size_counts_as_docker_and_never_follows_a_link(tmp_path: Path) -> None:
    """SizeRw and volume sizes: files by size, a file with two names once, a
    link by its own size, a linked directory (to the host's /usr) not entered."""
    import os

    from ketch.runtime.state import disk_size

    (tmp_path / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "a", tmp_path / "a2")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 24)
    (tmp_path / "link").symlink_to("/usr")
    assert disk_size(tmp_path) == 1000 + 24 + len("/usr")


def test_wide_records_compare_and_print_as_dataclass_makes_them() -> None:
    """runtime.spec.Options and runtime.state.Container take their equality
    and repr from models.records.Record: the same as the dataclass-generated
    ones of a class with their fields (and unhashable, as those are)."""
    import dataclasses

    from ketch import records
    from ketch.runtime.spec import Options

    def plain_of(cls: type) -> type:
        def spec(name: str, value: object) -> tuple[str, object, dataclasses.Field]:
            if isinstance(value, records._Factory):
                return name, object, dataclasses.field(default_factory=value.make)
            if value is records._MISSING:
                return name, object, dataclasses.field()
            return name, object, dataclasses.field(default=value)

        return dataclasses.make_dataclass(cls.__name__, [spec(n, v) for n, v in cls.__record_specs__.items()])  # type: ignore[attr-defined]

    plain = plain_of(Options)
    a, b = Options(name="web", env=["A=1"]), Options(name="web", env=["A=1"])
    assert a == b and a != Options(name="db") and a != "web" and (a == object()) is False
    assert repr(a) == repr(plain(name="web", env=["A=1"]))
    with pytest.raises(TypeError):
        hash(a)
    assert {n: getattr(a, n) for n in records.fields_of(a)} == dataclasses.asdict(plain(name="web", env=["A=1"]))

    from ketch.runtime.state import Container

    row = ["c" * 64, "web", "sha256:" + "1" * 64, "busybox", {"argv": ["true"]}, 1.0, "exited", None, None, 0, 2.0, 3.0]
    plain_c = plain_of(Container)
    assert repr(Container(*row)) == repr(plain_c(*row)) and Container(*row) == Container(*row)
