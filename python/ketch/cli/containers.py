"""The container life cycle: run, create, start, stop, restart, kill, rm,
wait, rename, pause, unpause, update. What reads or moves a container's
contents is in container_io.py; `container ...` in container_group.py."""

from typing import Annotated

import typer

from . import _shared
from ._flags import DockerCommand
from ._shared import command, each, error, out, store, terminal
from .options import Container_, Containers, Env, Interactive, Many, Tty, User, Workdir

StopTime = Annotated[
    int | None, typer.Option("-t", "--time", help="Seconds to wait for stop before killing it", show_default=False)
]


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
    from ._run import run as run_parsed

    return run_parsed(ctx.params, ctx.info_name or "run")


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
    detach_keys: Annotated[
        str | None, typer.Option("--detach-keys", help="Override the key sequence for detaching a container")
    ] = None,
) -> int:
    """Start one or more stopped containers"""
    from ..errors import KetchError
    from ..runtime import launch

    s = store()
    rc = 0
    failed: list[str] = []
    for n in names:
        try:
            code = launch.start(s, n, terminal() if attach or interactive else None, interactive, detach_keys)
        except KetchError as e:
            error(f"Error: {e}")
            failed.append(n)
            rc = 1
            continue
        if code is None:
            out(n)
        else:
            rc = code
    if failed:  # docker's last line: the containers it could not start
        error(f"Error: failed to start containers: {', '.join(failed)}")
    return rc


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
def rename(container: Container_, new_name: Annotated[str, typer.Argument(metavar="NEW_NAME")]) -> int:
    """Rename a container"""
    from ..errors import KetchError
    from ..runtime.containers import rename as do_rename

    try:
        do_rename(store(), container, new_name)
    except KetchError as e:  # docker's: the daemon's error, then the CLI's line naming the container
        error(f"{e}\nError: failed to rename container named {container}")
        return e.exit_code
    return 0


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
