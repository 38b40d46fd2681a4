"""--format and --filter on real containers and images, as docker prints
them: inspect (container and image) -f, ps, images, history and volume ls
--format (table headers, json, a Go template), ps -f label (from an
image's LABEL, built), exited, before, since, volume, network; images -f
dangling, label, reference, before, since; docker's errors and exit codes.
(`network ls --format` is tests/unit/test_list_filters.py's: listing makes the default bridge.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.ketch import Ketch, requires_root

pytestmark = requires_root


@pytest.fixture
def labelled(ketch: Ketch, tmp_path: Path) -> str:
    """lab/busybox, and lab/labelled built from it with two LABELs."""
    ketch.import_busybox("lab/busybox")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM lab/busybox\nLABEL com.example.tier=front owner="the team"\nCMD ["true"]\n')
    ketch("build", "-q", "-t", "lab/labelled", str(ctx), check=True)
    return "lab/labelled"


def test_inspect_format(ketch: Ketch, labelled: str) -> None:
    ketch("run", "--name", "done", labelled, "sh", "-c", "exit 4", check=False)
    r = ketch("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{json .Config.Cmd}}", "done")
    assert (r.rc, r.out) == (0, 'exited 4 /done ["sh","-c","exit 4"]\n')
    r = ketch(
        "image", "inspect", "--format", '{{index .Config.Labels "com.example.tier"}}|{{.Config.Labels.owner}}', labelled
    )
    assert (r.rc, r.out) == (0, "front|the team\n")
    assert ketch("inspect", "-f", "{{.Config.Labels.nothing}}", labelled).out == "<no value>\n"  # a Go map's
    # json: one compact array
    doc = json.loads(ketch("inspect", "--format", "json", "done").out)
    assert doc[0]["Name"] == "/done" and "\n" not in ketch("inspect", "--format", "json", "done").out.strip()
    # a field that is not there: docker's error after what did render, exit 1
    r = ketch("inspect", "-f", "{{.Id}}{{.Nope}}", "done", labelled)
    assert r.rc == 1 and r.out == "\n"
    assert (
        r.err.splitlines()
        == ['template parsing error: template: :1:9: executing "" at <.Nope>: map has no entry for key "Nope"'] * 2
    )
    # a template that does not parse: exit 64, nothing looked up
    r = ketch("inspect", "-f", "{{.Name", "nosuch")
    assert (r.rc, r.out, r.err.strip()) == (64, "", "template parsing error: template: :1: unclosed action")
    r = ketch("inspect", "-f", "{{.Name}}", "done", "nosuch")
    assert (r.rc, r.out, r.err.strip()) == (1, "/done\n", "Error: No such object: nosuch")


def test_ps_format_and_filters(ketch: Ketch, labelled: str) -> None:
    ketch("run", "--name", "first", labelled, check=True)
    ketch("run", "--name", "second", "-v", "cache:/cache", "lab/busybox", "sh", "-c", "exit 3", check=False)
    ketch("create", "--name", "third", labelled, check=True)

    def ps(*args: str) -> list[str]:
        r = ketch("ps", "-a", *args)
        assert r.rc == 0, r.err
        return r.out.splitlines()

    assert ps("--format", "{{.Names}}") == ["third", "second", "first"]
    table = ps("--format", 'table {{.Names}}\t{{.State}}\t{{.Label "com.example.tier"}}\t{{.Command}}')
    assert table == [
        "NAMES     STATE     tier      COMMAND",
        'third     created   front     "true"',
        "second    exited              \"sh -c 'exit 3'\"",
        'first     exited    front     "true"',
    ]
    row = json.loads(ps("--format", "{{json .}}", "-f", "name=second")[0])
    assert set(row) == {
        "Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Ports",
        "RunningFor", "Size", "State", "Status",
    }  # fmt: skip
    assert (row["Names"], row["Mounts"], row["LocalVolumes"], row["Networks"]) == ("second", "cache", "1", "none")
    assert row["Status"].startswith("Exited (3) ") and len(row["ID"]) == 12
    assert ps("--format", "{{.Labels}}", "-f", "name=first") == ["com.example.tier=front,owner=the team"]
    # filters
    assert ps("-f", "label=com.example.tier", "--format", "{{.Names}}") == ["third", "first"]
    assert ps("-f", "label=owner=the team", "-f", "label=com.example.tier=front", "--format", "{{.Names}}") == [
        "third",
        "first",
    ]
    assert ps("-f", "exited=3", "--format", "{{.Names}}") == ["second"]
    assert ps("-f", "exited=0", "-f", "exited=3", "--format", "{{.Names}}") == ["second", "first"]
    assert ps("-f", "before=third", "--format", "{{.Names}}") == ["second", "first"]
    assert ps("-f", "since=first", "--format", "{{.Names}}") == ["third", "second"]
    assert ps("-f", "volume=cache", "--format", "{{.Names}}") == ["second"]
    assert ps("-f", "volume=/cache", "--format", "{{.Names}}") == ["second"]
    assert ps("-f", "network=none", "-f", "exited=3", "--format", "{{.Names}}") == ["second"]
    assert (
        ps("-q", "-f", "label=com.example.tier=front", "--no-trunc")[0]
        == ketch("inspect", "-f", "{{.Id}}", "third").out.strip()
    )


def test_ps_errors_are_dockers(ketch: Ketch) -> None:
    cases = [
        (["--format", "{{.Nope}}"], 1, 'failed to execute template: template: :1:2: executing "" at <.Nope>: '
         "can't evaluate field Nope in type *formatter.ContainerContext"),
        (["--format", "{{.ID"], 1, "failed to parse template: template: :1: unclosed action"),
        (["-f", "colour=red"], 1, "Error response from daemon: invalid filter 'colour'"),
        (["-f", "exited=x"], 1, "Error response from daemon: invalid filter 'exited=x': "
         'strconv.Atoi: parsing "x": invalid syntax'),
        (["-f", "before=nosuch"], 1, "Error response from daemon: No such container: nosuch"),
        (["-f", "label"], 125, 'invalid argument "label" for "-f, --filter" flag: '
         "bad format of filter (expected name=value)"),
    ]  # fmt: skip
    for args, rc, err in cases:
        r = ketch("ps", *args)
        assert (r.rc, r.out, r.err.strip()) == (rc, "", err), args
    r = ketch("ps", "-q", "--format", "{{.Names}}")
    assert r.rc == 0 and "WARNING: Ignoring custom format, because both --format and --quiet are set." in r.err


def test_images_and_history_format_and_filters(ketch: Ketch, labelled: str) -> None:
    def images(*args: str) -> list[str]:
        r = ketch("images", *args)
        assert r.rc == 0, r.err
        return r.out.splitlines()

    fmt = "{{.Repository}}:{{.Tag}}"
    assert images("--format", fmt) == ["lab/labelled:latest", "lab/busybox:latest"]
    assert images("-q", "--format", fmt) == images("--format", fmt)  # docker: a custom format wins over -q
    assert images("-f", "label=com.example.tier=front", "--format", fmt) == ["lab/labelled:latest"]
    assert images("-f", "label=owner", "-f", "label=nothing", "--format", fmt) == []  # label values ANDed
    assert images("-f", "reference=lab/*", "--format", fmt) == ["lab/labelled:latest", "lab/busybox:latest"]
    assert images("-f", "reference=*bel*", "--format", fmt) == []  # * stops at a /
    assert images("-f", "reference=lab/*bel*:latest", "--format", fmt) == ["lab/labelled:latest"]
    assert images("-f", "since=lab/busybox", "--format", fmt) == ["lab/labelled:latest"]
    assert images("-f", "before=lab/labelled", "--format", fmt) == ["lab/busybox:latest"]
    assert images("-f", "dangling=false", "--format", fmt) == ["lab/labelled:latest", "lab/busybox:latest"]
    ketch("tag", labelled, "lab/again:v1", check=True)
    ketch("rmi", "lab/labelled", "lab/again:v1", check=True)  # gone from the list, its build steps remain
    assert images("-f", "dangling=true", "--format", fmt) == []  # the steps are parents: not dangling
    table = images("--format", "table {{.Repository}}\t{{.Tag}}\t{{.Size}}\t{{.Containers}}")
    assert table[0] == "REPOSITORY    TAG       SIZE      CONTAINERS"
    assert table[1].startswith("lab/busybox   latest    ") and table[1].endswith("   N/A")
    r = ketch("images", "-f", "dangling=maybe")
    assert (r.rc, r.err.strip()) == (1, "Error response from daemon: invalid filter 'dangling=[maybe]'")
    r = ketch("images", "--format", "{{.Nope}}")
    assert r.rc == 1 and r.err.strip() == (
        'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type '
        "*formatter.imageContext"
    )
    hist = ketch("history", "--format", "{{.CreatedBy}}|{{.Size}}", "lab/busybox").out.splitlines()
    assert len(hist) >= 1 and all("|" in line for line in hist)
    head = ketch("history", "--format", "table {{.ID}}\t{{.Size}}", "lab/busybox").out.splitlines()[0]
    assert head.split() == ["IMAGE", "SIZE"] and head.index("SIZE") == 15  # a 12-character id + 3


def test_volume_ls_format(ketch: Ketch) -> None:
    ketch("volume", "create", "fmt-vol", check=True)
    assert ketch("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").out == "fmt-vol local local\n"
    assert ketch("volume", "ls", "--format", "table {{.Name}}\t{{.Driver}}").out.splitlines() == [
        "VOLUME NAME   DRIVER",
        "fmt-vol       local",
    ]
    assert json.loads(ketch("volume", "ls", "--format", "json").out)["Name"] == "fmt-vol"
    r = ketch("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Mountpoint}}", "fmt-vol")
    assert (r.rc, r.out) == (0, f"fmt-vol local {ketch.root}/volumes/fmt-vol/_data\n")
    r = ketch("volume", "inspect", "--format", "{{.Name}}", "fmt-vol", "nosuch")
    assert (r.rc, r.out, r.err.strip()) == (1, "fmt-vol\n", "Error: get nosuch: no such volume")
    ketch("volume", "rm", "fmt-vol", check=True)


def test_ps_size_counts_the_containers_layer_without_following_links(ketch: Ketch) -> None:
    """-s (or .Size in a template): what the container wrote; a link to a
    host path (the host's /proc/kcore, its root) counts as a link, never as
    what the host has there."""
    ketch.import_busybox("lab/busybox")
    script = "dd if=/dev/zero of=/five bs=1000 count=5 2>/dev/null; ln -s /proc/kcore /k; mkdir /d; ln -s / /d/root"
    ketch("run", "--name", "writer", "lab/busybox", "sh", "-c", script, check=True)
    size = ketch("ps", "-a", "--format", "{{.Size}}").out.strip()
    assert size.startswith("5.") and size.split()[0].endswith("kB") and "(virtual " in size, size
    table = ketch("ps", "-a", "-s").out.splitlines()
    assert table[0].split()[-2:] == ["NAMES", "SIZE"] and table[1].endswith(size)
    assert json.loads(ketch("ps", "-a", "--format", "{{json .}}").out)["Size"] == size  # json asks for it too
    assert ketch("ps", "-a", "--format", "{{.Names}}").out == "writer\n"
