import subprocess
import sys

import pytest

from ketch.cli._flags import normalize
from ketch.cli._format import human_duration, human_size, table
from ketch.cli.app import app


def _command(name: str):  # type: ignore[no-untyped-def]
    import typer.main

    group = typer.main.get_command(app)
    return group.commands[name]  # type: ignore[attr-defined]


def test_short_option_with_equals_is_its_value() -> None:
    cmd = _command("pull")
    assert normalize(cmd, ["--platform=linux/arm64", "x"], True) == ["--platform=linux/arm64", "x"]
    assert normalize(_command("tag"), ["a", "b"], True) == ["a", "b"]


def test_docker_flag_forms_reach_the_command() -> None:
    """-t="static_web" is the tag static_web (Click alone gives "=static_web"); -qa groups."""
    import typer
    from typer.testing import CliRunner

    from ketch.cli._flags import DockerCommand, DockerGroup

    seen: dict[str, object] = {}
    demo = typer.Typer(cls=DockerGroup)

    @demo.command(cls=DockerCommand)
    def build(
        path: str,
        tag: str = typer.Option("", "-t", "--tag"),
        quiet: bool = typer.Option(False, "-q"),
        all_: bool = typer.Option(False, "-a"),
    ) -> None:
        seen.update(path=path, tag=tag, quiet=quiet, all=all_)

    @demo.command(cls=DockerCommand)
    def other() -> None:
        pass

    runner = CliRunner()
    for args in (["-t=static_web", "."], ["-t", "static_web", "."], ["--tag=static_web", "."], [".", "-t=static_web"]):
        seen.clear()
        r = runner.invoke(demo, ["build", *args])
        assert r.exit_code == 0, r.output
        assert seen["tag"] == "static_web", args
    r = runner.invoke(demo, ["build", "-qa", "."])
    assert (seen["quiet"], seen["all"]) == (True, True)


def test_normalize_stops_at_first_positional_when_asked() -> None:
    cmd = _command("pull")
    assert normalize(cmd, ["img", "-x=1"], False) == ["img", "-x=1"]


def test_sizes_and_durations_match_go_units() -> None:
    assert human_size(0) == "0B"
    assert human_size(1_982_256) == "1.98MB"
    assert human_size(6_990_000) == "6.99MB"
    assert human_size(199_000_000) == "199MB"
    assert human_size(1_050_000_000) == "1.05GB"
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(26) == "26 seconds"
    assert human_duration(61) == "About a minute"
    assert human_duration(6 * 60) == "6 minutes"
    assert human_duration(3600) == "About an hour"
    assert human_duration(5 * 86400) == "5 days"


def test_table_pads_columns_by_three() -> None:
    out = table([["A", "BB", "C"], ["xxx", "y", ""]]).splitlines()
    assert out[0] == "A     BB   C"
    assert out[1] == "xxx   y    "


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from ketch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pydantic', 'httpx', 'pyroute2', 'ketch._native', 'ketch.registry.pull', 'sqlite3')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Commands:" in out
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_terminal_progress_redraws_each_layer_on_its_own_line() -> None:
    import io

    from ketch.cli._progress import TerminalReporter
    from ketch.registry import progress as p

    a, b = "sha256:aaa", "sha256:bbb"
    out = io.StringIO()
    rep = TerminalReporter(out, tty=True)
    rep(p.PullingFrom("latest", "lab/x"))
    rep(p.LayerStarted(a))
    rep(p.LayerStarted(b))
    rep(p.LayerProgress(a, 50, 100))
    rep(p.LayerExtracted(b))
    text = out.getvalue()
    assert text.startswith("latest: Pulling from lab/x\naaa: Pulling fs layer\nbbb: Pulling fs layer\n")
    # aaa is two lines up, bbb one; each redraw goes back down
    assert "\x1b[2A\r\x1b[2Kaaa: Downloading [" + "=" * 25 + ">" + " " * 24 + "]  50B/100B\x1b[2B\r" in text
    assert "\x1b[1A\r\x1b[2Kbbb: Pull complete\x1b[1B\r" in text


def test_plain_reporter_prints_status_changes_only() -> None:
    import io

    from ketch.cli._progress import TerminalReporter
    from ketch.registry import progress as p

    out = io.StringIO()
    rep = TerminalReporter(out, tty=False)
    rep(p.LayerStarted("sha256:aaa"))
    rep(p.LayerProgress("sha256:aaa", 5, 10))
    rep(p.LayerExtracting("sha256:aaa"))
    rep(p.LayerExtracted("sha256:aaa"))
    assert out.getvalue().splitlines() == ["aaa: Pulling fs layer", "aaa: Pull complete"]


def test_publish_specs_parse_as_docker_reads_them() -> None:
    from ketch.errors import KetchError
    from ketch.network.ports import parse_publish

    def one(spec: str) -> list[tuple[str, int, str, int]]:
        return [(p["host_ip"], p["host_port"], p["proto"], p["port"]) for p in parse_publish(spec)]

    assert one("80") == [("0.0.0.0", 0, "tcp", 80)]
    assert one("8080:80") == [("0.0.0.0", 8080, "tcp", 80)]
    assert one("127.0.0.1:8080:80") == [("127.0.0.1", 8080, "tcp", 80)]
    assert one("127.0.0.1::80") == [("127.0.0.1", 0, "tcp", 80)]
    assert one("53:53/udp") == [("0.0.0.0", 53, "udp", 53)]
    assert one("8000-8001:80-81") == [("0.0.0.0", 8000, "tcp", 80), ("0.0.0.0", 8001, "tcp", 81)]
    assert one("7000-7001") == [("0.0.0.0", 0, "tcp", 7000), ("0.0.0.0", 0, "tcp", 7001)]
    for bad in ("abc", "80/sctpx", "0", "70000", "8000-8002:80-81", "1.2.3:80"):
        with pytest.raises(KetchError):
            parse_publish(bad)
