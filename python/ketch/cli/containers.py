"""The container commands: run, create, start, stop, restart, kill, rm, ps,
port, logs, exec, inspect, top, wait, rename, pause, unpause, cp, diff, commit,
stats, attach, export, update; and all of them again as `container ...`
(with `container prune`)."""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _shared
from ._flags import DockerCommand
from ._shared import command, daemon_error, documents, each, error, out, store, terminal
from .options import Format, InspectFormat, NoTrunc

if TYPE_CHECKING:
    from ..runtime.state import Container
    from ..runtime.stats import Stats
    from ..store import Store
    from .template import Row

Containers = Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")]
Container_ = Annotated[str, typer.Argument(metavar="CONTAINER")]
StopTime = Annotated[
    int | None, typer.Option("-t", "--time", help="Seconds to wait for stop before killing it", show_default=False)
]
# Flags that run, create and exec share.
Interactive = Annotated[bool, typer.Option("-i", "--interactive", help="Keep STDIN open")]
Tty = Annotated[bool, typer.Option("-t", "--tty", help="Allocate a pseudo-TTY")]
Env = Annotated[list[str] | None, typer.Option("-e", "--env", help="Set environment variables")]
Workdir = Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory inside the container")]
User = Annotated[str | None, typer.Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")]
Many = list[str] | None


@command("inspect")
def inspect(
    names: Annotated[list[str], typer.Argument(metavar="NAME|ID [NAME|ID...]")], format_: InspectFormat = None
) -> int:
    """Return low-level information on containers or images"""
    from ..errors import ObjectNotFound
    from ..runtime.inspect import inspect_any

    return documents(names, inspect_any, ObjectNotFound, format_)


# run's parameters that are not the new container's options
_RUN_ONLY = ("image", "args", "rm", "detach", "interactive", "pull_policy")


# Everything after the image is the container's command; -h is --hostname, as in docker.
@command("run", allow_interspersed_args=False, help_option_names=["--help"])
def run(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE")],
    args: Annotated[list[str] | None, typer.Argument(metavar="[COMMAND] [ARG...]")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Assign a name to the container")] = None,
    rm: Annotated[bool, typer.Option("--rm", help="Automatically remove the container when it exits")] = False,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run container in background")] = False,
    interactive: Interactive = False,
    tty: Tty = False,
    env: Env = None,
    env_file: Annotated[Many, typer.Option("--env-file", help="Read in a file of environment variables")] = None,
    workdir: Workdir = None,
    user: User = None,
    entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Overwrite the default ENTRYPOINT")] = None,
    hostname: Annotated[str | None, typer.Option("-h", "--hostname", help="Container host name")] = None,
    network: Annotated[
        str | None, typer.Option("--network", "--net", help="Connect a container to a network (bridge, none, host)")
    ] = None,
    publish: Annotated[Many, typer.Option("-p", "--publish", help="Publish a container's port(s) to the host")] = None,
    publish_all: Annotated[
        bool, typer.Option("-P", "--publish-all", help="Publish all exposed ports to random ports")
    ] = False,
    dns: Annotated[Many, typer.Option("--dns", help="Set custom DNS servers")] = None,
    dns_search: Annotated[Many, typer.Option("--dns-search", help="Set custom DNS search domains")] = None,
    add_host: Annotated[Many, typer.Option("--add-host", help="Add a custom host-to-IP mapping (host:ip)")] = None,
    pull_policy: Annotated[
        str, typer.Option("--pull", help='Pull image before running ("always", "missing", "never")')
    ] = "missing",
    memory: Annotated[str | None, typer.Option("-m", "--memory", help="Memory limit")] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="Number of CPUs")] = None,
    pids_limit: Annotated[int | None, typer.Option("--pids-limit", help="Tune container pids limit")] = None,
    volumes: Annotated[Many, typer.Option("-v", "--volume", help="Bind mount a volume")] = None,
    tmpfs: Annotated[Many, typer.Option("--tmpfs", help="Mount a tmpfs directory")] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Mount the container's root filesystem as read only")
    ] = False,
    cap_add: Annotated[Many, typer.Option("--cap-add", help="Add Linux capabilities")] = None,
    cap_drop: Annotated[Many, typer.Option("--cap-drop", help="Drop Linux capabilities")] = None,
    privileged: Annotated[
        bool, typer.Option("--privileged", help="Give extended privileges to this container")
    ] = False,
    security_opt: Annotated[Many, typer.Option("--security-opt", help="Security Options")] = None,
    mounts: Annotated[Many, typer.Option("--mount", help="Attach a filesystem mount to the container")] = None,
    init: Annotated[
        bool, typer.Option("--init", help="Run an init inside the container that forwards signals and reaps processes")
    ] = False,
    # -- restart policy, healthcheck, log rotation (issue 12) --
    restart: Annotated[
        str,
        typer.Option(
            "--restart",
            help='Restart policy to apply when a container exits ("no", "on-failure[:N]", "always", "unless-stopped")',
        ),
    ] = "no",
    health_cmd: Annotated[str | None, typer.Option("--health-cmd", help="Command to run to check health")] = None,
    health_interval: Annotated[
        str | None, typer.Option("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
    ] = None,
    health_retries: Annotated[
        int | None, typer.Option("--health-retries", help="Consecutive failures needed to report unhealthy")
    ] = None,
    health_timeout: Annotated[
        str | None,
        typer.Option("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    ] = None,
    health_start_period: Annotated[
        str | None,
        typer.Option(
            "--health-start-period",
            help="Start period for the container to initialize before starting "
            "health-retries countdown (ms|s|m|h) (default 0s)",
        ),
    ] = None,
    no_healthcheck: Annotated[
        bool, typer.Option("--no-healthcheck", help="Disable any container-specified HEALTHCHECK")
    ] = False,
    log_opt: Annotated[Many, typer.Option("--log-opt", help="Log driver options (max-size, max-file)")] = None,
    # -- issue 12's run/create flags (wt-flags)
    label: Annotated[Many, typer.Option("-l", "--label", help="Set meta data on a container")] = None,
    label_file: Annotated[Many, typer.Option("--label-file", help="Read in a line delimited file of labels")] = None,
    stop_signal: Annotated[str | None, typer.Option("--stop-signal", help="Signal to stop the container")] = None,
    stop_timeout: Annotated[
        int | None, typer.Option("--stop-timeout", help="Timeout (in seconds) to stop a container")
    ] = None,
    ulimit: Annotated[Many, typer.Option("--ulimit", help="Ulimit options")] = None,
    sysctl: Annotated[Many, typer.Option("--sysctl", help="Sysctl options")] = None,
    shm_size: Annotated[str | None, typer.Option("--shm-size", help="Size of /dev/shm")] = None,
    device: Annotated[Many, typer.Option("--device", help="Add a host device to the container")] = None,
    group_add: Annotated[Many, typer.Option("--group-add", help="Add additional groups to join")] = None,
    network_alias: Annotated[
        Many, typer.Option("--network-alias", help="Add network-scoped alias for the container")
    ] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="IPv4 address (e.g., 172.30.100.104)")] = None,
) -> int:
    """Run a command in a new container"""
    # Registered as `create` too, which stops after printing the new id.
    from ..images import ensure_image
    from ..runtime import launch
    from ._pull import print_pull

    # the parameters are named as the runtime's options are: all but run's own go to it
    opts = launch.options(_shared.settings, **{k: v for k, v in ctx.params.items() if k not in _RUN_ONLY})
    s = store()
    ensure_image(s, image, pull_policy, print_pull)
    c = launch.create(s, image, list(args or []), opts, rm)
    if ctx.info_name == "create":
        out(c.id)
        return 0
    if detach:
        launch.start_detached(s, c, rm)
        out(c.id)
        return 0
    return launch.run_foreground(s, c, terminal(), tty, interactive, rm)


# `create` takes run's flags and stops before starting.
_shared.app.command(
    "create",
    cls=DockerCommand,
    context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]},
    help="Create a new container",
)(run)


@command("start")
def start(
    names: Containers,
    attach: Annotated[bool, typer.Option("-a", "--attach", help="Attach STDOUT/STDERR and forward signals")] = False,
    interactive: Annotated[bool, typer.Option("-i", "--interactive", help="Attach container's STDIN")] = False,
) -> int:
    """Start one or more stopped containers"""
    from ..errors import KetchError
    from ..runtime import launch

    s = store()
    rc = 0
    for n in names:
        try:
            code = launch.start(s, n, terminal() if attach or interactive else None, interactive)
        except KetchError as e:
            error(f"Error: {e}")
            rc = 1
            continue
        if code is None:
            out(n)
        else:
            rc = code
    return rc


def _ports(s: "Store", c: "Container") -> str:
    """docker's PORTS: `0.0.0.0:32768->80/tcp` (the IPv6 side as `:::32768`)."""
    from ..runtime.inspect import published_ports

    return ", ".join(
        f"{':::' if p.host_ip == '::' else p.host_ip + ':'}{p.host_port}->{p.port}/{p.proto}"
        for p in published_ports(s, c)
    )


# docker's ps --format fields (formatter.ContainerContext) and their column names
PS_HEADER = {
    "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
    "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
}  # fmt: skip
PS_TYPE = "*formatter.ContainerContext"


def ps_fields(s: "Store", c: "Container", trunc: bool, with_size: bool) -> dict[str, Any]:
    """One container as docker's ps sees it (formatter.ContainerContext):
    each field a value or a function computing it when read (`Label` takes a name)."""
    import shlex
    import time

    from ..runtime import inspect as ri
    from ._format import ellipsis, go_quote, go_time, human_duration, human_size

    def command() -> str:
        cmd = " ".join(shlex.quote(a) if " " in a else a for a in c.config["argv"])
        return go_quote(ellipsis(cmd, 20) if trunc else cmd)

    def labels() -> str:
        return ",".join(sorted(f"{k}={v}" for k, v in ri.labels(s, c).items()))

    def mounts() -> str:
        names = [m.name or m.source for m in ri.mounts(s, c)]
        return ",".join(ellipsis(n, 15) if trunc else n for n in names)

    def size() -> str:
        if not with_size:
            return "0B"
        from ..errors import KetchError
        from ..store.images import get

        rw = ri.size_rw(s, c)
        try:
            virtual = rw + get(s, c.image_id).size
        except KetchError:
            virtual = rw
        return f"{human_size(rw)} (virtual {human_size(virtual)})"

    return {
        "ID": c.short_id if trunc else c.id,
        "Image": c.image,
        "Command": command,
        "CreatedAt": lambda: go_time(c.created),
        "RunningFor": lambda: f"{human_duration(time.time() - c.created)} ago",
        "Ports": lambda: _ports(s, c),
        "State": "paused" if c.paused else c.state,
        "Status": lambda: ri.status_text(c),
        "Size": size,
        "Names": c.name,
        "Labels": labels,
        "Mounts": mounts,
        "LocalVolumes": lambda: str(sum(m.volume for m in ri.mounts(s, c))),
        "Networks": lambda: ",".join(ri.networks(s, c)),
        "Label": lambda k: ri.labels(s, c).get(k, ""),
    }


def ps_row(fields: dict[str, Any]) -> "Row":
    """`ps_fields` as the template engine reads them."""
    from .template import Method, Row

    return Row(PS_TYPE, {k: Method(v, 1 if k == "Label" else 0) if callable(v) else v for k, v in fields.items()})


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
    from ..errors import KetchError
    from ..runtime.inspect import select
    from ._format import table

    if format_ and quiet:
        error("WARNING: Ignoring custom format, because both --format and --quiet are set.")
    if format_ and not quiet:
        from .template import Method, Row, probe

        used: set[str] = set()

        def seen(name: str, arity: int = 0) -> Method:
            return Method(lambda *_a: used.add(name) or "", arity)  # type: ignore[func-returns-value]

        probe(format_, Row(PS_TYPE, {k: seen(k) for k in PS_HEADER} | {"Label": seen("Label", 1)}))
        size = size or "Size" in used
    s = store()
    limit = 1 if latest and last == -1 else last
    try:
        rows = select(s, all_ or limit > 0, list(filter_ or []))
    except KetchError as e:
        raise daemon_error(e) from None
    if limit > 0:
        rows = rows[:limit]
    if quiet:
        for c in rows:
            out(c.id if no_trunc else c.short_id)
        return
    fields = [ps_fields(s, c, not no_trunc, size) for c in rows]
    if format_ and format_ != "table":
        from .template import format_rows

        sys.stdout.write(format_rows(format_, [ps_row(f) for f in fields], PS_HEADER))
        return
    columns = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"] + (["Size"] if size else [])
    lines = [[PS_HEADER[k] for k in columns]]
    lines += [[str(f[k]() if callable(f[k]) else f[k]) for k in columns] for f in fields]
    print(table(lines))


@command("rm")
def rm_(
    names: Containers,
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the removal of a running container")] = False,
    volumes: Annotated[
        bool, typer.Option("-v", "--volumes", help="Remove anonymous volumes associated with the container")
    ] = False,
) -> int:
    """Remove one or more containers"""
    from ..runtime.containers import remove

    s = store()
    return each(names, lambda n: remove(s, n, force, volumes))


@command("stop")
def stop(names: Containers, time_: StopTime = None) -> int:
    """Stop one or more running containers"""
    from ..runtime.signals import stop as do_stop

    s = store()
    return each(names, lambda n: do_stop(s, n, None if time_ is None else float(time_)))


@command("restart")
def restart(names: Containers, time_: StopTime = None) -> int:
    """Restart one or more containers"""
    from ..runtime.launch import restart as do_restart

    s = store()
    grace = None if time_ is None else float(time_)
    return each(names, lambda n: do_restart(s, n, grace), prefix="Error response from daemon: ")


@command("logs")
def logs(
    name: Container_,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow log output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", help="Number of lines to show from the end of the logs")] = "all",
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps", help="Show timestamps")] = False,
) -> None:
    """Fetch the logs of a container"""
    from ..runtime.inspect import logs as entries

    for e in entries(store(), name, follow, tail):
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

    t = processes(store(), container, ps_args)
    print("\n".join([t.header, *t.lines]))


@command("kill")
def kill(
    names: Containers,
    signal_: Annotated[str, typer.Option("-s", "--signal", help="Signal to send to the container")] = "KILL",
) -> int:
    """Kill one or more running containers"""
    from ..runtime.signals import kill as do_kill

    s = store()
    return each(names, lambda n: do_kill(s, n, signal_))


@command("wait")
def wait(names: Containers) -> int:
    """Block until one or more containers stop, then print their exit codes"""
    from ..runtime.inspect import wait_exit

    s = store()
    for n in names:
        out(wait_exit(s, n))
    return 0


@command("rename")
def rename(container: Container_, new_name: Annotated[str, typer.Argument(metavar="NEW_NAME")]) -> None:
    """Rename a container"""
    from ..runtime.containers import rename as do_rename

    do_rename(store(), container, new_name)


@command("pause")
def pause(names: Containers) -> int:
    """Pause all processes within one or more containers"""
    from ..runtime.state import pause as do_pause

    s = store()
    return each(names, lambda n: do_pause(s, n, True))


@command("unpause")
def unpause(names: Containers) -> int:
    """Unpause all processes within one or more containers"""
    from ..runtime.state import pause as do_pause

    s = store()
    return each(names, lambda n: do_pause(s, n, False))


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
) -> int:
    """Attach local standard input, output, and error streams to a running container"""
    from ..runtime.attach import attach as follow
    from ..runtime.attach import exit_code

    s = store()
    for e in follow(s, container, sig_proxy):
        stream = sys.stderr if e.stream == "stderr" else sys.stdout
        stream.write(e.text)
        stream.flush()
    return exit_code(s, container)


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


@command("update")
def update(
    names: Containers,
    memory: Annotated[str | None, typer.Option("-m", "--memory", help="Memory limit")] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="Number of CPUs")] = None,
    pids_limit: Annotated[int | None, typer.Option("--pids-limit", help="Tune container pids limit")] = None,
) -> int:
    """Update configuration of one or more containers"""
    from ..errors import UsageError
    from ..runtime import cgroups
    from ..runtime.containers import update as do_update

    if memory is None and cpus is None and pids_limit is None:
        raise UsageError("you must provide one or more flags when using this command")
    limits = cgroups.Limits(
        memory=cgroups.parse_bytes(memory) if memory else None, cpus=cpus, pids=pids_limit if pids_limit else None
    )
    cgroups.check_cpus(cpus)
    s = store()
    return each(names, lambda n: do_update(s, n, limits), prefix="Error response from daemon: ")


# `ketch container ...`: the container commands again, as docker's management group has them.
_container = _shared.group("container", "Manage containers")


@_shared.subcommand(_container, "prune")
def container_prune(
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> int:
    """Remove all stopped containers"""
    from ..runtime.containers import prune
    from ._format import human_size

    if not force and not _shared.confirm("WARNING! This will remove all stopped containers."):
        return 0
    r = prune(store())
    if r.deleted:
        out("\n".join(["Deleted Containers:", *r.deleted, ""]))
    out(f"Total reclaimed space: {human_size(r.reclaimed)}")
    return 0


for _name, _fn in [
    ("attach", attach), ("commit", commit), ("cp", cp), ("create", run), ("diff", diff), ("exec", exec_),
    ("export", export), ("inspect", None), ("kill", kill), ("logs", logs), ("ls", ps), ("list", ps), ("ps", ps),
    ("pause", pause), ("port", port), ("rename", rename), ("restart", restart), ("rm", rm_), ("remove", rm_),
    ("run", run), ("start", start), ("stats", stats), ("stop", stop), ("top", top), ("unpause", unpause),
    ("update", update), ("wait", wait),
]:  # fmt: skip
    if _fn is None:
        continue
    _ctx = {"allow_interspersed_args": False, "help_option_names": ["--help"]} if _fn is run else None
    if _fn is exec_ or _fn is top:
        _ctx = {"allow_interspersed_args": False}
    _help = "Create a new container" if _name == "create" else _fn.__doc__
    _container.command(_name, cls=DockerCommand, context_settings=_ctx, help=_help)(_fn)


@_shared.subcommand(_container, "inspect")
def container_inspect(names: Containers) -> int:
    """Display detailed information on one or more containers"""
    from ..errors import ContainerNotFound
    from ..runtime.inspect import container_inspect as get

    return documents(names, get, ContainerNotFound)
