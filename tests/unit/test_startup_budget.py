"""The start-up budget (issue 14): what the commands typed all day import,
counted, not timed. Each case runs `ketch ARGS` in a process of its own and
reads sys.modules as the process exits; a heavy module where it has no work
to do fails the test, whatever the machine's speed.

- everywhere: pydantic (the pull path's models), the registry client, the
  builder, http.client, asyncio, ssl, urllib.request, rich;
- on the fast paths (`ps`, `images`, `--help`: cli/_fast.py): Typer and
  Click too, and the noun modules built on them;
- `run` of docker's forms (cli/_fast.py, its flags kept in cli/_run_table.py)
  neither, nor any noun module; what it imports beyond is the runtime's;
- `ps`, `images` and `run` of a local image: neither dataclasses (and the
  inspect, ast and dis it brings) nor typing nor threading (records.py);
- `ps` and `images` with rows to show (a running container, a created one,
  an image): nothing of the standard library but what SQLite itself loads
  (functools, for its statement cache): no pathlib (the store's str paths),
  no json package (fastjson.py), no re (the references' fast reading,
  filters compiled when used), no datetime (ids.rfc3339_epoch), no
  contextlib, weakref, shlex or urllib;
- a cached `build` (the fast path): neither dataclasses nor typing (the
  builder's records and annotations), nor shutil and the compressors it
  brings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.imagekit import busybox_entries, tar_bytes

DUMP = (
    "import atexit, sys\n"
    "dump = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(dump, 'w').write('\\n'.join(sorted(sys.modules))))\n"
    "from ketch.cli import main\n"
    "sys.exit(main())\n"
)
HEAVY = (
    "pydantic", "pydantic_core", "ketch.registry.client", "ketch.registry.pull", "ketch.builder", "http.client",
    "asyncio", "ssl", "urllib.request", "rich", "typer.rich_utils", "socket",
)  # fmt: skip
# what the hot paths' data classes and annotations would cost (records.py, TYPE_CHECKING = False)
LEAN = ("dataclasses", "inspect", "ast", "dis", "typing", "threading")
# what the listings do without, with rows to show (tests/unit/test_startup_budget.py's last part)
LISTING_FREE = (
    "pathlib", "json", "re", "enum", "datetime", "contextlib", "weakref", "shlex", "urllib", "ipaddress",
    "fnmatch", "sqlite3", "ketch.store.content", "ketch.store.layers", "ketch.runtime.inspect", "ketch._native",
)  # fmt: skip
CLI = ("typer", "click", "shellingham", "ketch.cli._shared", "ketch.cli._flags", "ketch.cli.app")
NOUNS = (
    "images", "containers", "container_io", "container_group", "build", "networks", "volumes", "registry", "system",
)  # fmt: skip


def modules(tmp_path: Path, args: list[str], ok: tuple[int, ...] = (0,)) -> set[str]:
    """The modules loaded when `ketch ARGS` exits (against a store under tmp_path)."""
    dump = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "KETCH_DEBUG")}
    env |= {"KETCH_ROOT": str(tmp_path / "store"), "KETCH_RUN_ROOT": str(tmp_path / "run")}
    p = subprocess.run(
        [sys.executable, "-c", DUMP, str(dump), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert p.returncode in ok, (args, p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    return set(dump.read_text().split())


def heavy(mods: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of `mods` that are one of `names` or inside one of them."""
    return sorted(m for m in mods if any(m == n or m.startswith(n + ".") for n in names))


def nouns(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.startswith("ketch.cli.") and m.rsplit(".", 1)[1] in NOUNS)


@pytest.mark.parametrize(
    "args",
    [["ps"], ["ps", "-a"], ["ps", "-aq", "--no-trunc"], ["ps", "--format", "{{.Names}}"], ["images"],
     ["images", "-q"], ["images", "--digests", "-f", "dangling=false"], ["--help"], ["-h"]],
    ids=" ".join,
)  # fmt: skip
def test_the_fast_paths_import_no_cli_framework_and_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    mods = modules(tmp_path, args)
    assert heavy(mods, HEAVY) == []
    assert heavy(mods, CLI) == [], "read by cli/_fast.py: no Typer, no Click"
    assert nouns(mods) == []
    assert heavy(mods, LEAN) == [], "records (records.py), not dataclasses; typing for type checkers only"


def test_ps_and_images_do_not_load_each_others_part(tmp_path: Path) -> None:
    """`images` reads image rows, not containers; `ps` containers, not the image listing."""
    assert heavy(modules(tmp_path, ["images"]), ("ketch.runtime", "ketch.network")) == []
    assert heavy(modules(tmp_path, ["ps"]), ("ketch.store.inspect", "ketch.network", "ketch.reference")) == []


def test_help_loads_no_library_part(tmp_path: Path) -> None:
    """The help text is kept (cli/_help.py): not even the settings are made."""
    mods = modules(tmp_path, ["--help"])
    ours = sorted(m for m in mods if m.startswith("ketch"))
    assert ours == ["ketch", "ketch.cli", "ketch.cli._fast", "ketch.cli._help"]
    assert heavy(mods, ("sqlite3", "pathlib", "typing", "json")) == []


def test_run_of_an_image_not_there_imports_no_pull_machinery(tmp_path: Path) -> None:
    """`run --pull never` of a missing image: its flags read by the fast path, the
    runtime's options, and none of the registry (the pull path is what imports it)."""
    mods = modules(tmp_path, ["run", "--rm", "--pull", "never", "--network", "none", "nothing/here", "true"], (1, 125))
    assert heavy(mods, HEAVY) == []
    assert heavy(mods, CLI) == []
    assert nouns(mods) == []


def test_run_read_by_typer_loads_its_nouns_module_alone(tmp_path: Path) -> None:
    """A form the fast path hands over (here `--help`): Typer, and the containers module alone."""
    mods = modules(tmp_path, ["run", "--help"])
    assert heavy(mods, HEAVY) == []
    assert nouns(mods) == ["ketch.cli.containers"]
    assert "typer.main" in mods


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a container: namespaces, mounts and cgroups need root")
def test_run_of_a_local_image_imports_no_pull_machinery(tmp_path: Path) -> None:
    rootfs = tmp_path / "busybox.tar"
    rootfs.write_bytes(tar_bytes(busybox_entries()))
    modules(tmp_path, ["import", str(rootfs), "budget/busybox"])
    mods = modules(tmp_path, ["run", "--rm", "--network", "none", "budget/busybox", "true"])
    assert heavy(mods, HEAVY) == []
    assert heavy(mods, CLI) == []
    assert nouns(mods) == []
    assert heavy(mods, LEAN) == []


def test_the_budget_can_fail(tmp_path: Path) -> None:
    """A command that needs the registry client does import it: the dump sees it."""
    mods = modules(tmp_path, ["pull", "127.0.0.1:1/nothing"], (1, 125))
    assert "ketch.registry.client" in mods


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a container: namespaces, mounts and cgroups need root")
def test_the_listings_with_rows_import_only_what_sqlite_needs(tmp_path: Path) -> None:
    """`ps` of a running and a created container, `images` of a tagged image,
    with their common flags: what they import of the standard library stops
    at SQLite's C module (which loads functools itself)."""
    rootfs = tmp_path / "busybox.tar"
    rootfs.write_bytes(tar_bytes(busybox_entries()))
    modules(tmp_path, ["import", str(rootfs), "budget/busybox"])
    modules(tmp_path, ["create", "--name", "made", "--network", "none", "-v", "/tmp:/host", "budget/busybox", "true"])
    modules(tmp_path, ["run", "-d", "--name", "up", "--network", "none", "-l", "a=b", "budget/busybox", "sleep", "60"])
    try:
        cases = [
            ["ps"], ["ps", "-a"], ["ps", "-a", "--no-trunc"], ["ps", "-aq"], ["ps", "-a", "-f", "status=running"],
            ["ps", "-a", "-s"], ["images"], ["images", "-a"], ["images", "--digests"], ["images", "budget/busybox"],
            ["images", "-f", "dangling=false"], ["images", "-q"],
        ]  # fmt: skip
        for args in cases:
            mods = modules(tmp_path, args)
            assert heavy(mods, LISTING_FREE) == [], args
            assert heavy(mods, HEAVY + LEAN) == [], args
        # --format: its template engine (cli/template) lexes with re and has json's functions; the
        # store's part stays as lean
        for args in (["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Mounts}} {{.Command}}"],
                     ["images", "--format", "{{.Repository}}:{{.Tag}} {{.CreatedSince}} {{.Size}}"]):  # fmt: skip
            mods = modules(tmp_path, args)
            assert heavy(mods, ("pathlib", "sqlite3", "datetime", "ketch.runtime.inspect", "ketch._native")) == []
        # the same rows shown: the test would pass on a listing that printed nothing
        out = subprocess.run(
            [sys.executable, "-c", "import sys; from ketch.cli import main; sys.exit(main())", "ps", "-a", "--format",
             "{{.Names}} {{.State}}"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "KETCH_ROOT": str(tmp_path / "store"), "KETCH_RUN_ROOT": str(tmp_path / "run")},
        )  # fmt: skip
        assert sorted(out.stdout.split("\n")[:2]) == ["made created", "up running"], out.stderr
    finally:
        modules(tmp_path, ["rm", "-f", "up", "made"])


@pytest.mark.skipif(os.geteuid() != 0, reason="builds with RUN: namespaces, mounts and cgroups need root")
def test_a_cached_build_imports_no_dataclasses_typing_or_shutil(tmp_path: Path) -> None:
    rootfs = tmp_path / "busybox.tar"
    rootfs.write_bytes(tar_bytes(busybox_entries()))
    modules(tmp_path, ["import", str(rootfs), "budget/busybox"])
    ctx = tmp_path / "ctx"
    (ctx / "files").mkdir(parents=True)
    (ctx / "files" / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text(
        "FROM budget/busybox\nWORKDIR /app\nCOPY files/ /app/files/\nRUN echo built > /app/built.txt\n"
        'ENV MODE=bench\nCMD ["cat", "/app/built.txt"]\n'
    )
    args = ["build", "--network", "none", "-t", "budget/app", str(ctx)]
    modules(tmp_path, args)  # the cache filled
    try:
        mods = modules(tmp_path, args)
        assert "ketch.builder.builder" in mods  # the build ran, from its cache
        assert heavy(mods, LEAN + ("shutil", "bz2", "lzma")) == []
        assert heavy(mods, CLI) == [] and nouns(mods) == []
    finally:
        modules(tmp_path, ["rmi", "budget/app"])
