"""The fast path (cli/_fast.py) prints what the Typer path prints, byte for
byte, with the same exit code, on the same store: for docker's forms of
`ps` and `images` it reads, for those it hands over, and for `--help`.

Each case runs `ketch ARGS` through main() (the fast path first) and through
cli.typer_main (Typer and Click only) as separate processes. The listings
say how long ago a thing was made, which ticks every second: the fast run
is made between two Typer runs and must equal one of them (see `_same`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.cli import _fast
from support.imagekit import Entry, busybox_entries, tar_bytes

FAST = "import sys; from ketch.cli import main; sys.exit(main())"
TYPER = "import sys; from ketch.cli import typer_main; sys.exit(typer_main(sys.argv[1:]))"

# forms the fast path reads itself (checked below: none falls back by mistake)
PS_FORMS = [
    [], ["-a"], ["-q"], ["-aq"], ["-a", "-q"], ["--all"], ["--all=true"], ["-a=false"], ["--all=FALSE", "-q"],
    ["-an1"], ["-n", "1"], ["-n=1"], ["-n1"], ["--last=1"], ["--last", "2"], ["-n", "0"], ["-l"], ["--latest"],
    ["-a", "--no-trunc"], ["-aq", "--no-trunc"], ["-as"], ["-a", "--size"],
    ["-a", "--format", "{{.Size}}"], ["-a", "--format", "{{.ID}} {{.Names}} {{.Label \"a\"}}"],
    ["-a", "--format=json"], ["-a", "--format", "table {{.Names}}\t{{.Image}}\t{{.Status}}"], ["-a", "--format="],
    ["-a", "-f", "name=c1"], ["-af", "label=a=b"], ["--filter=status=created", "-a"], ["-a", "-f=name=c", "-f", "id=0"],
    ["-f", "bogus=1"], ["--format", "{{.Bad"], ["--format", "{{.Nope}}", "-a"], ["-q", "--format", "{{.ID}}"],
    ["-a", "--no-trunc=1", "-q=t"], ["-n", "-1"], ["-f", "-a"],
]  # fmt: skip
IMAGES_FORMS = [
    [], ["-a"], ["-q"], ["-aq"], ["--digests"], ["--no-trunc"], ["--quiet", "--no-trunc"], ["fast/one"],
    ["fast/one:1"], ["fast/nothing"], ["fast/one", "-q"], ["-f", "reference=fast/*"], ["--filter=dangling=true"],
    ["-f", "before=fast/two"], ["--format", "{{.Repository}}:{{.Tag}} {{.Size}}"], ["--format=json"],
    ["-q", "--format", "table"], ["-q", "--format", "{{.ID}}"], ["--digests", "--format", "table {{.ID}}"],
    ["--filter", "bogus=1"], ["--format", "{{.Bad"], [""], ["-"], ["--all=false", "--digests=true"],
]  # fmt: skip
# forms it hands to Typer (its errors, its help, what it does not read)
TYPER_FORMS = [
    ["ps", "-n", "abc"], ["ps", "-n", "+1"], ["ps", "-n", "1.5"], ["ps", "--bogus"], ["ps", "-x"], ["ps", "-ah"],
    ["ps", "extra"], ["ps", "-f"], ["ps", "--format"], ["ps", "--", "-a"], ["ps", "-h"], ["ps", "--help"],
    ["ps", "--all=maybe"], ["ps", "--all="], ["ps", "-a=x"], ["ps", "-aq=true"], ["ps", "--last="], ["ps", "-n"],
    ["images", "a", "b"], ["images", "--digests=no"], ["images", "-f"], ["images", "--bogus"], ["images", "--help"],
    ["--root"], ["--bogus", "ps"], ["ps", "--root", "/nonexistent"], ["pss"], [],
]  # fmt: skip


def _run(code: str, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


# how long ago a row was made, as docker words it while it ticks every second
_AGE = re.compile(r"(Less than a second|\d+ seconds?|About a minute) ago")


def _masked(result: tuple[int, str, str]) -> tuple[int, str, str]:
    """`result` with the ticking ages replaced, and the padding they move collapsed."""
    rc, out, err = result
    return rc, re.sub(r" {2,}", "  ", _AGE.sub("AGE ago", out)), err


def _same(args: list[str], env: dict[str, str]) -> None:
    """The fast run equals a Typer run made just before it, and just after it
    when it differs: byte for byte in a window where no age ticked (tried five
    times); on a machine too busy for one, with the ages masked."""
    runs = []
    for _ in range(5):
        before = _run(TYPER, args, env)
        fast = _run(FAST, args, env)
        after = fast if fast == before else _run(TYPER, args, env)
        assert "Traceback" not in fast[2], (args, fast)
        if fast in (before, after):
            return
        runs.append((fast, before, after))
    for fast, before, after in runs:
        assert _masked(fast) in (_masked(before), _masked(after)), (args, fast, before, after)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A store with two images (one tagged twice) and, as root, two created containers."""
    tmp = tmp_path_factory.mktemp("fast")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "KETCH_DEBUG")}
    env |= {"KETCH_ROOT": str(tmp / "store"), "KETCH_RUN_ROOT": str(tmp / "run")}
    one, two = tmp / "one.tar", tmp / "two.tar"
    one.write_bytes(tar_bytes(busybox_entries()))
    two.write_bytes(tar_bytes([*busybox_entries(), Entry("etc/extra", data=b"x")]))

    def ketch(*args: str) -> None:
        rc, out, err = _run(FAST, list(args), env)
        assert rc == 0, (args, out, err)

    ketch("import", str(one), "fast/one:1")
    ketch("tag", "fast/one:1", "fast/one:2")
    ketch("import", str(two), "fast/two")
    if os.geteuid() == 0:  # a container's directories are made as root's
        ketch("create", "--name", "c1", "-l", "a=b", "fast/one:1", "true")
        ketch("create", "fast/two", "sh", "-c", "echo 'a b'")
    yield env


@pytest.mark.parametrize("args", PS_FORMS, ids=lambda a: " ".join(a) or "-")
def test_ps_forms_print_what_typer_prints(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(["ps", *args]) is not None, "the fast path should read this form"
    _same(["ps", *args], store)


@pytest.mark.parametrize("args", IMAGES_FORMS, ids=lambda a: " ".join(a) or "-")
def test_images_forms_print_what_typer_prints(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(["images", *args]) is not None, "the fast path should read this form"
    _same(["images", *args], store)


@pytest.mark.parametrize("args", TYPER_FORMS, ids=lambda a: " ".join(a) or "-")
def test_forms_it_does_not_read_go_to_typer_unchanged(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(args) is None
    _same(args, store)


@pytest.mark.parametrize(
    "args",
    [["container", "ls", "-a"], ["container", "list", "-aq"], ["container", "ps", "--format", "{{.Names}}", "-a"],
     ["image", "ls"], ["image", "ls", "-q", "fast/one"]],
    ids=" ".join,
)  # fmt: skip
def test_the_groups_names_print_what_typer_prints(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(args) is not None
    _same(args, store)


@pytest.mark.parametrize(
    "args", [["container", "ls", "-h"], ["container", "-h", "ls"], ["image", "list"], ["container", "ls", "x"]]
)
def test_the_groups_other_forms_go_to_typer(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(args) is None
    _same(args, store)


def test_root_given_as_an_option_is_the_store_read(store: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in store.items() if k != "KETCH_ROOT"} | {"KETCH_ROOT": str(tmp_path / "elsewhere")}
    for args in (["--root", store["KETCH_ROOT"], "images"], [f"--root={store['KETCH_ROOT']}", "ps", "-aq"]):
        assert _fast.parse(args) is not None
        _same(args, env)
        assert "fast/" in _run(FAST, ["--root", store["KETCH_ROOT"], "images"], env)[1]


@pytest.mark.parametrize("columns", [None, "80", "200", "79", "60"])
def test_help_is_typers_at_every_width(store: dict[str, str], columns: str | None) -> None:
    env = store if columns is None else store | {"COLUMNS": columns}
    for args in (["--help"], ["-h"], ["--root", "/x", "--help"]):
        _same(args, env)


def _update_fast() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import update_fast
    finally:
        sys.path.pop(0)
    return update_fast


def test_the_help_text_kept_is_typers() -> None:
    """cli/_help.py is what Typer prints today (scripts/update_fast.py rewrites it)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [sys.executable, "-c", TYPER, "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    kept = (Path(_fast.__file__).parent / "_help.py").read_text()
    assert _update_fast().render(out) == kept, "run scripts/update_fast.py: ketch --help changed"


def test_the_run_table_kept_is_typers() -> None:
    """cli/_run_table.py is run's Click command as Typer makes it today, from
    the sources as they are (scripts/update_fast.py rewrites it)."""
    kept = (Path(_fast.__file__).parent / "_run_table.py").read_text()
    assert _update_fast().run_table() == kept, "run scripts/update_fast.py: run's flags or their sources changed"
    assert _fast.run_spec() is not None


def _typer_params(name: str, args: list[str]) -> dict[str, object] | None:
    """What Typer's Click command `name` puts in its context for `args`; None where Click refuses them."""
    import typer.main

    from ketch.cli import _click as click
    from ketch.cli.app import load

    command = typer.main.get_command(load([name])).commands[name]  # type: ignore[attr-defined]
    try:
        return dict(command.make_context(name, list(args)).params)
    except click.UsageError:
        return None


RUN_FORMS = [
    ["img"], ["img", "sh", "-c", "x"], ["--rm", "img", "--rm"], ["-it", "img"], ["-dit", "--name", "n", "img"],
    ["-e", "A=1", "--env=B=2", "-eC=3", "-e=D=4", "img"], ["--rm=true", "-d=false", "img"], ["-i=1", "img", "-t"],
    ["--rm=true", "--network", "none", "img"], ["--net=none", "-w=/tmp", "-u", "0:0", "img", "id"],
    ["-h", "host", "-m", "64m", "--cpus", "1.5", "--pids-limit", "-1", "img"], ["--cpus=2", "img"],
    ["-p", "80", "-p=81:81", "-v", "/a:/b", "-v=/c:/d:ro", "--tmpfs", "/t", "img"], ["--pull", "never", "img"],
    ["--entrypoint", "", "img"], ["--name", "--rm", "img"], ["-l", "a=b", "--label=c", "--stop-timeout", "3", "img"],
    ["--health-retries=2", "--init", "--read-only", "-P", "img"], ["-e", "-e", "img"], ["-itd", "img"],
    ["img", "--", "-x"],
]  # fmt: skip
RUN_TYPER_FORMS = [
    [], ["--rm"], ["--help"], ["--bogus", "img"], ["--", "img"], ["--rm=maybe", "img"], ["--cpus", "x", "img"],
    ["--pids-limit", "1e3", "img"], ["--stop-timeout", "+3", "img"], ["--cpus", ".5", "img"], ["-x", "img"],
    ["--name"], ["-e"], ["-tn", "img"],
    ["--network", "none", "--rm=true", "img"],  # docker's `=true` is read up to the first positional (a value here)
]  # fmt: skip


@pytest.mark.parametrize("args", RUN_FORMS, ids=" ".join)
def test_run_is_read_as_typer_reads_it(args: list[str]) -> None:
    """The parameters run gets: the same dict (values, types, defaults) on both paths."""
    fast = _fast.run_params(args)
    assert fast is not None, "the fast path should read this form"
    assert fast == _typer_params("run", args)


RUN_ERRORS = [
    ["--rm", "--network", "none", "--pull", "never", "nothing/here", "true"],
    ["--rm", "--pull", "sometimes", "--network", "none", "fast/one:1", "true"],
    ["--rm", "--network", "none", "--entrypoint", "", "fast/one:1"],
    ["--rm", "--network", "none", "-p", "notaport", "fast/one:1", "true"],
]
RUN_CONTAINERS = [
    ["--rm", "--network", "none", "fast/one:1", "echo", "hi"],
    ["--rm", "--net=none", "-e", "A=1", "-eB=2", "fast/one:1", "sh", "-c", "echo $A$B >&2; echo out; exit 3"],
    ["--rm=true", "--network", "none", "-w", "/etc", "-u", "1:1", "fast/one:1", "sh", "-c", "pwd; id"],
    ["--rm", "--network", "none", "fast/one:1", "no-such-command"],
    ["--rm", "--network", "none", "-l", "a=b", "--read-only", "fast/one:1", "touch", "/x"],
]


@pytest.mark.parametrize("args", RUN_ERRORS, ids=" ".join)
def test_run_errors_are_typers(store: dict[str, str], args: list[str]) -> None:
    assert _fast.parse(["run", *args]) is not None
    _same(["run", *args], store)


@pytest.mark.skipif(os.geteuid() != 0, reason="runs containers: namespaces, mounts and cgroups need root")
@pytest.mark.parametrize("args", RUN_CONTAINERS, ids=" ".join)
def test_run_of_a_container_is_typers(store: dict[str, str], args: list[str]) -> None:
    """The container's output, its exit code and ketch's own errors, on both paths."""
    assert _fast.parse(["run", *args]) is not None
    _same(["run", *args], store)


@pytest.mark.parametrize("args", RUN_TYPER_FORMS, ids=lambda a: " ".join(a) or "-")
def test_run_forms_it_does_not_read_go_to_typer(args: list[str]) -> None:
    assert _fast.run_params(args) is None


BUILD_FORMS = [
    ["."], ["ctx", "-t", "a", "-t=b", "--build-arg", "X=1", "-q"], ["--no-cache=true", "."], ["-tx:1", "-"],
    ["-f", "D", "--label", "a=b", "--network", "none", "--iidfile", "/tmp/x", "--target", "s", "--pull", "ctx"],
    ["--quiet", "--file=Dockerfile.x", "--tag", "t", "."],
]  # fmt: skip
BUILD_TYPER_FORMS = [[], ["-t", "x"], [".", "extra"], ["--bogus", "."], ["--help"], ["-h", "."], ["-t"], ["--", "."]]


@pytest.mark.parametrize("args", BUILD_FORMS, ids=" ".join)
def test_build_is_read_as_typer_reads_it(args: list[str]) -> None:
    fast = _fast.build_params(args)
    assert fast is not None, "the fast path should read this form"
    assert fast == _typer_params("build", args)


@pytest.mark.parametrize("args", BUILD_TYPER_FORMS, ids=lambda a: " ".join(a) or "-")
def test_build_forms_it_does_not_read_go_to_typer(args: list[str]) -> None:
    assert _fast.build_params(args) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="builds: the store's layers are mounted as root's")
def test_a_build_and_its_cached_rebuild_are_typers(store: dict[str, str], tmp_path: Path) -> None:
    """Step N/M, `---> Using cache`, the id, and a failing build's error, on both paths."""
    (tmp_path / "f").write_text("x\n")
    (tmp_path / "Dockerfile").write_text("FROM fast/one:1\nENV A=1\nCOPY f /f\nLABEL k=v\n")
    args = ["build", "-t", "fast/built", str(tmp_path)]
    assert _fast.parse(args) is not None
    _same(args, store)  # the first Typer run builds; the fast one is cached, as the next Typer one
    (tmp_path / "Dockerfile").write_text("FROM fast/one:1\nCOPY missing /m\n")
    _same(args, store)
    _same(["build", "-q", "-f", str(tmp_path / "nope"), str(tmp_path)], store)


@pytest.mark.parametrize(("name", "spec"), [("ps", _fast.PS), ("images", _fast.IMAGES)])
def test_ps_and_images_are_read_as_typer_reads_them(name: str, spec: _fast.Spec) -> None:
    defaults = _typer_params(name, [])
    assert defaults is not None
    for args in PS_FORMS if name == "ps" else IMAGES_FORMS:
        fast = _fast.options(spec, args)
        assert fast is not None, args
        got = defaults | {k: tuple(v) if isinstance(v, list) else v for k, v in fast.items()}
        assert got == _typer_params(name, args), args


def test_a_run_table_older_than_its_sources_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source of run's flags changed since the table was written: Typer reads run."""
    from ketch.cli import _run_table

    monkeypatch.setitem(_run_table.SOURCES, "containers.py", _run_table.SOURCES["containers.py"] ^ 1)
    assert _fast.run_spec() is None
    assert _fast.parse(["run", "img"]) is None
    assert _fast.parse(["ps"]) is not None


def test_a_help_text_older_than_its_sources_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A noun module changed since the help text was kept: Typer prints the help."""
    from ketch.cli import _help

    monkeypatch.delenv("COLUMNS", raising=False)
    assert _fast.parse(["--help"]) is not None
    monkeypatch.setitem(_help.SOURCES, "images.py", _help.SOURCES["images.py"] ^ 1)
    assert _fast.parse(["--help"]) is None
    assert _fast.parse(["images"]) is not None


def test_a_parse_is_exactly_typers_reading() -> None:
    """What the fast path hands the listing: the values Typer would."""
    assert _fast.options(_fast.PS, ["-an3", "-f", "a=1", "--filter=b=2", "-f=c=3", "--format", "x"]) == {
        "all_": True, "last": 3, "filter_": ["a=1", "b=2", "c=3"], "format_": "x",
    }  # fmt: skip
    assert _fast.options(_fast.PS, ["--all=false", "-q=true", "--last=07"]) == {"quiet": True, "last": 7}
    assert _fast.options(_fast.IMAGES, ["busybox", "-a"]) == {"repository": "busybox", "all_": True}
    assert _fast.options(_fast.IMAGES, ["-f"]) is None


@pytest.mark.parametrize("args", [["ps", "-a"], ["ps", "-aq"], ["images"], ["--help"]], ids=" ".join)
def test_a_reader_gone_ends_both_paths_alike(store: dict[str, str], args: list[str]) -> None:
    """`ketch ps | head -0`: stdout is a pipe nobody reads (EPIPE); the same exit code, no traceback."""

    def closed(code: str) -> tuple[int, str]:
        r, w = os.pipe()
        os.close(r)
        try:
            p = subprocess.run(
                [sys.executable, "-c", code, *args], stdout=w, stderr=subprocess.PIPE, text=True, env=store, timeout=60
            )
        finally:
            os.close(w)
        return p.returncode, p.stderr

    fast, typer = closed(FAST), closed(TYPER)
    assert fast == typer
    assert "Traceback" not in fast[1]


@pytest.mark.parametrize(
    "args",
    [["ps", "-n", "9" * 5000], ["ps", "-n", "\u0663"], ["ps", "--last=\uff13"],
     ["run", "--pids-limit", "1" * 5000, "x"], ["ps", "-f", "x" * 100_000], ["images", "-" * 3],
     ["ps", "-" + "a" * 10_000 + "x"]],
    ids=["int-too-long", "arabic-digit", "fullwidth-digit", "run-int-too-long", "huge-value", "dashes", "long-flags"],
)  # fmt: skip
def test_hostile_arguments_end_as_typers(store: dict[str, str], args: list[str]) -> None:
    """Numbers Click refuses or converts otherwise, huge values, runs of flags:
    the same output and exit code, one line on stderr at most, no traceback."""
    _same(args, store)
    rc, _, err = _run(FAST, args, store)
    assert len(err.strip().splitlines()) <= 2, err  # a usage error is its line and `See 'ketch ps --help'.`
