"""The system commands: version, info, events, and `system df|prune|events|info`."""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._shared import command, confirm, group, out, store, subcommand
from .options import PruneForce

if TYPE_CHECKING:
    from ..store.events import Event
    from .template import Row

system = group("system", "Manage ketch")
Format = Annotated[str | None, typer.Option("-f", "--format", help="Format output using a custom template")]


def render(template: str, doc: Any) -> str:
    """`--format` of one document (version, info, df, an event): Go's
    text/template, as docker runs it (cli/template)."""
    from .template import render as go_render

    return go_render(template, doc)


def _version_doc() -> dict[str, Any]:
    import platform

    from .. import __version__
    from ..errors import KetchError
    from ..models.ids import host_arch

    try:
        from ..runtime.process import helper_program

        monitor = helper_program()
    except KetchError:
        monitor = "missing"
    os_arch = {"Os": "linux", "Arch": host_arch()}
    return {
        "Client": {"Version": __version__, "PythonVersion": platform.python_version(), **os_arch},
        "Server": {
            "Platform": {"Name": "ketch (daemonless)"},
            "Version": __version__,
            **os_arch,
            "KernelVersion": platform.release(),
            "Monitor": monitor,
        },
    }


@command("version")
def version(format_: Format = None) -> None:
    """Show the ketch version information"""
    d = _version_doc()
    if format_:
        out(render(format_, d))
        return
    c, s = d["Client"], d["Server"]
    out(
        "\n".join(
            [
                "Client:",
                f" Version:           {c['Version']}",
                f" Python version:    {c['PythonVersion']}",
                f" OS/Arch:           {c['Os']}/{c['Arch']}",
                "",
                f"Server: {s['Platform']['Name']}",
                " Engine:",
                f"  Version:          {s['Version']}",
                f"  OS/Arch:          {s['Os']}/{s['Arch']}",
                f"  Kernel version:   {s['KernelVersion']}",
                f"  Monitor:          {s['Monitor']}",
            ]
        )
    )


def _bytes_binary(n: float) -> str:
    """go-units BytesSize: `%.4g` and binary units."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def _info(format_: str | None) -> None:
    from .. import __version__
    from ..runtime.system import info as get_info

    i = get_info(store(), __version__)
    if format_:
        doc = {
            "Containers": i.containers, "ContainersRunning": i.running, "ContainersPaused": i.paused,
            "ContainersStopped": i.stopped, "Images": i.images, "Driver": i.storage_driver,
            "DriverStatus": [["Backing Filesystem", i.backing_filesystem]], "LoggingDriver": "json-file",
            "CgroupDriver": i.cgroup_driver, "CgroupVersion": str(i.cgroup_version), "KernelVersion": i.kernel,
            "OperatingSystem": i.operating_system, "OSType": "linux", "Architecture": i.architecture,
            "NCPU": i.cpus, "MemTotal": i.memory, "Name": i.name, "DockerRootDir": i.root,
            "ServerVersion": i.version, "DefaultRuntime": "ketch", "Monitor": i.monitor or "",
        }  # fmt: skip
        out(render(format_, doc))
        return
    lines = [
        "Client:",
        f" Version:    {i.version}",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {i.containers}",
        f"  Running: {i.running}",
        f"  Paused: {i.paused}",
        f"  Stopped: {i.stopped}",
        f" Images: {i.images}",
        f" Server Version: {i.version}",
        f" Storage Driver: {i.storage_driver}",
        f"  Backing Filesystem: {i.backing_filesystem}",
        " Logging Driver: json-file",
        f" Cgroup Driver: {i.cgroup_driver}",
        f" Cgroup Version: {i.cgroup_version}",
        " Runtimes: ketch",
        " Default Runtime: ketch",
        f" Monitor: {i.monitor if i.monitor else 'MISSING'}",
        f" Kernel Version: {i.kernel}",
        f" Operating System: {i.operating_system}",
        " OSType: linux",
        f" Architecture: {i.architecture}",
        f" CPUs: {i.cpus}",
        f" Total Memory: {_bytes_binary(i.memory)}",
        f" Name: {i.name}",
        f" Docker Root Dir: {i.root}",
        " Debug Mode: false",
    ]
    out("\n".join(lines))
    if not i.monitor:
        print(f"WARNING: {i.monitor_problem}", file=sys.stderr)


@command("info")
def info(format_: Format = None) -> None:
    """Display system-wide information"""
    _info(format_)


@subcommand(system, "info")
def system_info(format_: Format = None) -> None:
    """Display system-wide information"""
    _info(format_)


@subcommand(system, "df")
def system_df(
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show detailed information on space usage")] = False,
    format_: Format = None,
) -> None:
    """Show ketch disk usage"""
    from ..runtime.system import disk_usage
    from ._format import human_size, table

    rows = disk_usage(store())
    docs = []
    for r in rows:
        # docker's disk usage formatter: go-units HumanSize (4 digits), the share only of a size above 0
        rec = human_size(r.reclaimable, 4)
        if r.type != "Build Cache" and r.size > 0:
            rec += f" ({r.reclaimable * 100 // r.size}%)"
        docs.append(
            {"Type": r.type, "TotalCount": str(r.total), "Active": str(r.active), "Size": human_size(r.size, 4),
             "Reclaimable": rec}
        )  # fmt: skip
    if format_:
        for d in docs:
            out(render(format_, d))
        return
    keys = ["Type", "TotalCount", "Active", "Size", "Reclaimable"]
    out(table([["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], *[[d[k] for k in keys] for d in docs]], minwidth=10))


@subcommand(system, "prune")
def system_prune(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Remove all unused images not just dangling ones")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", help="Prune anonymous volumes")] = False,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help='Provide filter values (e.g. "label=<key>=<value>")')
    ] = None,
    force: PruneForce = False,
) -> int:
    """Remove unused data"""
    from ..errors import KetchError
    from ..models.filters import PruneFilter
    from ..runtime.system import prune
    from ._format import human_size

    if PruneFilter(filter_).until is not None and volumes:
        raise KetchError('The "until" filter is not supported with "--volumes"')
    if not force:
        items = ["all stopped containers", "all networks not used by at least one container"]
        if volumes:
            items.append("all anonymous volumes not used by at least one container")
        items += ["all images without at least one container associated to them" if all_ else "all dangling images"]
        items.append("unused build cache")
        if not confirm("WARNING! This will remove:\n" + "\n".join(f"  - {x}" for x in items) + "\n"):
            return 0
    r = prune(store(), all_, volumes, filter_)
    sections = [
        ("Deleted Containers:", r.containers.deleted),
        ("Deleted Networks:", r.networks),
        ("Deleted Volumes:", r.volumes.deleted),
        (
            "Deleted Images:",
            [f"untagged: {x}" for x in r.images.untagged] + [f"deleted: {x}" for x in r.images.deleted],
        ),
        ("Deleted build cache objects:", r.build_cache.deleted),
    ]
    for head, items in sections:
        if items:
            out("\n".join([head, *items, ""]))
    out(f"Total reclaimed space: {human_size(r.reclaimed, 4)}")
    return 0


# -- events ----------------------------------------------------------------------------------------


def _events(since: str | None, until: str | None, filters: list[str], format_: str | None) -> int:
    import time

    from ..store import events
    from ..store.events import matches, parse_filters, parse_time

    now = time.time()
    t_since = parse_time(since, now, "since") if since else None
    t_until = parse_time(until, now, "until") if until else None
    wanted = parse_filters(filters)
    s = store()

    def show(e: "events.Event") -> None:
        if format_:
            out(render(format_, _event_row(e)))
        else:
            from ..models.ids import rfc3339

            attrs = ", ".join(f"{k}={v}" for k, v in sorted(e.attributes.items()))
            stamp = rfc3339(e.time_nano // 1_000_000_000, fraction=False)[:-1] + f".{e.time_nano % 1_000_000_000:09d}Z"
            out(f"{stamp} {e.type} {e.action} {e.id} ({attrs})")

    follow = events.follow(s)
    next(follow)  # the position from now on is taken before the past is read: nothing falls between
    if t_since is not None or t_until is not None:
        for e in events.past(s):
            if e.time_nano > now * 1e9:
                break
            if (t_since is None or e.time >= t_since) and (t_until is None or e.time <= t_until) and matches(e, wanted):
                show(e)
    if t_until is not None and t_until <= now:
        return 0
    for ev in follow:
        if t_until is not None and time.time() > t_until:
            return 0
        if ev is None:
            continue
        if t_until is not None and ev.time > t_until:
            return 0
        if matches(ev, wanted):
            show(ev)
    return 0


def _event_row(e: "Event") -> "Row":
    """An event as docker's templates see it: its events.Message, fields by
    their Go names (`{{.ID}}`, `{{.Actor.Attributes.name}}`), `{{json .}}` its JSON."""
    from .template import GoMap, Row

    doc = e.document()
    actor = Row("events.Actor", {"ID": e.id, "Attributes": GoMap(e.attributes)}, json_doc=doc["Actor"])
    return Row(
        "*events.Message",
        {"Status": doc.get("status", ""), "ID": doc.get("id", ""), "From": doc.get("from", ""), "Type": e.type,
         "Action": e.action, "Actor": actor, "Scope": "local", "Time": doc["time"], "TimeNano": doc["timeNano"]},
        json_doc=doc,
    )  # fmt: skip


Since = Annotated[str | None, typer.Option("--since", help="Show all events created since timestamp")]
Until = Annotated[str | None, typer.Option("--until", help="Stream events until this timestamp")]
Filter = Annotated[list[str] | None, typer.Option("-f", "--filter", help="Filter output based on conditions provided")]
EventFormat = Annotated[str | None, typer.Option("--format", help="Format output using a custom template")]


@command("events")
def events_(since: Since = None, until: Until = None, filter_: Filter = None, format_: EventFormat = None) -> int:
    """Get real time events from the server"""
    return _events(since, until, list(filter_ or []), format_)


@subcommand(system, "events")
def system_events(since: Since = None, until: Until = None, filter_: Filter = None, format_: EventFormat = None) -> int:
    """Get real time events from the server"""
    return _events(since, until, list(filter_ or []), format_)


@subcommand(system, "service")
def system_service(
    uri: Annotated[
        str | None, typer.Argument(help="unix:///path of the socket (default unix:///run/ketch/docker.sock)")
    ] = None,
    socket_: Annotated[str | None, typer.Option("--socket", help="Path of the socket to listen on")] = None,
    time_: Annotated[
        float, typer.Option("-t", "--time", help="Seconds with no connection before the service exits (0: never)")
    ] = 0.0,
    group_: Annotated[str | None, typer.Option("--group", help="Group that may open the socket (mode 0660)")] = None,
) -> None:
    """Serve the Docker Engine API on a unix socket, so docker's clients drive ketch"""
    from ..api.server import DEFAULT_SOCKET, serve
    from ..errors import UsageError

    path = socket_ or DEFAULT_SOCKET
    if uri:
        if not uri.startswith("unix://"):
            raise UsageError(f"{uri}: only unix:// sockets are served (never TCP without TLS)")
        path = uri[len("unix://") :]
    if time_ < 0:
        raise UsageError("--time must be 0 or more seconds")

    def ready(where: str) -> None:
        print(f"ketch API listening on unix://{where}", file=sys.stderr, flush=True)

    try:
        serve(store(), path, idle=time_, group=group_, ready=ready)
    except KeyboardInterrupt:
        pass


from . import _boot  # noqa: E402, F401  - `system boot` (the restart policies after a reboot) joins this group
