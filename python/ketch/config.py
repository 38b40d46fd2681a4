"""Settings: every KETCH_* environment variable, and --root, in one place.

Each is read from the environment the first time it is used, then kept:
nothing is read when a module is imported. A `Store` carries the Settings it
was opened with; the CLI makes one per command, with --root when given.

    KETCH_ROOT                  the store (--root wins), default /var/lib/ketch
    KETCH_RUN_ROOT              runtime state that dies with the host, default /run/ketch
    KETCH_MAX_LAYER_BYTES       the most one layer may expand to (default: the store's free space)
    KETCH_INSECURE_REGISTRIES   registries (host[:port], comma separated) spoken to without TLS
                                verification, then over plain http (as daemon.json's insecure-registries)
    KETCH_DEFAULT_NETWORK       the network of run/create/build without --network
    KETCH_DEBUG                 tracebacks instead of one-line errors
    KETCH_INIT_PATH             the static init binary of --init (default: ketch-monitor, which is one)
    KETCH_CGROUP_ROOT           the cgroup hierarchy, default /sys/fs/cgroup
    KETCH_CGROUP_PARENT         the cgroup containers' own are made under, default ketch
    KETCH_BRIDGE_PREFIX         the name prefix of the bridges made, default ketch
    KETCH_CHAIN_PREFIX          the name prefix of the iptables chains made, default KETCH
    KETCH_NO_IPV6               no IPv6 inside bridged containers
    KETCH_NO_CLONE3             (read by the Rust side) spawn with clone, not clone3
    KETCH_REGISTRIES_CONF       podman's registries.conf, default /etc/containers/registries.conf
    KETCH_DAEMON_JSON           dockerd's daemon.json (its registry keys), default /etc/docker/daemon.json
    KETCH_CERTS_DIRS            registry TLS directories (HOST:PORT/ca.crt, client.cert/.key), colon
                                separated, default /etc/docker/certs.d:/etc/containers/certs.d

and the variables every tool reads, through the same Settings: HTTP_PROXY,
HTTPS_PROXY, NO_PROXY (either case), REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # pathlib's import is ~5 ms of `ketch ps`: the listings use the str forms (root_dir, run_dir)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

DEFAULT_ROOT = "/var/lib/ketch"


class Settings:
    """The settings of one command (or one library user): `root` given (--root)
    overrides KETCH_ROOT; `environ` (default os.environ) is read lazily."""

    def __init__(self, root: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._root = os.fspath(root) if root else None
        self._environ = environ
        self._read: dict[str, str | None] = {}
        # credentials a caller gave for this work alone (the Engine API's X-Registry-Auth):
        # domain -> (user, password, identity token), looked up before any config file
        self.given_auth: dict[str, tuple[str, str, str]] = {}

    def _get(self, name: str) -> str | None:
        """The variable as it was the first time it was asked for."""
        if name not in self._read:
            self._read[name] = (os.environ if self._environ is None else self._environ).get(name)
        return self._read[name]

    def _get_or(self, name: str, default: str) -> str:
        """The variable, or `default` when it is unset (set but empty stays empty)."""
        v = self._get(name)
        return v if v is not None else default

    def with_auth(self, domain: str, user: str, password: str, token: str = "") -> Settings:
        """A copy of these settings that answers `domain`'s challenges with
        these credentials (none of them written anywhere)."""
        import copy

        other = copy.copy(self)
        other._read = self._read  # the same variables, as read once
        other.given_auth = {**self.given_auth, domain: (user, password, token)}
        return other

    def use_root(self, root: str | os.PathLike[str]) -> None:
        """--root, given before the store is opened."""
        self._root = os.fspath(root)

    @property
    def root_dir(self) -> str:
        """The store's directory (--root, KETCH_ROOT, /var/lib/ketch), as given."""
        if self._root is None:
            self._root = self._get("KETCH_ROOT") or DEFAULT_ROOT
        return self._root

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.root_dir)

    @property
    def run_dir(self) -> str:
        """The runtime state's directory (KETCH_RUN_ROOT, /run/ketch), as given."""
        return self._get("KETCH_RUN_ROOT") or "/run/ketch"

    @property
    def run_root(self) -> Path:
        from pathlib import Path

        return Path(self.run_dir)

    @property
    def max_layer_bytes(self) -> int | None:
        """KETCH_MAX_LAYER_BYTES, None when unset; not a number is a UsageError."""
        env = self._get("KETCH_MAX_LAYER_BYTES")
        if not env:
            return None
        try:
            return int(env)
        except ValueError:
            from .errors import UsageError

            raise UsageError(f"KETCH_MAX_LAYER_BYTES={env}: not a number of bytes") from None

    @property
    def insecure_registries(self) -> list[str]:
        return [s.strip() for s in (self._get("KETCH_INSECURE_REGISTRIES") or "").split(",") if s.strip()]

    @property
    def default_network(self) -> str | None:
        return self._get("KETCH_DEFAULT_NETWORK") or None

    @property
    def debug(self) -> bool:
        return bool(self._get("KETCH_DEBUG"))

    @property
    def init_path(self) -> str | None:
        return self._get("KETCH_INIT_PATH") or None

    @property
    def cgroup_dir(self) -> str:
        """The cgroup hierarchy (KETCH_CGROUP_ROOT, /sys/fs/cgroup), as given."""
        return self._get_or("KETCH_CGROUP_ROOT", "/sys/fs/cgroup")

    @property
    def cgroup_root(self) -> Path:
        from pathlib import Path

        return Path(self.cgroup_dir)

    @property
    def cgroup_parent(self) -> str:
        return self._get_or("KETCH_CGROUP_PARENT", "ketch")

    @property
    def bridge_prefix(self) -> str:
        return self._get_or("KETCH_BRIDGE_PREFIX", "ketch")

    @property
    def chain_prefix(self) -> str:
        return self._get_or("KETCH_CHAIN_PREFIX", "KETCH")

    @property
    def no_ipv6(self) -> bool:
        return bool(self._get("KETCH_NO_IPV6"))

    @property
    def registries_conf(self) -> Path:
        from pathlib import Path

        return Path(self._get("KETCH_REGISTRIES_CONF") or "/etc/containers/registries.conf")

    @property
    def daemon_json(self) -> Path:
        from pathlib import Path

        return Path(self._get("KETCH_DAEMON_JSON") or "/etc/docker/daemon.json")

    @property
    def certs_dirs(self) -> list[Path]:
        v = self._get("KETCH_CERTS_DIRS")
        dirs = v.split(":") if v is not None else ["/etc/docker/certs.d", "/etc/containers/certs.d"]
        from pathlib import Path

        return [Path(d) for d in dirs if d]

    def env(self, name: str) -> str | None:
        """A variable that is not ketch's own (proxies, auth files), upper case first, then lower."""
        v = self._get(name)
        return v if v is not None else self._get(name.lower())


_process: Settings | None = None


def process_settings() -> Settings:
    """The settings of code that has no store at hand (cgroups): the
    process's environment, read once."""
    global _process
    if _process is None:
        _process = Settings()
    return _process
