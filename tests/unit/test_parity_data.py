"""What the side-by-side comparison with docker (tests/integration/test_docker_parity.py)
found, pinned where no root is needed: network ls's filters, docker's CLI config
formats (psFormat...), top's rows as docker's daemon splits them, the row
contexts' JSON (Go's HTML escaping), docker's tables' minimum width."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketch.config import Settings
from ketch.errors import KetchError
from ketch.store import Store


def _store(tmp_path: Path) -> Store:
    return Store(settings=Settings(tmp_path / "root", environ={"KETCH_RUN_ROOT": str(tmp_path / "run")}))


def test_network_ls_filters_as_dockers_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.network import networks
    from ketch.store import networks as rows

    store = _store(tmp_path)
    monkeypatch.setattr(networks, "ensure_default", lambda s: None)  # no bridge made: the rows are the test
    monkeypatch.setattr(rows, "all_networks", lambda s: [])

    def names(*filters: str) -> list[str]:
        return [n.name for n in networks.summaries(store, list(filters))]

    assert names() == ["host", "none"]
    assert names("name=no") == ["none"]  # anywhere in the name
    assert names("name=o") == ["host", "none"]
    assert names("driver=null") == ["none"] and names("driver=nul") == []  # a driver exactly
    assert names("type=builtin") == ["host", "none"] and names("type=custom") == []
    assert names("id=" + networks.predefined_id("host")[:10]) == ["host"]
    assert names("name=host", "name=none") == ["host", "none"]  # a key's values ORed
    assert names("name=host", "driver=null") == []  # keys ANDed
    assert names("label=x") == []
    with pytest.raises(KetchError, match="invalid filter 'colour'"):
        names("colour=red")
    with pytest.raises(KetchError, match="invalid filter: 'type'='x'"):
        names("type=x")


def test_predefined_networks_inspect_as_dockers(tmp_path: Path) -> None:
    from ketch.network.networks import inspect_document, predefined_id

    doc = inspect_document(_store(tmp_path), "none")
    assert (doc["Name"], doc["Id"], doc["Driver"], doc["Containers"]) == ("none", predefined_id("none"), "null", {})
    assert doc["IPAM"] == {"Driver": "default", "Options": None, "Config": []} and doc["ConfigFrom"] == {"Network": ""}
    assert inspect_document(_store(tmp_path), predefined_id("host")[:12])["Driver"] == "host"


def test_listing_formats_from_dockers_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ketch.cli import _common
    from ketch.cli._format import config_format

    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"psFormat": "table {{.Names}}", "auths": {}}))
    monkeypatch.setattr(_common, "settings", Settings(tmp_path / "root", environ={"HOME": str(home)}))
    assert config_format("psFormat") == "table {{.Names}}"
    assert config_format("imagesFormat") is None
    other = tmp_path / "cfg"
    other.mkdir()
    (other / "config.json").write_text('{"imagesFormat": "{{.ID}}", "psFormat": 3}')
    monkeypatch.setattr(
        _common, "settings", Settings(tmp_path / "root", environ={"HOME": str(home), "DOCKER_CONFIG": str(other)})
    )
    assert (config_format("imagesFormat"), config_format("psFormat")) == ("{{.ID}}", None)  # a format is a string
    (other / "config.json").write_text("{not json")
    assert config_format("imagesFormat") is None
    (other / "config.json").write_text("[" * 200_000)  # nested past the stack: none set, no traceback
    assert config_format("imagesFormat") is None
    (other / "config.json").write_bytes(b'{"imagesFormat": "{{.ID}}", "x": "' + b"y" * (2 << 20) + b'"}')
    assert config_format("imagesFormat") is None  # read to 1 MiB only: not a document


def test_top_rows_split_as_dockers_daemon() -> None:
    from ketch.runtime.inspect import Top

    t = Top("UID   PID  CMD", ["root  12   sleep 600", "root  13   sh -c  x  y"])
    assert t.processes == [["root", "12", "sleep 600"], ["root", "13", "sh -c x y"]]
    from ketch.cli.template.table import tabwrite

    text = tabwrite("\n".join("\t".join(r) for r in [t.titles, *t.processes]), minwidth=20)
    assert text.splitlines()[0] == "UID" + " " * 17 + "PID" + " " * 17 + "CMD"


def test_row_contexts_marshal_as_go_does() -> None:
    from ketch.cli.template import Row
    from ketch.cli.template.funcs import go_json

    row = Row("*formatter.imageContext", {"Digest": "<none>", "Tag": "a&b"})
    assert go_json(row) == '{"Digest":"\\u003cnone\\u003e","Tag":"a\\u0026b"}'
    assert go_json({"Digest": "<none>"}) == '{"Digest":"<none>"}'  # docker's json function: no HTML escaping


def test_volume_labels_are_kept(tmp_path: Path) -> None:
    from ketch.runtime import volumes

    store = _store(tmp_path)
    v, new = volumes.create(store, "v1", labels={"k": "v"})
    assert new and volumes.get(store, "v1").inspect()["Labels"] == {"k": "v"}
    assert volumes.create(store, "v2")[0].inspect()["Labels"] is None


def test_events_are_dockers_message_in_templates() -> None:
    from ketch.cli.system import _event_row
    from ketch.cli.template import TemplateError, render
    from ketch.store.events import Event

    e = Event("container", "die", "c" * 64, {"name": "web", "image": "a<b", "exitCode": "3"}, 1_700_000_000_123)
    row = _event_row(e)
    assert render("{{.ID}} {{.Status}} {{.From}} {{.Actor.Attributes.name}} {{.Actor.Attributes.nope}}", row) == (
        "c" * 64 + " die a<b web <no value>"
    )
    assert render("{{json .}}", row).startswith('{"status":"die","id":"' + "c" * 64 + '","from":"a<b","Type"')
    with pytest.raises(TemplateError, match=r"can't evaluate field Nope in type \*events.Message"):
        render("{{.Nope}}", row)


def test_an_attached_run_is_logged_as_json_file(tmp_path: Path) -> None:
    from ketch.runtime.inspect import _entry
    from ketch.runtime.stdio import JsonFileLog

    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path))
    log.write(b"one\ntw", "stdout")
    log.write(b"o\n", "stdout")
    log.write(b"err\n", "stderr")
    log.write(b"x" * (JsonFileLog.MAX_LINE + 5), "stdout")
    log.write(b"partial", "stderr")
    log.close()
    entries = [_entry(line) for line in path.read_text().splitlines()]
    assert [(e.stream, e.text) for e in entries if e] == [
        ("stdout", "one\n"), ("stdout", "two\n"), ("stderr", "err\n"), ("stdout", "x" * JsonFileLog.MAX_LINE),
        ("stdout", "xxxxx"), ("stderr", "partial"),
    ]  # fmt: skip
    assert all(e and e.time.endswith("Z") and len(e.time) == 30 for e in entries)
    assert path.stat().st_mode & 0o137 == 0  # 0640 at most, as docker's
    link = tmp_path / "link-json.log"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        JsonFileLog(str(link))  # never through a link
    assert not (tmp_path / "elsewhere").exists()
