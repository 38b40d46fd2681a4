"""The container commands that read or move a container's contents and
processes: ps, inspect, logs, exec, attach, top, stats, port, cp, diff,
export, commit (and `container inspect`). The life cycle, and the
`container ...` group that lists both, are in containers.py."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ._shared import command, documents, error, out, store, terminal
from .options import Container_, Containers, Env, Format, InspectFormat, Interactive, Many, NoTrunc, Tty, User, Workdir

if TYPE_CHECKING:
    from ..runtime.state import Container
    from ..runtime.stats import Stats


@command("inspect")
def inspect(
    names: Annotated[list[str], typer.Argument(metavar="NAME|ID [NAME|ID...]")], format_: InspectFormat = None
) -> int:
    """Return low-level information on containers or images"""
    from ..errors import ObjectNotFound
    from ..runtime.inspect import inspect_any

    return documents(names, inspect_any, ObjectNotFound, format_)


@command("ps")
def ps(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all containers (default shows just running)")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display container IDs")] = False,
    no_trunc: NoTrunc = False,
    filter_: Annotated[Many, typer.Option("-f", "--filter", help="Filter output based on conditions provided")] = None,
    format_: Format = None,
    size: Annotated[bool, typer.Option("-s", "--size", help="Display total file sizes")] = False,
    last: Annotated[
        int, typer.Option("-n", "--last", help="Show n last created containers (includes all states)")
    ] = -1,
    latest: Annotated[
        bool, typer.Option("-l", "--latest", help="Show the latest created container (includes all states)")
    ] = False,
) -> None:
    """List containers"""
    from ._lists import ps as listing

    listing(all_, quiet, no_trunc, filter_, format_, size, last, latest)


@command("logs")
def logs(
    name: Container_,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow log output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", help="Number of lines to show from the end of the logs")] = "all",
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps", help="Show timestamps")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")'
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")'
        ),
    ] = None,
) -> None:
    """Fetch the logs of a container"""
    from ..runtime.inspect import logs as entries

    for e in entries(store(), name, follow, tail, since=since, until=until):
        stream = sys.stderr if e.stream == "stderr" else sys.stdout
        stream.write(f"{e.time} {e.text}" if timestamps else e.text)
        stream.flush()


@command("exec", allow_interspersed_args=False)
def exec_(
    container: Container_,
    args: Annotated[list[str], typer.Argument(metavar="COMMAND [ARG...]")],
    interactive: Interactive = False,
    tty: Tty = False,
    env: Env = None,
    workdir: Workdir = None,
    user: User = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Detached mode: run command in the background")] = (
        False
    ),
) -> int:
    """Execute a command in a running container"""
    from ..runtime.launch import exec_foreground

    return exec_foreground(
        store(), container, list(args), terminal(), env=list(env or []), workdir=workdir, user=user, tty=tty,
        interactive=interactive, detach=detach,
    )  # fmt: skip


@command("commit", allow_interspersed_args=True)
def commit(
    container: Container_,
    target: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    author: Annotated[
        str, typer.Option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    ] = "",
    change: Annotated[
        Many, typer.Option("-c", "--change", help="Apply Dockerfile instruction to the created image")
    ] = (None),
    message: Annotated[str, typer.Option("-m", "--message", help="Commit message")] = "",
    pause: Annotated[bool, typer.Option("-p", "--pause/--no-pause", help="Pause container during commit")] = True,
) -> None:
    """Create a new image from a container's changes"""
    from ..runtime.commit import commit as do_commit

    print(do_commit(store(), container, target, message, author, pause, list(change or [])))


@command("cp")
def cp(
    src: Annotated[str, typer.Argument(metavar="SRC_PATH")],
    dest: Annotated[str, typer.Argument(metavar="DEST_PATH")],
) -> None:
    """Copy files/folders between a container and the local filesystem"""
    from ..runtime.cp import copy

    copy(store(), src, dest)


@command("diff")
def diff(container: Container_) -> None:
    """Inspect changes to files or directories on a container's filesystem"""
    from ..runtime.commit import diff as do_diff

    for kind, path in do_diff(store(), container):
        print(kind, path)


@command("port")
def port(
    container: Container_,
    private_port: Annotated[str | None, typer.Argument(metavar="[PRIVATE_PORT[/PROTO]]")] = None,
) -> None:
    """List port mappings or a specific mapping for the container"""
    from ..runtime.inspect import port as ports

    def addr(ip: str) -> str:
        return f"[{ip}]" if ":" in ip else ip

    for p in ports(store(), container, private_port):
        host = f"{addr(p.host_ip)}:{p.host_port}"
        print(host if private_port else f"{p.port}/{p.proto} -> {host}")


@command("top", allow_interspersed_args=False)
def top(
    container: Container_,
    ps_args: Annotated[list[str] | None, typer.Argument(metavar="[ps OPTIONS]")] = None,
) -> None:
    """Display the running processes of a container"""
    from ..runtime.inspect import top as processes
    from .template.table import tabwrite

    t = processes(store(), container, ps_args)
    # docker top's table: Go's tabwriter, columns at least 20 wide, 3 apart
    print(tabwrite("\n".join("\t".join(row) for row in [t.titles, *t.processes]), minwidth=20))


def _stats_cells(r: "Stats", no_trunc: bool = False) -> dict[str, str]:
    """docker's stats fields, as its table and its --format show them."""
    from ._format import human_size
    from .system import _bytes_binary

    return {
        "BlockIO": f"{human_size(r.blk_read)} / {human_size(r.blk_write)}",
        "CPUPerc": f"{r.cpu_percent:.2f}%",
        "Container": r.id if no_trunc else r.id[:12],
        "ID": r.id if no_trunc else r.id[:12],
        "MemPerc": f"{r.mem_percent:.2f}%",
        "MemUsage": f"{_bytes_binary(r.mem_usage)} / {_bytes_binary(r.mem_limit)}",
        "Name": r.name,
        "NetIO": f"{human_size(r.net_rx)} / {human_size(r.net_tx)}",
        "PIDs": str(r.pids),
    }


def _stats_table(rows: list["Stats"], no_trunc: bool = False) -> str:
    from ._format import table

    keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
    lines = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]]
    lines += [[_stats_cells(r, no_trunc)[k] for k in keys] for r in rows]
    return table(lines, minwidth=10)


@command("stats")
def stats(
    names: Annotated[list[str] | None, typer.Argument(metavar="[CONTAINER...]")] = None,
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all containers (default shows just running)")] = False,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Disable streaming stats and only pull the first result")
    ] = False,
    no_trunc: NoTrunc = False,
    format_: Annotated[str | None, typer.Option("--format", help="Format output using a custom template")] = None,
) -> int:
    """Display a live stream of container(s) resource usage statistics"""
    from ..errors import KetchError
    from ..runtime.state import list_containers, lookup
    from ..runtime.stats import collect
    from .system import render

    s = store()

    def chosen() -> list["Container"]:
        if names:
            found = []
            for n in names:
                try:
                    found.append(lookup(s, n))
                except KetchError as e:
                    error(f"Error response from daemon: {e}")
                    raise _Silent(1) from None
            return found
        return [c for c in list_containers(s) if all_ or c.state == "running"]

    def show(rows: list["Stats"]) -> None:
        if format_:
            for r in rows:
                out(render(format_, _stats_cells(r, no_trunc)))
        else:
            print(_stats_table(rows, no_trunc), flush=True)

    from ._shared import Silent as _Silent

    rows, previous = collect(chosen())
    if no_stream:
        show(rows)
        return 0
    while True:
        sys.stdout.write("\033[2J\033[H")
        show(rows)
        rows, previous = collect(chosen(), previous)
        import time

        time.sleep(1.0)


@command("attach")
def attach(
    container: Container_,
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Do not attach STDIN")] = False,
    sig_proxy: Annotated[
        bool, typer.Option("--sig-proxy/--no-sig-proxy", help="Proxy all received signals to the process")
    ] = True,
    detach_keys: Annotated[
        str | None, typer.Option("--detach-keys", help="Override the key sequence for detaching a container")
    ] = None,
) -> int:
    """Attach local standard input, output, and error streams to a running container"""
    from ..runtime.attach import attach as join

    outcome = join(store(), container, terminal(), stdin=not no_stdin, sig_proxy=sig_proxy, keys=detach_keys)
    if outcome.exit_code is None:
        error("read escape sequence")  # docker's words and code on a detach
        return 1
    return outcome.exit_code


@command("export")
def export(
    container: Container_,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to a file, instead of STDOUT")] = None,
) -> None:
    """Export a container's filesystem as a tar archive"""
    from ..errors import KetchError
    from ..runtime.export import export as to_stream
    from ..runtime.export import export_to_file

    if output:
        export_to_file(store(), container, output)
        return
    if sys.stdout.isatty():
        raise KetchError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    to_stream(store(), container, sys.stdout.buffer)


# `container inspect`, registered with the group in container_group.py


def container_inspect(names: Containers) -> int:
    """Display detailed information on one or more containers"""
    from ..errors import ContainerNotFound
    from ..runtime.inspect import container_inspect as get

    return documents(names, get, ContainerNotFound)
