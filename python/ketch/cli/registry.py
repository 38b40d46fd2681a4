"""The registry commands: login, logout, search, and `ketch registry`
(serve, describe, gc: the embedded registry)."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from . import _shared
from ._shared import command, error, group, subcommand
from .options import NoTrunc

if TYPE_CHECKING:
    from ..registry.search import SearchResult

registry = group("registry", "Run a registry")
Root = Annotated[str, typer.Option("--root", help="The registry's data directory")]
Server = Annotated[str | None, typer.Argument(metavar="[SERVER]")]


@subcommand(registry, "serve")
def registry_serve(
    addr: Annotated[str, typer.Option("--addr", help="Address to listen on (host:port)")] = "127.0.0.1:5000",
    root: Annotated[str, typer.Option("--root", help="Where the registry keeps its data")] = "/var/lib/ketch-registry",
    htpasswd: Annotated[
        str | None, typer.Option("--htpasswd", help="Basic auth from this htpasswd file (bcrypt)")
    ] = None,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="TLS certificate (PEM)")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="TLS private key (PEM)")] = None,
    tls_client_ca: Annotated[
        str | None,
        typer.Option("--tls-client-ca", help="Require client certificates signed by this CA (PEM)", metavar="FILE"),
    ] = None,
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
    from pathlib import Path

    from ..registry.server import Limits, run
    from ..registry.server.checks import check_serve_options

    check_serve_options(addr, auth, access, timeout, max_blob, max_connections)
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    if tls_client_ca and not tls:
        from ..errors import UsageError

        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    limits = Limits(timeout=timeout, max_blob=max_blob, max_connections=max_connections)
    run(
        addr, Path(root), htpasswd=htpasswd, tls=tls, tls_client_ca=tls_client_ca, auth=auth, access=access,
        upload_ttl=upload_ttl, rate=rate, limits=limits,
    )  # fmt: skip


@subcommand(registry, "describe")
def registry_describe(
    repo: Annotated[str, typer.Argument(metavar="REPOSITORY")],
    root: Root = "/var/lib/ketch-registry",
    description: Annotated[str | None, typer.Option("--description", help="Shown by search")] = None,
    stars: Annotated[int | None, typer.Option("--stars", help="Star count shown by search")] = None,
    official: Annotated[bool, typer.Option("--official", help="Mark the repository official")] = False,
) -> None:
    """Set a repository's search metadata (description, stars, official)"""
    from pathlib import Path

    from ..registry.server import Storage

    Storage(Path(root)).describe(repo, description, stars, official)


@subcommand(registry, "gc")
def registry_gc(root: Root = "/var/lib/ketch-registry") -> None:
    """Remove blobs no manifest references, and abandoned uploads"""
    from pathlib import Path

    from ..registry.server import Storage

    blobs, uploads = Storage(Path(root)).gc()
    print(f"{blobs} blobs removed, {uploads} abandoned uploads removed")


@command("login")
def login(
    server: Server = None,
    username: Annotated[str | None, typer.Option("-u", "--username", help="Username")] = None,
    password: Annotated[str | None, typer.Option("-p", "--password", help="Password")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Take the password from stdin")] = False,
) -> None:
    """Log in to a registry"""
    from ..errors import UsageError
    from ..registry.login import login as do_login

    if password is not None and password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if password is not None:
        error("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if password_stdin:
        if not username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\n").rstrip("\r")
    if not username:
        username = input("Username: ")
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    done = do_login(server, username, password, _shared.settings)
    if done.helper is None:  # docker says nothing when a credential helper keeps them
        error(
            f"\nWARNING! Your credentials are stored unencrypted in '{done.path}'.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/go/credential-store/\n"
        )
    print("Login Succeeded")


@command("logout")
def logout(server: Server = None) -> None:
    """Log out from a registry"""
    from ..registry.login import logout as do_logout

    done = do_logout(server, _shared.settings)
    print(f"Removing login credentials for {done.server}" if done.removed else f"Not logged in to {done.server}")


# docker's --format fields
_FIELDS = {
    "Name": "name", "Description": "description", "StarCount": "star_count",
    "IsOfficial": "is_official", "IsAutomated": "is_automated",
}  # fmt: skip


def _render(template: str, r: "SearchResult") -> str:
    """A Go template's {{.Field}} placeholders filled (booleans as Go writes them)."""
    import re

    def fill(m: re.Match[str]) -> str:
        v = getattr(r, _FIELDS.get(m.group(1), ""), "")
        return str(v).lower() if isinstance(v, bool) else str(v)

    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", fill, template).replace("\\t", "\t")


@command("search")
def search(
    term: Annotated[str, typer.Argument(metavar="TERM")],
    limit: Annotated[int, typer.Option("--limit", help="Max number of search results")] = 25,
    no_trunc: NoTrunc = False,
    filter_: Annotated[
        list[str] | None, typer.Option("-f", "--filter", help="Filter output (stars=N, is-official=true)")
    ] = None,
    format_: Annotated[
        str | None, typer.Option("--format", help="Pretty-print results with a template ({{.Name}} ...)")
    ] = None,
) -> None:
    """Search Docker Hub (or the registry named in TERM) for images"""
    from ..registry.search import search as do_search
    from ._format import table

    results = do_search(term, limit, list(filter_ or []), _shared.settings)
    if format_:
        for r in results:
            print(_render(format_, r))
        return
    rows = [["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]]
    for r in results:
        desc = r.description.replace("\n", " ")
        short = desc if no_trunc or len(desc) <= 45 else desc[:42] + "..."  # docker's search truncation
        rows.append(
            [r.name, short, str(r.star_count), "[OK]" if r.is_official else "", "[OK]" if r.is_automated else ""]
        )
    print(table(rows, minwidth=10))
