"""What a container resolves names with: its /etc/hosts (localhost,
--add-host's entries, its own address under its hostname, and on
user-defined networks its peers by name, as docker's embedded DNS answers
them) and its /etc/resolv.conf. Both files are bind-mounted into the
container: rewritten in place, so a running container sees the change."""

from __future__ import annotations

from pathlib import Path

from ..models.ids import short_id
from . import DEFAULT

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch run`; type checkers read this as True

if TYPE_CHECKING:
    from typing import Any

    from ..store import Store

PEER = "# ketch peer"
_BASE = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
]


def write_hosts(store: Store, cid: str, config: dict[str, Any] | None = None, create: bool = False) -> None:
    """`cid`'s hosts file, whole, from its `config` (read from the store if
    not given) and its leases: the one writer of it. A missing file is made
    with `create` only (otherwise the container is gone: nothing to do)."""
    cfg = config
    if cfg is None:
        from ..store import networks as rows

        cfg = rows.container_config(store, cid)
        if cfg is None:
            return
    path = store.root / "containers" / cid / "hosts"
    hostname = cfg.get("hostname") or short_id(cid)
    extra = cfg.get("extra_hosts")
    if extra is not None:
        lines = _BASE + [f"{ip}\t{h}" for h, ip in extra]
    else:  # made before its --add-host entries were kept in its config: they are the file's
        lines = _BASE + [ln for ln in _read(path) if ln not in _BASE and not _generated(ln, hostname)]
    network = cfg.get("network", "none")
    if network not in ("none", "host"):
        from ..store import networks as rows  # not for a container without a bridge: `run` is faster so

        ip = rows.address_of(store, cid, network)
        if ip:
            lines.append(f"{ip}\t{names(hostname, cfg.get('network_aliases') or [])}")
        lines += [f"{ip}\t{names(name, aliases)}\t{PEER}" for ip, name, aliases in rows.peers(store, cid, skip=DEFAULT)]
    text = "\n".join(lines) + "\n"
    try:
        f = open(path, "r+")
    except FileNotFoundError:
        if not create:
            return
        f = open(path, "x")
    with f:
        f.write(text)
        f.truncate()


def names(name: str, aliases: list[str]) -> str:
    """The names of a hosts line: the container's, then its --network-alias names (each once)."""
    return " ".join(dict.fromkeys([name, *aliases]))


def _read(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _generated(line: str, hostname: str) -> bool:
    return line.endswith(PEER) or line.endswith(f"\t{hostname}")


def sync_hosts(store: Store, network: str) -> None:
    """The hosts file of every container on a user-defined network (its peers changed)."""
    from ..store import networks as rows

    if network == DEFAULT:
        return
    for cid, _ in rows.members(store, network):
        write_hosts(store, cid)


HOST_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
RESOLVED_STUB = "127.0.0.53"


def host_resolv_conf(path: Path | None = None, resolved: Path | None = None) -> list[str]:
    """The lines of the host's resolv.conf as docker picks it: when its only
    nameserver is systemd-resolved's stub (127.0.0.53, unreachable from a
    container), the file resolved writes with the real upstream servers."""
    try:
        lines = (path or Path(HOST_RESOLV_CONF)).read_text().splitlines()
    except OSError:
        return []
    servers = [f[1] for f in (ln.split() for ln in lines) if f[:1] == ["nameserver"] and len(f) > 1]
    if servers and all(s == RESOLVED_STUB for s in servers):
        try:
            return (resolved or Path(RESOLVED_RESOLV_CONF)).read_text().splitlines()
        except OSError:
            pass
    return lines


def resolv_conf(
    dns: list[str] | None = None,
    search: list[str] | None = None,
    path: Path | None = None,
    resolved: Path | None = None,
) -> str:
    """The host's (`host_resolv_conf`), less loopback nameservers (unreachable
    from a container), as docker does; --dns and --dns-search replace its servers
    and domains (--dns's are kept as given, loopback too: docker filters only the
    host's). Google's servers only when nothing else is left."""
    lines = host_resolv_conf(path, resolved)
    if dns:
        lines = [ln for ln in lines if ln.split()[:1] != ["nameserver"]] + [f"nameserver {d}" for d in dns]
    if search:
        lines = [ln for ln in lines if ln.split()[:1] not in (["search"], ["domain"])] + ["search " + " ".join(search)]
    out = lines if dns else [ln for ln in lines if not _loopback_server(ln)]
    if not any(ln.startswith("nameserver") for ln in out):
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def _loopback_server(line: str) -> bool:
    f = line.split()
    return f[:1] == ["nameserver"] and len(f) > 1 and (f[1].startswith("127.") or f[1] == "::1")
