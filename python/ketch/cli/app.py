"""The Typer application: parse flags, call the library, print. No logic here."""

import os
from collections.abc import Callable
from typing import Annotated

import typer

from ..config import Settings
from ._flags import DockerCommand, DockerGroup

# The running command's settings (--root, then the KETCH_* variables, read when
# first used); main() makes them anew for each command.
settings = Settings()

app = typer.Typer(
    cls=DockerGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="A Docker-compatible container engine.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
image_app = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help="Manage images")
app.add_typer(image_app, name="image")


def command(name: str, image_alias: str | None = None, **settings: object):  # type: ignore[no-untyped-def]
    """Registers a command as `ketch NAME` and, as docker has it, `ketch image ALIAS`.
    `settings` are Click context settings."""

    def register(fn):  # type: ignore[no-untyped-def]
        app.command(name, cls=DockerCommand, context_settings=settings or None)(fn)
        if image_alias:
            image_app.command(image_alias, cls=DockerCommand)(fn)
        return fn

    return register


@app.callback()
def _root(
    root: Annotated[
        str | None, typer.Option("--root", help="Store directory (default /var/lib/ketch, or KETCH_ROOT)")
    ] = None,
) -> None:
    if root:
        settings.use_root(root)


def _store():  # type: ignore[no-untyped-def]
    from ..store import Store

    return Store(settings=settings)


def _each(names: list[str], act: Callable[[str], object]) -> int:
    """Runs `act` on each name as docker does for several arguments: the lines
    it returns printed (else the name itself), an error printed and counted,
    the others still done; 1 if any failed."""
    import sys

    from ..errors import KetchError

    rc = 0
    for n in names:
        try:
            result = act(n)
            for line in result if isinstance(result, list) else [n]:
                print(line, flush=True)
        except KetchError as e:
            print(f"Error: {e}", file=sys.stderr)
            rc = 1
    return rc


# -- pull ------------------------------------------------------------------

Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Suppress verbose output")]
Platform = Annotated[str | None, typer.Option("--platform", help="Set platform if server is multi-platform capable")]


@command("pull", "pull")
def pull(
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG|@DIGEST]")], quiet: Quiet = False, platform: Platform = None
) -> None:
    """Download an image from a registry"""
    from ..reference import parse
    from ..registry.pull import pull as do_pull

    ref = parse(name, default_tag=False)
    if not ref.tag and not ref.digest:
        if not quiet:
            print("Using default tag: latest", flush=True)
        ref = ref.with_tag("latest")
    if not quiet:  # TerminalReporter prints docker's plain lines when stdout is no terminal
        from ._progress import TerminalReporter

        do_pull(_store(), ref, TerminalReporter(), platform=platform)
    else:
        do_pull(_store(), ref, lambda line: print(line, flush=True), platform=platform, quiet=quiet)
    print(str(ref) if ref.domain == "docker.io" else ref.familiar())


# -- images ----------------------------------------------------------------

All = Annotated[bool, typer.Option("-a", "--all", help="Show all images (default hides intermediate images)")]
Digests = Annotated[bool, typer.Option("--digests", help="Show digests")]
NoTrunc = Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")]
QuietIds = Annotated[bool, typer.Option("-q", "--quiet", help="Only show image IDs")]
Repo = Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")]


@command("images", "ls")
def images(
    repository: Repo = None,
    all_: All = False,
    quiet: QuietIds = False,
    digests: Digests = False,
    no_trunc: NoTrunc = False,
) -> None:
    """List images"""
    from . import _images as impl

    impl.images(_store(), repository, all_, quiet, digests, no_trunc)


# -- rmi, tag, history, inspect -------------------------------------------

Force = Annotated[bool, typer.Option("-f", "--force", help="Force removal of the image")]
Names = Annotated[list[str], typer.Argument(metavar="IMAGE [IMAGE...]")]


@command("rmi", "rm")
def rmi(names: Names, force: Force = False) -> int:
    """Remove one or more images"""
    from ..store.images import remove

    store = _store()
    return _each(names, lambda n: remove(store, n, force))


@command("tag", "tag")
def tag(
    source: Annotated[str, typer.Argument(metavar="SOURCE_IMAGE[:TAG]")],
    target: Annotated[str, typer.Argument(metavar="TARGET_IMAGE[:TAG]")],
) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"""
    from ..store.images import tag as do_tag

    do_tag(_store(), source, target)


@command("history", "history")
def history(
    name: Annotated[str, typer.Argument(metavar="IMAGE")], no_trunc: NoTrunc = False, quiet: QuietIds = False
) -> None:
    """Show the history of an image"""
    from . import _images as impl

    impl.history(_store(), name, no_trunc, quiet)


@image_app.command("inspect", cls=DockerCommand)
def image_inspect(names: Names) -> int:
    """Display detailed information on one or more images"""
    from . import _images as impl

    return impl.inspect(_store(), names)


@command("inspect")
def inspect(names: Annotated[list[str], typer.Argument(metavar="NAME|ID [NAME|ID...]")]) -> int:
    """Return low-level information on containers or images"""
    from . import _containers

    return _containers.inspect(_store(), names)


@command("import", "import")
def import_(
    source: Annotated[str, typer.Argument(metavar="file|-")],
    repository: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    message: Annotated[str, typer.Option("-m", "--message", help="Set commit message for imported image")] = "",
) -> None:
    """Import the contents from a tarball to create a filesystem image"""
    import sys

    from ..reference import parse
    from ..store.importer import import_tarball

    tag = parse(repository) if repository else None  # bad names fail before anything is read
    store = _store()
    if source == "-":
        image_id = import_tarball(store, sys.stdin.buffer, "-", tag, message)
    else:
        with open(source, "rb") as f:
            image_id = import_tarball(store, f, source, tag, message)
    print(image_id)


@command("save", "save")
def save(
    names: Names,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write to a file, instead of STDOUT")] = None,
) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)"""
    import sys

    from ..errors import UsageError
    from ..store.archive import save as do_save

    store = _store()
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        do_save(store, names, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return

    tmp = f"{output}.ketch-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            do_save(store, names, f)
        os.replace(tmp, output)  # no half-written archive under the name asked for
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@command("load", "load")
def load(
    input_: Annotated[
        str | None, typer.Option("-i", "--input", help="Read from tar archive file, instead of STDIN")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Load an image from a tar archive or STDIN"""
    import sys

    from ..errors import UsageError
    from ..store.archive import load as do_load

    store = _store()
    emit = lambda line: print(line, flush=True)  # noqa: E731
    if input_ is None:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty")
        do_load(store, sys.stdin.buffer, emit, quiet)
    else:
        with open(input_, "rb") as f:
            do_load(store, f, emit, quiet)


# -- containers --------------------------------------------------------------

# Flags that run, create and exec share.
InteractiveOpt = Annotated[bool, typer.Option("-i", "--interactive", help="Keep STDIN open")]
TtyOpt = Annotated[bool, typer.Option("-t", "--tty", help="Allocate a pseudo-TTY")]
EnvOpt = Annotated[list[str] | None, typer.Option("-e", "--env", help="Set environment variables")]
WorkdirOpt = Annotated[str | None, typer.Option("-w", "--workdir", help="Working directory inside the container")]
UserOpt = Annotated[str | None, typer.Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")]


# Everything after the image is the container's command; -h is --hostname, as in docker.
@command("run", allow_interspersed_args=False, help_option_names=["--help"])
def run(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE")],
    args: Annotated[list[str] | None, typer.Argument(metavar="[COMMAND] [ARG...]")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Assign a name to the container")] = None,
    rm: Annotated[bool, typer.Option("--rm", help="Automatically remove the container when it exits")] = False,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Run container in background")] = False,
    interactive: InteractiveOpt = False,
    tty: TtyOpt = False,
    env: EnvOpt = None,
    env_file: Annotated[
        list[str] | None, typer.Option("--env-file", help="Read in a file of environment variables")
    ] = None,
    workdir: WorkdirOpt = None,
    user: UserOpt = None,
    entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Overwrite the default ENTRYPOINT")] = None,
    hostname: Annotated[str | None, typer.Option("-h", "--hostname", help="Container host name")] = None,
    network: Annotated[
        str | None, typer.Option("--network", "--net", help="Connect a container to a network (bridge, none, host)")
    ] = None,
    publish: Annotated[
        list[str] | None, typer.Option("-p", "--publish", help="Publish a container's port(s) to the host")
    ] = None,
    publish_all: Annotated[
        bool, typer.Option("-P", "--publish-all", help="Publish all exposed ports to random ports")
    ] = False,
    dns: Annotated[list[str] | None, typer.Option("--dns", help="Set custom DNS servers")] = None,
    dns_search: Annotated[list[str] | None, typer.Option("--dns-search", help="Set custom DNS search domains")] = None,
    add_host: Annotated[
        list[str] | None, typer.Option("--add-host", help="Add a custom host-to-IP mapping (host:ip)")
    ] = None,
    pull_policy: Annotated[
        str, typer.Option("--pull", help='Pull image before running ("always", "missing", "never")')
    ] = "missing",
    memory: Annotated[str | None, typer.Option("-m", "--memory", help="Memory limit")] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="Number of CPUs")] = None,
    pids_limit: Annotated[int | None, typer.Option("--pids-limit", help="Tune container pids limit")] = None,
    volume: Annotated[list[str] | None, typer.Option("-v", "--volume", help="Bind mount a volume")] = None,
    tmpfs: Annotated[list[str] | None, typer.Option("--tmpfs", help="Mount a tmpfs directory")] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Mount the container's root filesystem as read only")
    ] = False,
    cap_add: Annotated[list[str] | None, typer.Option("--cap-add", help="Add Linux capabilities")] = None,
    cap_drop: Annotated[list[str] | None, typer.Option("--cap-drop", help="Drop Linux capabilities")] = None,
    privileged: Annotated[
        bool, typer.Option("--privileged", help="Give extended privileges to this container")
    ] = False,
    security_opt: Annotated[list[str] | None, typer.Option("--security-opt", help="Security Options")] = None,
    mount: Annotated[
        list[str] | None, typer.Option("--mount", help="Attach a filesystem mount to the container")
    ] = None,
    init: Annotated[
        bool, typer.Option("--init", help="Run an init inside the container that forwards signals and reaps processes")
    ] = False,
    restart: Annotated[
        str, typer.Option("--restart", help='Restart policy to apply when a container exits (only "no")')
    ] = "no",
) -> int:
    """Run a command in a new container"""
    # Registered as `create` too, which stops after printing the new id.
    from ..runtime.containers import Options
    from . import _containers

    opts = Options(
        name=name,
        env=list(env or []),
        workdir=workdir,
        user=user,
        entrypoint=entrypoint,
        hostname=hostname,
        network=network or settings.default_network or "bridge",
        volumes=list(volume or []),
        tmpfs=list(tmpfs or []),
        read_only=read_only,
        cap_add=list(cap_add or []),
        cap_drop=list(cap_drop or []),
        privileged=privileged,
        security_opt=list(security_opt or []),
        mounts=list(mount or []),
        init=init,
        publish=list(publish or []),
        publish_all=publish_all,
        dns=list(dns or []),
        dns_search=list(dns_search or []),
        add_host=list(add_host or []),
    )
    if restart != "no":
        from ..errors import UsageError

        raise UsageError(
            f'restart policy "{restart}" needs a daemon to watch the container: ketch has none; use --restart no'
        )
    return _containers.run(
        _store(),
        image,
        list(args or []),
        opts,
        create_only=ctx.info_name == "create",
        rm=rm,
        detach=detach,
        interactive=interactive,
        tty=tty,
        env_file=list(env_file or []),
        pull_policy=pull_policy,
        memory=memory,
        cpus=cpus,
        pids_limit=pids_limit,
    )


# `create` takes run's flags and stops before starting.
app.command(
    "create",
    cls=DockerCommand,
    context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]},
    help="Create a new container",
)(run)


@command("start")
def start(
    names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")],
    attach: Annotated[bool, typer.Option("-a", "--attach", help="Attach STDOUT/STDERR and forward signals")] = False,
    interactive: Annotated[bool, typer.Option("-i", "--interactive", help="Attach container's STDIN")] = False,
) -> int:
    """Start one or more stopped containers"""
    from . import _containers

    return _containers.start(_store(), names, attach or interactive, interactive)


@command("ps")
def ps(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Show all containers (default shows just running)")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display container IDs")] = False,
    no_trunc: NoTrunc = False,
    filter_: Annotated[
        list[str] | None, typer.Option("-f", "--filter", help="Filter output based on conditions provided")
    ] = None,
) -> None:
    """List containers"""
    from . import _containers

    _containers.ps(_store(), all_, quiet, no_trunc, list(filter_ or []))


@command("rm")
def rm_(
    names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")],
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the removal of a running container")] = False,
    volumes: Annotated[
        bool, typer.Option("-v", "--volumes", help="Remove anonymous volumes associated with the container")
    ] = False,
) -> int:
    """Remove one or more containers"""
    from ..runtime.containers import remove

    store = _store()
    return _each(names, lambda n: remove(store, n, force, volumes))


@command("stop")
def stop(
    names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")],
    time_: Annotated[int, typer.Option("-t", "--time", help="Seconds to wait for stop before killing it")] = 10,
) -> int:
    """Stop one or more running containers"""
    from ..runtime.containers import stop as do_stop

    store = _store()
    return _each(names, lambda n: do_stop(store, n, float(time_)))


@command("restart")
def restart(
    names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")],
    time_: Annotated[int, typer.Option("-t", "--time", help="Seconds to wait for stop before killing it")] = 10,
) -> int:
    """Restart one or more containers"""
    from . import _containers

    return _containers.restart(_store(), names, float(time_))


@command("logs")
def logs(
    name: Annotated[str, typer.Argument(metavar="CONTAINER")],
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Follow log output")] = False,
    tail: Annotated[str, typer.Option("-n", "--tail", help="Number of lines to show from the end of the logs")] = "all",
    timestamps: Annotated[bool, typer.Option("-t", "--timestamps", help="Show timestamps")] = False,
) -> None:
    """Fetch the logs of a container"""
    from . import _containers

    _containers.logs(_store(), name, follow, tail, timestamps)


@command("exec", allow_interspersed_args=False)
def exec_(
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    args: Annotated[list[str], typer.Argument(metavar="COMMAND [ARG...]")],
    interactive: InteractiveOpt = False,
    tty: TtyOpt = False,
    env: EnvOpt = None,
    workdir: WorkdirOpt = None,
    user: UserOpt = None,
    detach: Annotated[bool, typer.Option("-d", "--detach", help="Detached mode: run command in the background")] = (
        False
    ),
) -> int:
    """Execute a command in a running container"""
    from ..runtime.containers import exec_in, wait_forwarding
    from ..runtime.stdio import Pipes

    store = _store()
    io = Pipes(interactive) if not tty and not detach else None
    try:
        pid, master = exec_in(
            store, container, list(args), env=list(env or []), workdir=workdir, user=user, tty=tty, detach=detach, io=io
        )
        if detach:
            return 0
        if master is not None:
            import os

            from ..runtime import tty as term

            try:
                term.relay(master, interactive)
            finally:
                os.close(master)
        return wait_forwarding(pid, io.relay if io is not None else None)
    finally:
        if io is not None:
            io.close()


@command("commit", allow_interspersed_args=True)
def commit(
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    target: Annotated[str | None, typer.Argument(metavar="[REPOSITORY[:TAG]]")] = None,
    author: Annotated[
        str, typer.Option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    ] = "",
    change: Annotated[
        list[str] | None, typer.Option("-c", "--change", help="Apply Dockerfile instruction to the created image")
    ] = None,
    message: Annotated[str, typer.Option("-m", "--message", help="Commit message")] = "",
    pause: Annotated[bool, typer.Option("-p", "--pause/--no-pause", help="Pause container during commit")] = True,
) -> None:
    """Create a new image from a container's changes"""
    from ..runtime.commit import commit as do_commit

    print(do_commit(_store(), container, target, message, author, pause, list(change or [])))


@command("cp")
def cp(
    src: Annotated[str, typer.Argument(metavar="SRC_PATH")],
    dest: Annotated[str, typer.Argument(metavar="DEST_PATH")],
) -> None:
    """Copy files/folders between a container and the local filesystem"""
    from ..runtime.cp import copy

    copy(_store(), src, dest)


@command("diff")
def diff(container: Annotated[str, typer.Argument(metavar="CONTAINER")]) -> None:
    """Inspect changes to files or directories on a container's filesystem"""
    from ..runtime.commit import diff as do_diff

    for kind, path in do_diff(_store(), container):
        print(kind, path)


@command("port")
def port(
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    private_port: Annotated[str | None, typer.Argument(metavar="[PRIVATE_PORT[/PROTO]]")] = None,
) -> None:
    """List port mappings or a specific mapping for the container"""
    from . import _containers

    _containers.port(_store(), container, private_port)


@command("top", allow_interspersed_args=False)
def top(
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    ps_args: Annotated[list[str] | None, typer.Argument(metavar="[ps OPTIONS]")] = None,
) -> None:
    """Display the running processes of a container"""
    import subprocess

    from ..errors import ConflictError, KetchError
    from ..runtime import cgroups
    from ..runtime.containers import lookup

    c = lookup(_store(), container)
    if c.state != "running":
        raise ConflictError(f"container {c.id} is not running")
    wanted = cgroups.pids(c.id)
    # docker's way: the host's ps, its rows kept for the container's pids.
    r = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or not lines:
        raise KetchError(f"ps: {r.stderr.strip() or 'failed'}")
    header = lines[0].split()
    if "PID" not in header:
        raise KetchError("couldn't find PID field in ps output")
    col = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)


@command("kill")
def kill(
    names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")],
    signal_: Annotated[str, typer.Option("-s", "--signal", help="Signal to send to the container")] = "KILL",
) -> int:
    """Kill one or more running containers"""
    from ..runtime.containers import kill as do_kill

    store = _store()
    return _each(names, lambda n: do_kill(store, n, signal_))


@command("wait")
def wait(names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")]) -> int:
    """Block until one or more containers stop, then print their exit codes"""
    import time

    from ..runtime.containers import lookup

    store = _store()
    for n in names:
        c = lookup(store, n)
        while c.state == "running":
            time.sleep(0.05)
            c = lookup(store, c.id)
        print(c.exit_code if c.exit_code is not None else 0)
    return 0


@command("rename")
def rename(
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    new_name: Annotated[str, typer.Argument(metavar="NEW_NAME")],
) -> None:
    """Rename a container"""
    from ..runtime.containers import rename as do_rename

    do_rename(_store(), container, new_name)


@command("pause")
def pause(names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")]) -> int:
    """Pause all processes within one or more containers"""
    from ..runtime.containers import pause as do_pause

    store = _store()
    return _each(names, lambda n: do_pause(store, n, True))


@command("unpause")
def unpause(names: Annotated[list[str], typer.Argument(metavar="CONTAINER [CONTAINER...]")]) -> int:
    """Unpause all processes within one or more containers"""
    from ..runtime.containers import pause as do_pause

    store = _store()
    return _each(names, lambda n: do_pause(store, n, False))


# -- volumes -----------------------------------------------------------------

volume_app = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help="Manage volumes")
app.add_typer(volume_app, name="volume")


@volume_app.command("create", cls=DockerCommand)
def volume_create(name: Annotated[str | None, typer.Argument(metavar="[VOLUME]")] = None) -> None:
    """Create a volume"""
    from ..runtime import volumes

    print(volumes.create(_store(), name)[0].name)


@volume_app.command("ls", cls=DockerCommand)
def volume_ls(quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display volume names")] = False) -> None:
    """List volumes"""
    from ..runtime import volumes
    from ._format import table

    vols = volumes.list_all(_store())
    if quiet:
        for v in vols:
            print(v.name)
        return
    print(table([["DRIVER", "VOLUME NAME"], *[["local", v.name] for v in vols]]))


@volume_app.command("inspect", cls=DockerCommand)
def volume_inspect(names: Annotated[list[str], typer.Argument(metavar="VOLUME [VOLUME...]")]) -> None:
    """Display detailed information on one or more volumes"""
    import json

    from ..runtime import volumes

    store = _store()
    print(json.dumps([volumes.get(store, n).inspect() for n in names], indent=4))


@volume_app.command("rm", cls=DockerCommand)
def volume_rm(
    names: Annotated[list[str], typer.Argument(metavar="VOLUME [VOLUME...]")],
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the removal of one or more volumes")] = False,
) -> int:
    """Remove one or more volumes"""
    from ..runtime import volumes

    store = _store()
    return _each(names, lambda n: volumes.remove(store, n, force))


@volume_app.command("prune", cls=DockerCommand)
def volume_prune(
    all_: Annotated[
        bool, typer.Option("-a", "--all", help="Remove all unused volumes, not just anonymous ones")
    ] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> None:
    """Remove unused local volumes"""
    from ..runtime import volumes

    gone = volumes.prune(_store(), all_)
    if gone:
        print("Deleted Volumes:")
        for n in gone:
            print(n)
        print()
    print("Total reclaimed space: 0B")


# -- build -------------------------------------------------------------------


@command("build")
def build(
    path: Annotated[str, typer.Argument(metavar="PATH | URL | -")],
    tag: Annotated[list[str] | None, typer.Option("-t", "--tag", help="Name and optionally a tag (name:tag)")] = None,
    file: Annotated[
        str | None, typer.Option("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    ] = None,
    build_arg: Annotated[list[str] | None, typer.Option("--build-arg", help="Set build-time variables")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use cache when building the image")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Suppress the build output and print image ID on success")
    ] = False,
    target: Annotated[str | None, typer.Option("--target", help="Set the target build stage to build")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Set metadata for an image")] = None,
    pull: Annotated[bool, typer.Option("--pull", help="Always attempt to pull a newer version of the image")] = False,
    network: Annotated[
        str | None,
        typer.Option("--network", help="Networking mode for the RUN instructions (default: the default bridge)"),
    ] = None,
    iidfile: Annotated[str | None, typer.Option("--iidfile", help="Write the image ID to the file")] = None,
) -> None:
    """Build an image from a Dockerfile"""
    from ..builder.builder import BuildFailed, Options
    from ..builder.builder import build as do_build
    from ._build import BuildPrinter

    args: dict[str, str] = {}
    for a in build_arg or []:
        k, sep, v = a.partition("=")
        if sep:
            args[k] = v
        elif k in os.environ:
            args[k] = os.environ[k]
    labels = dict(x.partition("=")[::2] for x in label or [])
    opts = Options(
        tags=list(tag or []),
        dockerfile=file,
        build_args=args,
        no_cache=no_cache,
        target=target,
        labels=labels,
        pull=pull,
        network=network or settings.default_network or "default",
    )
    printer = BuildPrinter(quiet)
    try:
        image_id = do_build(_store(), path, opts, printer)
    except BuildFailed:
        printer.failed()
        raise
    finally:
        printer.close()
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(image_id)


# -- networks ----------------------------------------------------------------

network_app = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help="Manage networks")
app.add_typer(network_app, name="network")


@network_app.command("create", cls=DockerCommand)
def network_create(
    name: Annotated[str, typer.Argument(metavar="NETWORK")],
    driver: Annotated[str, typer.Option("-d", "--driver", help="Driver to manage the Network")] = "bridge",
    subnet: Annotated[str | None, typer.Option("--subnet", help="Subnet in CIDR format")] = None,
    gateway: Annotated[str | None, typer.Option("--gateway", help="IPv4 Gateway for the master subnet")] = None,
) -> None:
    """Create a network"""
    from ..errors import KetchError
    from ..network import networks

    if driver != "bridge":
        raise KetchError(f'plugin "{driver}" not found: ketch has the bridge driver only')
    print(networks.create(_store(), name, subnet, gateway).id)


@network_app.command("ls", cls=DockerCommand)
def network_ls(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only display network IDs")] = False,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Do not truncate the output")] = False,
) -> None:
    """List networks"""
    from ..network import networks
    from ._format import table

    rows = networks.summaries(_store())
    if quiet:
        print("\n".join(n.id if no_trunc else n.id[:12] for n in rows))
        return
    print(
        table(
            [
                ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
                *[[n.id if no_trunc else n.id[:12], n.name, n.driver, "local"] for n in rows],
            ]
        )
    )


@network_app.command("inspect", cls=DockerCommand)
def network_inspect(names: Annotated[list[str], typer.Argument(metavar="NETWORK [NETWORK...]")]) -> None:
    """Display detailed information on one or more networks"""
    import datetime as _dt
    import json

    from ..network import networks

    store = _store()
    out = []
    for name in names:
        info = networks.inspect(store, name)
        n = info.network
        out.append(
            {
                "Name": n.name,
                "Id": n.id,
                "Created": _dt.datetime.fromtimestamp(n.created, _dt.UTC).isoformat().replace("+00:00", "Z"),
                "Scope": "local",
                "Driver": "bridge",
                "EnableIPv6": False,
                "IPAM": {
                    "Driver": "default",
                    "Options": {},
                    "Config": [{"Subnet": str(n.subnet), "Gateway": str(n.gateway)}],
                },
                "Internal": False,
                "Attachable": False,
                "Containers": {
                    e.container: {"Name": e.name, "IPv4Address": f"{e.ip}/{n.subnet.prefixlen}", "IPv6Address": ""}
                    for e in info.endpoints
                },
                "Options": {"com.docker.network.bridge.name": n.bridge},
                "Labels": {},
            }
        )
    print(json.dumps(out, indent=4))


@network_app.command("rm", cls=DockerCommand)
def network_rm(names: Annotated[list[str], typer.Argument(metavar="NETWORK [NETWORK...]")]) -> int:
    """Remove one or more networks"""
    from ..network import networks

    store = _store()
    return _each(names, lambda name: networks.remove(store, name))


@network_app.command("connect", cls=DockerCommand)
def network_connect(
    name: Annotated[str, typer.Argument(metavar="NETWORK")],
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
) -> None:
    """Connect a container to a network"""
    from ..errors import ConflictError
    from ..network.endpoints import connect
    from ..runtime.containers import lookup

    store = _store()
    c = lookup(store, container)
    if c.state != "running":
        raise ConflictError(f"container {c.id} is not running: ketch connects running containers only")
    connect(store, c.id, name)


@network_app.command("disconnect", cls=DockerCommand)
def network_disconnect(
    name: Annotated[str, typer.Argument(metavar="NETWORK")],
    container: Annotated[str, typer.Argument(metavar="CONTAINER")],
    force: Annotated[bool, typer.Option("-f", "--force", help="Force the container to disconnect")] = False,
) -> None:
    """Disconnect a container from a network"""
    from ..network.endpoints import disconnect
    from ..runtime.containers import lookup

    store = _store()
    disconnect(store, lookup(store, container).id, name)


@network_app.command("prune", cls=DockerCommand)
def network_prune(
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not prompt for confirmation")] = False,
) -> None:
    """Remove all unused networks"""
    from ..network import networks

    gone = networks.prune(_store())
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))


# -- registries --------------------------------------------------------------


@command("push", "push")
def push(
    name: Annotated[str, typer.Argument(metavar="NAME[:TAG]")],
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Suppress verbose output")] = False,
) -> None:
    """Upload an image to a registry"""
    from ..reference import parse
    from ..registry.push import push as do_push
    from ._progress import TerminalReporter

    do_push(_store(), parse(name), None if quiet else TerminalReporter(tty=False))


registry_app = typer.Typer(cls=DockerGroup, no_args_is_help=True, rich_markup_mode=None, help="Run a registry")
app.add_typer(registry_app, name="registry")


@registry_app.command("serve", cls=DockerCommand)
def registry_serve(
    addr: Annotated[str, typer.Option("--addr", help="Address to listen on (host:port)")] = "127.0.0.1:5000",
    root: Annotated[str, typer.Option("--root", help="Where the registry keeps its data")] = "/var/lib/ketch-registry",
    htpasswd: Annotated[
        str | None, typer.Option("--htpasswd", help="Basic auth from this htpasswd file (bcrypt)")
    ] = None,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="TLS private key (PEM)")] = None,
    auth: Annotated[
        str, typer.Option("--auth", help="basic, or token (Docker Hub's flow, this server issuing)")
    ] = "basic",
    access: Annotated[
        str | None, typer.Option("--access", help="JSON file: repository patterns -> users who may pull and push")
    ] = None,
    upload_ttl: Annotated[
        float, typer.Option("--upload-ttl", help="Seconds before an abandoned upload session expires")
    ] = 3600.0,
    rate: Annotated[float, typer.Option("--rate", help="Requests per second per client (0: no limit)")] = 0.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a request's head, and each read of its body, may take")
    ] = 30.0,
    max_blob: Annotated[int, typer.Option("--max-blob", help="Largest blob upload accepted, in bytes")] = 32 << 30,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Connections served at once (more: 503)")
    ] = 1000,
) -> None:
    """Serve an OCI distribution registry"""
    import math
    from pathlib import Path

    from ..errors import UsageError
    from ..registry.server import Limits, run

    if auth not in ("basic", "token"):
        raise UsageError(f"--auth {auth}: use basic or token")
    _check_listen_address(addr)
    if access:
        _check_access_file(access)
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: a positive number of seconds")
    if max_blob < 1 or max_connections < 1:
        raise UsageError("--max-blob and --max-connections must be positive")
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    limits = Limits(timeout=timeout, max_blob=max_blob, max_connections=max_connections)
    run(
        addr, Path(root), htpasswd=htpasswd, tls=tls, auth=auth, access=access, upload_ttl=upload_ttl, rate=rate,
        limits=limits,
    )  # fmt: skip


def _check_listen_address(addr: str) -> None:
    """host:port as Go's net.Listen takes it (and its errors' wording)."""
    import ipaddress

    from ..errors import UsageError

    host, sep, port = addr.rpartition(":")
    if not sep:
        raise UsageError(f"listen tcp: address {addr}: missing port in address")
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"listen tcp: address {addr}: invalid port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"listen tcp: address {addr}: invalid IPv6 address") from None
    elif ":" in host:
        raise UsageError(f"listen tcp: address {addr}: too many colons in address")


def _check_access_file(path: str) -> None:
    """The --access file: {"repositories": {PATTERN: {"pull": [USER...], "push": [USER...]}}}."""
    import json

    from ..errors import UsageError

    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except OSError as e:
        raise UsageError(f"--access {path}: {e.strerror}") from None
    except ValueError as e:
        msg = getattr(e, "msg", "not UTF-8 text")
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise UsageError(f"--access {path}: not valid JSON: {msg}{where}") from None

    def users(v: object) -> bool:
        return isinstance(v, list) and all(isinstance(u, str) for u in v)

    repos = (data.get("repositories") or {}) if isinstance(data, dict) else None
    if not isinstance(repos, dict) or not all(
        isinstance(rule, dict) and all(users(v) for v in rule.values()) for rule in repos.values()
    ):
        raise UsageError(
            f'--access {path}: expected {{"repositories": {{PATTERN: {{"pull": [USER, ...], "push": [...]}}}}}}'
        )


@registry_app.command("describe", cls=DockerCommand)
def registry_describe(
    repo: Annotated[str, typer.Argument(metavar="REPOSITORY")],
    root: Annotated[str, typer.Option("--root", help="The registry's data directory")] = "/var/lib/ketch-registry",
    description: Annotated[str | None, typer.Option("--description", help="Shown by search")] = None,
    stars: Annotated[int | None, typer.Option("--stars", help="Star count shown by search")] = None,
    official: Annotated[bool, typer.Option("--official", help="Mark the repository official")] = False,
) -> None:
    """Set a repository's search metadata (description, stars, official)"""
    from pathlib import Path

    from ..registry.server import Storage

    Storage(Path(root)).describe(repo, description, stars, official)


@registry_app.command("gc", cls=DockerCommand)
def registry_gc(
    root: Annotated[str, typer.Option("--root", help="The registry's data directory")] = "/var/lib/ketch-registry",
) -> None:
    """Remove blobs no manifest references, and abandoned uploads"""
    from pathlib import Path

    from ..registry.server import Storage

    blobs, uploads = Storage(Path(root)).gc()
    print(f"{blobs} blobs removed, {uploads} abandoned uploads removed")


@command("login")
def login(
    server: Annotated[str | None, typer.Argument(metavar="[SERVER]")] = None,
    username: Annotated[str | None, typer.Option("-u", "--username", help="Username")] = None,
    password: Annotated[str | None, typer.Option("-p", "--password", help="Password")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Take the password from stdin")] = False,
) -> None:
    """Log in to a registry"""
    import sys

    from ..errors import UsageError
    from ..registry.auth import docker_config_path
    from ..registry.login import login as do_login

    if password is not None and password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if password_stdin:
        if not username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\n").rstrip("\r")
    if not username:
        username = input("Username: ")
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    do_login(server, username, password, settings)
    print(
        f"\nWARNING! Your credentials are stored unencrypted in '{docker_config_path()}'.\n"
        "Configure a credential helper to remove this warning. See\n"
        "https://docs.docker.com/go/credential-store/\n",
        file=sys.stderr,
    )
    print("Login Succeeded")


@command("logout")
def logout(server: Annotated[str | None, typer.Argument(metavar="[SERVER]")] = None) -> None:
    """Log out from a registry"""
    from ..registry.login import logout as do_logout

    print(do_logout(server))


@command("search")
def search(
    term: Annotated[str, typer.Argument(metavar="TERM")],
    limit: Annotated[int, typer.Option("--limit", help="Max number of search results")] = 25,
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")] = False,
    filter_: Annotated[
        list[str] | None, typer.Option("-f", "--filter", help="Filter output (stars=N, is-official=true)")
    ] = None,
    format_: Annotated[
        str | None, typer.Option("--format", help="Pretty-print results with a template ({{.Name}} ...)")
    ] = None,
) -> None:
    """Search Docker Hub (or the registry named in TERM) for images"""
    import re

    from ..errors import UsageError
    from ..registry.login import search as do_search
    from ._format import table

    min_stars, official = 0, None
    for f in filter_ or []:
        key, _, value = f.partition("=")
        if key == "stars" and value.isdigit():
            min_stars = int(value)
        elif key in ("is-official", "is-automated") and value in ("true", "false"):
            official = value == "true" if key == "is-official" else official
        else:
            raise UsageError(f"invalid filter '{f}'")
    results = [
        r
        for r in do_search(term, limit, settings)
        if int(r.get("star_count") or 0) >= min_stars and (official is None or bool(r.get("is_official")) == official)
    ]
    if format_:
        fields = {
            "Name": "name", "Description": "description", "StarCount": "star_count",
            "IsOfficial": "is_official", "IsAutomated": "is_automated",
        }  # fmt: skip

        def render(r: dict[str, object]) -> str:
            def fill(m: re.Match[str]) -> str:
                v = r.get(fields.get(m.group(1), ""), "")
                return str(v).lower() if isinstance(v, bool) else str(v)

            return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", fill, format_ or "").replace("\\t", "\t")

        for r in results:
            print(render(r))
        return
    rows = [["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]]
    for r in results:
        desc = str(r.get("description") or "").replace("\n", " ")
        rows.append(
            [
                str(r.get("name", "")),
                desc if no_trunc or len(desc) <= 45 else desc[:42] + "...",  # docker's search truncation
                str(r.get("star_count", 0)),
                "[OK]" if r.get("is_official") else "",
                "[OK]" if r.get("is_automated") else "",
            ]
        )
    print(table(rows))
