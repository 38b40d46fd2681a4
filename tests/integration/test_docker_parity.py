"""ketch against docker, verb by verb, on the same image: exit codes, table
headers and column layout, the cells with ids, times and sizes normalised,
inspect's key sets and value types, error lines.

docker's side is a recording (tests/fixtures/docker/*.json: the command line,
its exit code, stdout and stderr normalised, the table's header and column
starts, inspect's keys), so CI without a dockerd still checks it. Record again
from a live dockerd with

    KETCH_WRITE_FIXTURES=1 DOCKER_HOST=unix:///run/ketch-bench/docker.sock \
        pytest tests/integration/test_docker_parity.py

which builds the busybox image in a ketch store, gives docker the very same
image (`ketch save | docker load`), plays SETUP and every case under docker
(`--net=none`: no bridge there) and removes what it made in docker.
In normal mode the same SETUP and cases run under ketch and are compared
with the recording."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.ketch import KETCH, Ketch, Result, requires_root

pytestmark = requires_root

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "docker"
RECORD = os.environ.get("KETCH_WRITE_FIXTURES") == "1" and bool(os.environ.get("DOCKER_HOST"))
IMAGE = "ketchparity/busybox"
P = "ketchparity-"  # every name made in the shared dockerd starts so (the clean-up removes those alone)

# Played in order under both engines before the cases (run and create with --net=none: docker has no bridge here).
SETUP: list[list[str]] = [
    ["tag", IMAGE, f"{IMAGE}:v2"],
    ["run", "--net=none", "--name", P + "exit3", IMAGE, "sh", "-c", "exit 3"],
    ["run", "-d", "--net=none", "--name", P + "up", "-l", "tier=front", IMAGE, "sleep", "600"],
    ["create", "--net=none", "--name", P + "new", "-l", "tier=back", IMAGE, "echo", "hi"],
    ["run", "-d", "--net=none", "--name", P + "out", IMAGE, "sh", "-c", "echo one; echo two; echo three"],
    ["wait", P + "out"],
    ["run", "--net=none", "--name", P + "fg", IMAGE, "sh", "-c", "echo out; echo err >&2; printf part"],
    ["volume", "create", "--label", "k=v", P + "vol"],
]


@dataclass(frozen=True)
class Case:
    """One command line and what of its output is compared: `table` (header,
    column starts by docker's tabwriter rule, the normalised cells), `text`
    (normalised stdout), `jsonl` (the keys of each JSON line), `inspect` (the
    document's key paths and value types), `rc` (exit code and, on stderr,
    the facts docker's error line names). The exit code is compared always."""

    id: str
    argv: list[str]
    kind: str = "text"
    minwidth: int = 10  # docker's formatter tables; top has 20
    columns: list[str] | None = None  # the table columns compared cell by cell (None: all)
    rows: bool = True  # False: only the header and the layout
    sizes: bool = True  # False: sizes normalised too
    config: dict[str, str] | None = None  # a docker CLI config.json both engines read (DOCKER_CONFIG)
    subset: bool = False  # jsonl, labels: what ketch prints is among docker's (docker's says more than ketch claims)


MISSING = "nosuch-" + P.rstrip("-")
CASES: list[Case] = [
    # -- images --
    Case("images", ["images"], "table"),
    Case("images-a", ["images", "-a"], "table"),
    Case("images-q", ["images", "-q"]),
    Case("images-digests", ["images", "--digests"], "table"),
    Case("images-no-trunc", ["images", "--no-trunc"], "table"),
    Case("images-format-table", ["images", "--format", "table"], "table"),
    Case("images-format-json", ["images", "--format", "json"], "jsonl"),
    Case("images-format-json-text", ["images", "--format", "json"], sizes=False),  # recorded with sizes normalised
    Case("images-format-tpl", ["images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.Size}}"], "table"),
    Case("images-repo", ["images", IMAGE], "table"),
    # -- ps --
    Case("ps", ["ps"], "table"),
    Case("ps-a", ["ps", "-a"], "table"),
    Case("ps-q", ["ps", "-q"]),
    Case("ps-aq", ["ps", "-a", "-q"]),
    Case("ps-s", ["ps", "-s"], "table"),
    Case("ps-l", ["ps", "-l"], "table"),
    Case("ps-n", ["ps", "-n", "2"], "table"),
    Case("ps-no-trunc", ["ps", "-a", "--no-trunc"], "table"),
    Case("ps-status-exited", ["ps", "-a", "--filter", "status=exited"], "table"),
    Case("ps-status-created", ["ps", "-a", "--filter", "status=created"], "table"),
    Case("ps-exited-3", ["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"]),
    Case("ps-label", ["ps", "-a", "--filter", "label=tier", "--format", "{{.Names}} {{.Labels}}"]),
    Case("ps-label-value", ["ps", "-a", "--filter", "label=tier=back", "--format", "{{.Names}}"]),
    Case("ps-name", ["ps", "-a", "--filter", "name=" + P + "ex", "--format", "{{.Names}}"]),
    Case("ps-ancestor", ["ps", "-a", "--filter", "ancestor=" + IMAGE, "--format", "{{.Names}}"]),
    Case("ps-format-table", ["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}\t{{.Command}}"], "table"),
    Case("ps-format-json", ["ps", "-a", "--format", "json"], "jsonl"),
    # -- inspect --
    Case("inspect-container", ["inspect", P + "up"], "inspect"),
    Case("inspect-created", ["container", "inspect", P + "new"], "inspect"),
    Case("inspect-image", ["image", "inspect", IMAGE], "inspect"),
    Case("inspect-volume", ["volume", "inspect", P + "vol"], "inspect"),
    Case("inspect-network", ["network", "inspect", "none"], "inspect"),
    Case(
        "inspect-format", ["inspect", "-f", "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}} {{.Name}}", P + "up"]
    ),
    # -- history, port, logs, top, diff, wait --
    Case("history", ["history", IMAGE], "table"),
    Case("history-no-trunc", ["history", "--no-trunc", IMAGE], "table"),
    Case("history-q", ["history", "-q", IMAGE]),
    Case("history-json", ["history", "--format", "json", IMAGE], "jsonl"),
    Case("port", ["port", P + "up"]),
    Case("port-80", ["port", P + "up", "80"], "rc"),
    Case("logs", ["logs", P + "out"]),
    Case("logs-tail", ["logs", "--tail", "2", P + "out"]),
    Case("logs-t", ["logs", "-t", P + "out"]),
    Case("logs-since-past", ["logs", "--since", "2000-01-01T00:00:00Z", P + "out"]),
    Case("logs-since-future", ["logs", "--since", "2099-01-01T00:00:00Z", P + "out"]),
    Case("logs-foreground", ["logs", P + "fg"]),  # a run attached has its log too
    Case("logs-foreground-t", ["logs", "-t", P + "fg"]),
    Case(
        "events",
        [
            "events",
            "--since",
            "10m",
            "--until",
            "0s",
            "--filter",
            "container=" + P + "fg",
            "--format",
            "{{.ID}} {{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ],
    ),
    Case(
        "events-json",
        ["events", "--since", "10m", "--until", "0s", "--filter", "container=" + P + "fg", "--format", "{{json .}}"],
        "jsonl",
    ),
    Case("top", ["top", P + "up"], "table", minwidth=20, columns=["UID", "TTY", "CMD"]),
    Case("top-o", ["top", P + "up", "-o", "pid,comm"], "table", minwidth=20, columns=["COMMAND"]),
    Case("diff", ["diff", P + "up"]),
    Case("wait", ["wait", P + "exit3"]),
    # -- run's exit codes --
    Case("run-exit-3", ["run", "--rm", "--net=none", IMAGE, "sh", "-c", "exit 3"], "rc"),
    Case("run-not-found", ["run", "--rm", "--net=none", IMAGE, "nosuchcmd"], "rc"),
    Case("run-not-executable", ["run", "--rm", "--net=none", IMAGE, "/etc/passwd"], "rc"),
    Case("run-bad-flag", ["run", "--nosuchflag", IMAGE], "rc"),
    Case("run-no-image", ["run", "--rm", "--net=none", "--pull", "never", "ketchparity/nosuch"], "rc"),
    Case("run-no-registry", ["run", "--rm", "--net=none", "127.0.0.1:1/ketchparity/nosuch"], "rc"),
    Case("exec-exit-3", ["exec", P + "up", "sh", "-c", "exit 3"], "rc"),
    Case("exec-not-found", ["exec", P + "up", "nosuchcmd"], "rc"),
    Case("exec-not-running", ["exec", P + "new", "true"], "rc"),
    Case("pause-unpause", ["pause", P + "up"], "text"),
    Case("ps-paused", ["ps", "--filter", "status=paused", "--format", "{{.Names}} {{.State}}"]),
    Case("pause-again", ["pause", P + "up"], "rc"),
    Case("unpause", ["unpause", P + "up"], "text"),
    Case("unpause-again", ["unpause", P + "up"], "rc"),
    Case("rename", ["rename", P + "new", P + "renamed"], "text"),
    Case("rename-back", ["rename", P + "renamed", P + "new"], "text"),
    Case("rename-taken", ["rename", P + "new", P + "up"], "rc"),
    Case("tag-missing", ["tag", "ketchparity/nosuch", "ketchparity/x"], "rc"),
    Case("start-running", ["start", P + "up"], "text"),
    Case("kill-not-running", ["kill", P + "exit3"], "rc"),
    Case("rm-running", ["rm", P + "up"], "rc"),
    # -- a missing container or image: docker's exit code, the same facts --
    *[
        Case(f"missing-{verb}", [verb, MISSING], "rc")
        for verb in (
            "stop",
            "rm",
            "start",
            "kill",
            "pause",
            "unpause",
            "wait",
            "top",
            "diff",
            "port",
            "logs",
            "inspect",
            "restart",
            "rmi",
            "history",
        )
    ],  # fmt: skip
    Case("missing-rename", ["rename", MISSING, "x"], "rc"),
    Case("missing-tag", ["tag", MISSING, "x"], "rc"),
    Case("missing-cp", ["cp", MISSING + ":/etc/hostname", "-"], "rc"),
    Case("missing-exec", ["exec", MISSING, "true"], "rc"),
    Case("missing-image-inspect", ["image", "inspect", MISSING], "rc"),
    Case("missing-container-inspect", ["container", "inspect", MISSING], "rc"),
    # -- volumes, networks, system --
    Case("volume-ls", ["volume", "ls"], "table"),
    Case("volume-ls-q", ["volume", "ls", "-q"]),
    Case("volume-ls-json", ["volume", "ls", "--format", "json"], "jsonl"),
    Case("volume-create", ["volume", "create", P + "vol2"]),
    Case("volume-rm", ["volume", "rm", P + "vol2"]),
    Case("volume-rm-missing", ["volume", "rm", MISSING], "rc"),
    Case("volume-inspect-missing", ["volume", "inspect", MISSING], "rc"),
    # (network ls is not here: under ketch it makes the default bridge; tests/unit/test_list_filters.py has it)
    Case("network-rm-missing", ["network", "rm", MISSING], "rc"),
    Case("network-inspect-missing", ["network", "inspect", MISSING], "rc"),
    Case("network-rm-builtin", ["network", "rm", "none"], "rc"),
    Case("system-df", ["system", "df"], "table", columns=["TYPE"]),
    # docker's CLI config: psFormat and imagesFormat are the default formats
    Case(
        "cliconfig-ps", ["ps", "-a"], "table", config={"psFormat": 'table {{.Names}}\t{{.Command}}\t{{.Label "tier"}}'}
    ),
    Case("cliconfig-ps-q", ["ps", "-a", "-q"], config={"psFormat": "{{.Names}}"}),
    Case("cliconfig-ps-format", ["ps", "-a", "--format", "{{.Names}}"], config={"psFormat": "{{.ID}}"}),
    Case("cliconfig-images", ["images"], config={"imagesFormat": "{{.Repository}}:{{.Tag}}"}),
    Case("cliconfig-images-table", ["images"], "table", config={"imagesFormat": "table {{.Repository}}\t{{.Tag}}"}),
    Case("cliconfig-volumes", ["volume", "ls"], config={"volumesFormat": "{{.Name}} {{.Driver}}"}),
    Case("version-format", ["version", "--format", "{{json .}}"], "jsonl"),
    Case("info-format", ["info", "--format", "{{json .}}"], "jsonl", subset=True),
    Case("info", ["info"], "labels", subset=True),
    Case("version", ["version"], "labels", subset=True),
    Case("rmi-tag", ["rmi", f"{IMAGE}:v2"]),
]

# What docker prints that ketch does not, or ketch that docker does not, by design, each with the reason.
ALLOWED_MISSING_KEYS: dict[str, str] = {
    "Platform": "ps --format json: docker 28's CLI adds it (null from this 20.10 daemon); 20.10's CLI has none",
}
ALLOWED_EXTRA_KEYS: dict[str, str] = {
    "Monitor": "info, version: where ketch's monitor program is, or that it is missing (issue 12: no silent fallback)",
    "Python version": "version: ketch's runtime, where docker's says Go's",
    "Kernel version": "version: the server's kernel (docker's JSON has it, its text not)",
}

# -- normalising --------------------------------------------------------------------------------------------

_NORMALISE = [
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:<digest>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<id12>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \w+"), "<time>"),
    (re.compile(r"\b\d\d:\d\d(:\d\d)?\b"), "<clock>"),
    (
        re.compile(r"(Less than a second|About a minute|About an hour|\d+ (second|minute|hour|day|week|month|year)s?)"),
        "<dur>",
    ),
    (re.compile(r"Imported from \S+"), "Imported from <tar>"),
    (re.compile(r"/\S*/volumes/"), "<root>/volumes/"),
]


_SIZE = re.compile(r"\b\d+(\.\d+)?[kMGT]?B\b")


def normalise(text: str, sizes: bool = True) -> str:
    for rx, to in _NORMALISE:
        text = rx.sub(to, text)
    return text if sizes else _SIZE.sub("<size>", text)


def header_starts(header: str) -> list[tuple[str, int]]:
    """The table's column names and where each starts (names are words joined by one space)."""
    return [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]


def cells(line: str, starts: list[int]) -> list[str]:
    ends = starts[1:] + [len(line)]
    return [line[a:b].rstrip() for a, b in zip(starts, ends, strict=True)]


def layout_errors(out: str, minwidth: int) -> list[str]:
    """Where a table breaks docker's tabwriter rule (every column as wide as
    its widest cell plus 3, at least `minwidth`), read by its header's starts."""
    lines = out.rstrip("\n").split("\n")
    cols = header_starts(lines[0])
    starts = [s for _, s in cols]
    table = [cells(line, starts) for line in lines]
    errors = []
    for i in range(len(starts) - 1):
        want = max(minwidth, max(len(row[i]) for row in table) + 3)
        if starts[i + 1] - starts[i] != want:
            errors.append(f"column {cols[i][0]!r} is {starts[i + 1] - starts[i]} wide, docker's rule makes it {want}")
    for line in lines:
        for s in starts[1:]:
            if s < len(line) and line[s - 1] != " ":
                errors.append(f"a cell runs into the next column at {s}: {line!r}")
    return errors


def key_types(doc: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Every key path of a JSON document and its value's type (maps of
    user data, such as Labels, counted as a map without their keys)."""
    out: dict[str, str] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            path = f"{prefix}.{k}" if prefix else k
            out[path] = type_name(v)
            if isinstance(v, dict) and k not in _USER_MAPS and depth < 8:
                out.update(key_types(v, path, depth + 1))
    return out


_USER_MAPS = {
    "Labels", "ExposedPorts", "Volumes", "Ports", "Networks", "PortBindings", "Sysctls", "Data", "Options",
    "DriverOpts", "Config_", "Metadata", "Attributes", "Containers",
}  # fmt: skip


_JSON_TYPES: list[tuple[Any, str]] = [
    (type(None), "null"),
    (bool, "bool"),
    (int | float, "number"),
    (str, "string"),
    (list, "array"),
]  # bool before number: a bool is an int in Python


def type_name(v: Any) -> str:
    """A JSON value's type by JSON's names."""
    return next((name for kind, name in _JSON_TYPES if isinstance(v, kind)), "object")


def record_of(case: Case, r: Result) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "argv": case.argv,
        "kind": case.kind,
        "rc": r.rc,
        "stdout": normalise(r.out, case.sizes),
        "stderr": normalise(r.err, case.sizes),
    }
    if case.kind == "table" and r.out.strip():
        lines = r.out.rstrip("\n").split("\n")
        rec["header"] = lines[0]
        rec["columns"] = header_starts(lines[0])
        rec["layout_errors"] = layout_errors(r.out, case.minwidth)
    if case.kind == "jsonl":
        rec["keys"] = [sorted(json.loads(line)) for line in r.out.splitlines() if line.strip()]
    if case.kind == "labels":
        rec["labels"] = [line.split(":")[0].rstrip() for line in r.out.splitlines() if line.strip()]
    if case.kind == "inspect" and r.rc == 0:
        rec["keys"] = key_types(json.loads(r.out)[0])
    return rec


def fixture_path(case: Case) -> Path:
    return FIXTURES / f"{case.id.split('-')[0]}.json"


def load_fixtures() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(f.read_text())
        out.update(doc.get("cases", {}))
    return out


# -- the engines ----------------------------------------------------------------------------------------------


def docker(*args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    p = subprocess.run(
        ["docker", *args], capture_output=True, input=input, timeout=120, env={**os.environ, **(env or {})}
    )
    return Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def docker_clean_up() -> None:
    """What the recording made in the shared dockerd: containers, volumes, images named parity*."""
    names = docker("ps", "-a", "--format", "{{.Names}}").out.split()
    mine = [n for n in names if n.startswith(P)]
    if mine:
        docker("rm", "-f", *mine)
    vols = [v for v in docker("volume", "ls", "-q").out.split() if v.startswith(P)]
    if vols:
        docker("volume", "rm", *vols)
    tags = [
        t for t in docker("images", "--format", "{{.Repository}}:{{.Tag}}").out.split() if t.startswith("ketchparity")
    ]
    if tags:
        docker("rmi", "-f", *tags)


def _docker_argv(argv: list[str]) -> list[str]:
    return argv


def only_ours(case: Case, r: Result, ids: list[str]) -> Result:
    """A listing of the shared dockerd with the rows of others' containers,
    images and volumes left out: those naming ours (P, IMAGE) or our ids."""
    if case.kind == "inspect" and r.rc == 0:
        docs = json.loads(r.out)
        for d in docs:
            if isinstance(d.get("Containers"), dict):
                d["Containers"] = {k: v for k, v in d["Containers"].items() if v.get("Name", "").startswith(P)}
        return Result(r.rc, json.dumps(docs, indent=4) + "\n", r.err)
    if case.argv[0] not in ("ps", "images", "events") and case.argv[:2] != ["volume", "ls"]:
        return r
    if case.argv[0] == "events":  # this recording's containers only (an earlier one had the same name)
        keys = [*ids]
    else:
        keys = [P, IMAGE, *ids, *(i[:12] for i in ids)]
    lines = r.out.splitlines(keepends=True)
    head = lines[:1] if case.kind == "table" else []
    body = lines[1:] if case.kind == "table" else lines
    return Result(r.rc, "".join(head + [x for x in body if any(k in x for k in keys)]), r.err)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketch]:
    """The image and SETUP under ketch (and, recording, under docker too)."""
    tmp = tmp_path_factory.mktemp("parity")
    k = Ketch(tmp / "store", tmp / "run")
    k.import_busybox(IMAGE)
    for argv in SETUP:
        r = k(*argv)
        assert r.rc in (0, 3), (argv, r.err)
    try:
        yield k
    finally:
        k.clean_up()


def config_env(case: Case, tmp: Path) -> dict[str, str]:
    """DOCKER_CONFIG for a case: a directory of the test's own with the case's
    CLI config (none: no config.json, so that the user's psFormat... is not the test's)."""
    d = tmp / f"docker-config-{case.id}"
    d.mkdir(exist_ok=True)
    if case.config is not None:
        (d / "config.json").write_text(json.dumps(case.config))
    return {"DOCKER_CONFIG": str(d)}


@pytest.fixture(scope="module")
def recorded(scene: Ketch, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if not RECORD:
        return load_fixtures()
    tmp = tmp_path_factory.mktemp("docker-config")
    docker_clean_up()
    saved = subprocess.run([KETCH, "save", IMAGE], capture_output=True, env=scene.env, check=True, timeout=120).stdout
    assert docker("load", input=saved).rc == 0
    try:
        for argv in SETUP:
            r = docker(*_docker_argv(argv))
            assert r.rc in (0, 3), (argv, r.err)
        ids = docker("ps", "-a", "-q", "--no-trunc", "--filter", "name=" + P).out.split()
        ids += docker("images", "-q", "--no-trunc", IMAGE).out.split()
        ids = [i.removeprefix("sha256:") for i in ids]
        records: dict[str, dict[str, dict[str, Any]]] = {}
        for case in CASES:
            rec = record_of(case, only_ours(case, docker(*_docker_argv(case.argv), env=config_env(case, tmp)), ids))
            records.setdefault(fixture_path(case).name, {})[case.id] = rec
        server = docker("version", "--format", "{{.Server.Version}} (cli {{.Client.Version}})").out.strip()
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for name, cases in records.items():
            doc = {"recorded_from": f"docker {server}", "setup": SETUP, "image": IMAGE, "cases": cases}
            (FIXTURES / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    finally:
        docker_clean_up()
    return load_fixtures()


# -- the comparison -------------------------------------------------------------------------------------------


def differences(case: Case, want: dict[str, Any], r: Result) -> list[str]:
    """What ketch's run of `case` does otherwise than docker's recording."""
    got = record_of(case, r)
    diffs = []
    if got["rc"] != want["rc"]:
        diffs.append(f"exit code {got['rc']}, docker's {want['rc']} (stderr: {r.err.strip()!r})")
    if case.kind == "text" and got["stdout"] != want["stdout"]:
        diffs.append(f"stdout {got['stdout']!r}, docker's {want['stdout']!r}")
    if case.kind == "rc":
        # (docker exec writes the runtime's error on stdout: the facts are looked for in both streams)
        said, theirs = got["stderr"] + got["stdout"], want["stderr"] + want["stdout"]
        if bool(theirs.strip()) != bool(said.strip()):
            diffs.append(f"output {said!r}, docker's {theirs!r}")
        if want["stderr"] and got["stdout"] != want["stdout"]:
            diffs.append(f"stdout {got['stdout']!r}, docker's {want['stdout']!r}")
        for fact in facts(case, theirs):
            if fact not in said:
                diffs.append(f"stderr {got['stderr']!r} does not say {fact!r} (docker's: {want['stderr']!r})")
    if case.kind == "table" and "header" in want:
        names = [n for n, _ in got.get("columns", [])]
        if names != [n for n, _ in want["columns"]]:
            diffs.append(f"header {got.get('header')!r}, docker's {want['header']!r}")
        diffs += got.get("layout_errors", [])
        if case.rows and "header" in got:
            diffs += cell_differences(case, want, got)
    if case.kind == "jsonl":
        wk = [[k for k in keys if k not in ALLOWED_MISSING_KEYS] for keys in want["keys"]]
        gk = [[k for k in keys if k not in ALLOWED_EXTRA_KEYS] for keys in got["keys"]]
        if case.subset:
            if len(gk) != len(wk) or any(set(g) - set(w) for g, w in zip(gk, wk, strict=False)):
                diffs.append(
                    f"JSON keys docker has not: {[sorted(set(g) - set(w)) for g, w in zip(gk, wk, strict=False)]}"
                )
        elif gk != wk:
            diffs.append(f"JSON keys {got['keys']}, docker's {want['keys']}")
    if case.kind == "labels":
        # each line ketch prints is one docker prints, in docker's order (ketch claims less)
        theirs = iter(want["labels"])
        for label in got["labels"]:
            if label.strip() in ALLOWED_EXTRA_KEYS:
                continue
            if not any(label == x for x in theirs):
                diffs.append(f"line {label!r}: docker prints none such (or not here): {want['labels']}")
                break
    if case.kind == "inspect" and "keys" in want:
        gk, wk = got.get("keys", {}), want["keys"]
        missing = sorted(k for k in wk if k not in gk and k not in ALLOWED_MISSING_KEYS)
        extra = sorted(k for k in gk if k not in wk)
        typed = sorted(f"{k}: {gk[k]} (docker's {wk[k]})" for k in wk if k in gk and gk[k] != wk[k])
        if missing:
            diffs.append(f"keys docker has and ketch not: {missing}")
        if extra:
            diffs.append(f"keys ketch has and docker not: {extra}")
        if typed:
            diffs.append(f"types: {typed}")
    return diffs


def cell_differences(case: Case, want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    def table(rec: dict[str, Any]) -> list[dict[str, str]]:
        lines = rec["stdout"].rstrip("\n").split("\n")
        # the normalised text moved the columns: cut each line at its own gaps of 3 spaces or more
        names = [n for n, _ in rec["columns"]]
        rows = []
        for line in lines[1:]:
            parts = re.split(r" {3,}", line.rstrip())
            rows.append(dict(zip(names, parts + [""] * (len(names) - len(parts)), strict=False)))
        return rows

    cols = case.columns or [n for n, _ in want["columns"]]
    w = [{k: row.get(k, "") for k in cols} for row in table(want)]
    g = [{k: row.get(k, "") for k in cols} for row in table(got)]
    return [] if w == g else [f"rows {g}, docker's {w}"]


def facts(case: Case, stderr: str) -> list[str]:
    """The words of docker's error line ketch's must carry too: the names of
    the command line docker's line names, and the kind of object missing."""
    skip = 2 if case.argv[0] in ("container", "image", "volume", "network", "system") else 1  # the verb
    out = [a for a in case.argv[skip:] if len(a) > 2 and not a.startswith("-") and a in stderr and a != IMAGE]
    for phrase in ("No such container", "No such image", "No such object", "not found", "no such volume",
                   "is not running", "is paused", "is not paused", "already in use", "conflict"):  # fmt: skip
        if phrase in stderr:
            out.append(phrase)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_like_docker(case: Case, scene: Ketch, recorded: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    want = recorded.get(case.id)
    if want is None:
        pytest.fail(f"no recording of {case.id}: record with KETCH_WRITE_FIXTURES=1 and DOCKER_HOST")
    if want["argv"] != case.argv:
        pytest.fail(f"the recording of {case.id} is of another command line: record again")
    r = scene(*case.argv, env=config_env(case, tmp_path))
    assert differences(case, want, r) == []


def test_layout_rule_catches_ketchs_old_tables() -> None:
    """The rule the tables are held to fails ketch's old spacing (no minimum width)."""
    old = "DRIVER   VOLUME NAME\nlocal    data\n"
    assert layout_errors(old, 10) == ["column 'DRIVER' is 9 wide, docker's rule makes it 10"]
    assert layout_errors("DRIVER    VOLUME NAME\nlocal     data\n", 10) == []
