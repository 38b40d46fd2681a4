"""Where and how ketch reaches a registry, from the files docker and podman
users already have: podman's registries.conf (v2 TOML: search registries,
short-name mode, [[registry]] location / insecure / blocked / mirrors),
dockerd's daemon.json (insecure-registries, registry-mirrors), the TLS
directories certs.d (ca.crt, client.cert / client.key), and the proxy
variables. Every path comes from Settings, so tests point them elsewhere.

One SSL context per process per TLS configuration: building one (loading
the system's CA bundle) costs ~20 ms, once per process, not per connection."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import KetchError, RegistryError

if TYPE_CHECKING:
    import ssl

    from ..config import Settings
    from ..reference import Reference

DOCKER_HUB = "docker.io"
SHORT_NAME_MODES = ("disabled", "permissive", "enforcing")


class ShortNameError(RegistryError):
    """A short name that registries.conf's short-name-mode forbids resolving."""


class RegistriesConfigError(KetchError):
    """A registries.conf or daemon.json that cannot be read as one: one line naming the file."""


@dataclass(frozen=True)
class Mirror:
    location: str  # host[:port][/namespace]
    insecure: bool = False


@dataclass(frozen=True)
class RegistryEntry:
    """One [[registry]] of registries.conf."""

    prefix: str  # what it matches: host[:port][/namespace], or *.domain
    location: str  # where it is (the prefix when not given)
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class RegistriesConfig:
    """What the two files say, merged. `sources` names the files read."""

    search: tuple[str, ...] = ()  # unqualified-search-registries
    short_name_mode: str = ""
    registries: tuple[RegistryEntry, ...] = ()
    insecure: tuple[str, ...] = ()  # daemon.json insecure-registries (host[:port] or CIDR)
    hub_mirrors: tuple[str, ...] = ()  # daemon.json registry-mirrors: Docker Hub's, as URLs
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One place to ask for `domain/path`: a mirror or the registry itself."""

    host: str  # host[:port] connected to
    path: str  # the repository's path there
    insecure: bool  # https without verification first, then plain http (docker's rule)
    mirror: bool
    scheme: str = ""  # "http"/"https" when a mirror URL fixed it


# -- parsers ------------------------------------------------------------------


def _strip_scheme(loc: str) -> str:
    return loc.removeprefix("https://").removeprefix("http://").rstrip("/")


def parse_registries_conf(text: str, path: str) -> RegistriesConfig:
    """registries.conf v2 (TOML). A malformed file is one RegistriesConfigError naming it."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RegistriesConfigError(f"{path}: not valid TOML: {e}") from None

    def bad(what: str) -> RegistriesConfigError:
        return RegistriesConfigError(f"{path}: {what}")

    search = doc.get("unqualified-search-registries", [])
    if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
        raise bad("unqualified-search-registries is not a list of strings")
    from ..reference import valid_domain

    for s in search:  # each is a registry a short name is put under: host[:port], nothing more
        if not valid_domain(s):
            raise bad(f"unqualified-search-registries: {s[:100]!r} is not a registry (host[:port])")
    mode = doc.get("short-name-mode", "")
    if mode and mode not in SHORT_NAME_MODES:
        raise bad(f"short-name-mode {str(mode)[:40]!r} is not one of {', '.join(SHORT_NAME_MODES)}")
    if "registries" in doc and "registry" not in doc:
        raise bad("the v1 format ([registries.search] ...) is not supported; use v2 ([[registry]])")
    regs = doc.get("registry", [])
    if not isinstance(regs, list):
        raise bad("registry is not an array of tables ([[registry]])")
    entries = []
    for i, r in enumerate(regs):
        if not isinstance(r, dict):
            raise bad(f"registry #{i + 1} is not a table")
        location = r.get("location", "")
        prefix = r.get("prefix", "") or location
        if not isinstance(location, str) or not isinstance(prefix, str) or not prefix:
            raise bad(f"registry #{i + 1} has no location")
        if not location and not prefix.startswith("*."):
            location = prefix
        for key in ("insecure", "blocked"):
            if not isinstance(r.get(key, False), bool):
                raise bad(f"registry {prefix!r}: {key} is not true or false")
        mirrors = r.get("mirror", [])
        if not isinstance(mirrors, list):
            raise bad(f"registry {prefix!r}: mirror is not an array of tables ([[registry.mirror]])")
        ms = []
        for m in mirrors:
            if not isinstance(m, dict) or not isinstance(m.get("location"), str) or not m["location"]:
                raise bad(f"registry {prefix!r}: a mirror has no location")
            if not isinstance(m.get("insecure", False), bool):
                raise bad(f"registry {prefix!r}: mirror {m['location']!r}: insecure is not true or false")
            ms.append(Mirror(_strip_scheme(m["location"]), bool(m.get("insecure", False))))
        entries.append(
            RegistryEntry(
                _strip_scheme(prefix),
                _strip_scheme(location),
                bool(r.get("insecure", False)),
                bool(r.get("blocked", False)),
                tuple(ms),
            )  # fmt: skip
        )
    return RegistriesConfig(tuple(search), mode, tuple(entries), sources=(path,))


def parse_daemon_json(text: str, path: str) -> RegistriesConfig:
    """dockerd's daemon.json: only the keys about registries are read."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise RegistriesConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise RegistriesConfigError(f"{path}: not a JSON object")
    out: dict[str, tuple[str, ...]] = {}
    for key in ("insecure-registries", "registry-mirrors"):
        v = doc.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise RegistriesConfigError(f"{path}: {key} is not a list of strings")
        out[key] = tuple(v)
    for m in out["registry-mirrors"]:
        u = urllib.parse.urlsplit(m)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise RegistriesConfigError(f"{path}: registry-mirrors: {m[:100]!r} is not an http(s) URL")
    return RegistriesConfig(
        insecure=tuple(_strip_scheme(s) for s in out["insecure-registries"]),
        hub_mirrors=tuple(m.rstrip("/") for m in out["registry-mirrors"]),
        sources=(path,),
    )


_cache: dict[tuple[Any, ...], RegistriesConfig] = {}
_cache_lock = threading.Lock()


def _read(path: Path) -> tuple[tuple[Any, ...], str | None]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None), None
    try:
        return (str(path), st.st_mtime_ns, st.st_size), path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise RegistriesConfigError(f"{path}: cannot be read: {getattr(e, 'strerror', None) or e}") from None


def load(settings: Settings) -> RegistriesConfig:
    """registries.conf and daemon.json merged (either may be absent); read once per change."""
    conf_key, conf = _read(settings.registries_conf)
    daemon_key, daemon = _read(settings.daemon_json)
    key = (conf_key, daemon_key)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    a = parse_registries_conf(conf, str(settings.registries_conf)) if conf is not None else RegistriesConfig()
    b = parse_daemon_json(daemon, str(settings.daemon_json)) if daemon is not None else RegistriesConfig()
    merged = RegistriesConfig(
        a.search, a.short_name_mode, a.registries, b.insecure, b.hub_mirrors, a.sources + b.sources
    )
    with _cache_lock:
        _cache[key] = merged
    return merged


# -- what the library tells a face (`ketch info` shows these) -------------------


def insecure_registries(settings: Settings) -> list[str]:
    """Every registry spoken to without TLS verification (then plain http), as
    `docker info` lists them: loopback always, then daemon.json's,
    KETCH_INSECURE_REGISTRIES and registries.conf's insecure ones."""
    cfg = load(settings)
    out = ["127.0.0.0/8", "::1/128"]
    for s in [*cfg.insecure, *settings.insecure_registries, *(r.prefix for r in cfg.registries if r.insecure)]:
        if s not in out:
            out.append(s)
    return out


def registry_mirrors(settings: Settings) -> dict[str, list[str]]:
    """The mirrors configured, by the registry they stand in for (docker.io's
    from daemon.json first, as docker asks them)."""
    cfg = load(settings)
    out: dict[str, list[str]] = {}
    if cfg.hub_mirrors:
        out[DOCKER_HUB] = list(cfg.hub_mirrors)
    for r in cfg.registries:
        if r.mirrors:
            out.setdefault(r.prefix, []).extend(m.location for m in r.mirrors)
    return out


def search_registries(settings: Settings) -> tuple[list[str], str]:
    """(unqualified-search-registries, short-name-mode) as registries.conf says."""
    cfg = load(settings)
    return list(cfg.search), cfg.short_name_mode


def candidates(name: str, settings: Settings, default_tag: bool = True) -> list[Reference]:
    """The references a pull of `name` tries, in order, as podman resolves
    them: a fully qualified name is itself; a short name (`busybox`,
    `library/busybox`) is one reference per unqualified-search-registries
    entry (docker.io's with `library/` as docker adds it), or docker.io's
    alone when the list is empty (docker's rule). In `enforcing` mode a short
    name with more than one candidate is an error: podman would prompt on a
    terminal, a library cannot, so the user is told to qualify it."""
    from ..reference import is_short_name, parse

    ref = parse(name, default_tag)
    if not is_short_name(name):
        return [ref]
    search, mode = search_registries(settings)
    if not search:
        return [ref]
    out = [parse(f"{_strip_scheme(reg)}/{name}", default_tag) for reg in search]
    if mode == "enforcing" and len(out) > 1:
        raise ShortNameError(
            f"short-name resolution enforced but cannot prompt without a TTY: {name!r} could be any of "
            f"{', '.join(r.name for r in out)} ({settings.registries_conf}); use a fully qualified name"
        )
    return out


# -- endpoints ----------------------------------------------------------------


def _host_of(domain: str) -> str:
    if domain.startswith("["):
        return domain[1:].split("]")[0]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def _loopback(domain: str) -> bool:
    host = _host_of(domain)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_insecure(domain: str, settings: Settings) -> bool:
    """Loopback, or named (host[:port], host, or a CIDR holding its address) in
    daemon.json's insecure-registries, KETCH_INSECURE_REGISTRIES or an insecure [[registry]]."""
    if _loopback(domain):
        return True
    cfg = load(settings)
    host = _host_of(domain)
    names = [*cfg.insecure, *settings.insecure_registries]
    if domain in names or host in names:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for n in names:
        if ip is not None and "/" in n:
            try:
                if ip in ipaddress.ip_network(n, strict=False):
                    return True
            except ValueError:
                pass
    entry = _match(cfg, domain, "")
    return entry is not None and entry[0].insecure


def _match(cfg: RegistriesConfig, domain: str, path: str) -> tuple[RegistryEntry, str] | None:
    """The [[registry]] whose prefix matches `domain/path` best (the longest),
    and the part of `path` below it."""
    full = f"{domain}/{path}" if path else domain
    best: tuple[RegistryEntry, str] | None = None
    best_len = -1
    for r in cfg.registries:
        p = r.prefix
        if p.startswith("*."):
            host = _host_of(domain)
            if host.endswith(p[1:]) and len(p) > best_len:
                best, best_len = (r, path), len(p)
            continue
        if full == p or full.startswith(p + "/"):
            if len(p) > best_len:
                rest = full[len(p) :].lstrip("/")
                best, best_len = (r, rest), len(p)
    return best


def _join(location: str, rest: str) -> tuple[str, str]:
    """A location (host[:port][/namespace]) and a path below it -> (host, repository path)."""
    host, _, ns = location.partition("/")
    path = "/".join(p for p in (ns, rest) if p)
    return host, path


def endpoints(domain: str, path: str, settings: Settings) -> list[Endpoint]:
    """Where to ask for `domain/path`, in order: registries.conf's mirrors of
    the [[registry]] it matches, daemon.json's registry-mirrors (Docker Hub
    only), then the registry itself (its `location` when the entry rewrites
    it). A blocked registry is a RegistryError."""
    cfg = load(settings)
    out: list[Endpoint] = []
    m = _match(cfg, domain, path)
    if m is not None:
        entry, rest = m
        if entry.blocked:
            raise RegistryError(f"registry {domain} is blocked in {settings.registries_conf}")
        for mirror in entry.mirrors:
            h, p = _join(mirror.location, rest)
            out.append(Endpoint(h, p, mirror.insecure or is_insecure(h, settings), True))
        if entry.location and not entry.prefix.startswith("*."):
            h, p = _join(entry.location, rest)
        else:
            h, p = domain, path
        own = Endpoint(h, p, entry.insecure or is_insecure(h, settings), False)
    else:
        own = Endpoint(domain, path, is_insecure(domain, settings), False)
    if domain == DOCKER_HUB:
        for url in cfg.hub_mirrors:
            u = urllib.parse.urlsplit(url)
            ns = u.path.strip("/")
            where = "/".join(p for p in (ns, path) if p)
            out.append(Endpoint(u.netloc, where, is_insecure(u.netloc, settings), True, u.scheme))
    out.append(own)
    return out


# -- TLS ----------------------------------------------------------------------

_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}  # ssl: imported when a context is made
_contexts_lock = threading.Lock()
contexts_built = 0  # how many were built in this process (a test and a bench read it)


def _certs_dir(domain: str, settings: Settings) -> Path | None:
    for base in settings.certs_dirs:
        d = base / domain
        if d.is_dir():
            return d
    return None


def _checked(f: Path) -> Path:
    """A certs.d file, followed through symlinks (admins link keys in from
    /etc/ssl/private; docker follows them too), that is a regular file not
    writable by group or others and owned by root or the caller: a key or a
    CA someone else could swap is refused rather than trusted."""
    try:
        real = f.resolve(strict=True)
        st = real.stat()
    except OSError as e:
        raise RegistryError(f"{f}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RegistryError(f"{f}: not a regular file")
    if st.st_mode & 0o022:
        raise RegistryError(f"{f}: writable by group or others; refusing it (chmod go-w)")
    if st.st_uid not in (0, os.geteuid()):
        raise RegistryError(f"{f}: owned by uid {st.st_uid}, not by root or you; refusing it")
    return real


def tls_files(domain: str, settings: Settings) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """(CA files, (client cert, client key) pairs) in certs.d for `domain`, as
    docker reads them: *.crt are CAs, each *.cert needs its *.key."""
    d = _certs_dir(domain, settings)
    if d is None:
        return [], []
    try:
        st = d.stat()
        names = sorted(os.listdir(d))
    except OSError as e:
        raise RegistryError(f"{d}: {e.strerror or e}") from None
    if st.st_mode & 0o002:
        raise RegistryError(f"{d}: writable by anyone; refusing its certificates")
    cas = [_checked(d / n) for n in names if n.endswith(".crt")]
    pairs = []
    for n in names:
        if n.endswith(".cert"):
            key = n[: -len(".cert")] + ".key"
            if key not in names:
                raise RegistryError(f"{d / n}: client certificate without its key {key}")
            pairs.append((_checked(d / n), _checked(d / key)))
        elif n.endswith(".key") and n[: -len(".key")] + ".cert" not in names:
            raise RegistryError(f"{d / n}: client key without its certificate")
    return cas, pairs


def ssl_context(domain: str, settings: Settings, verify: bool = True) -> ssl.SSLContext:
    """The SSL context for `domain`: the system's CAs plus certs.d's, its
    client certificate; without `verify` (an insecure registry) no
    verification. Shared by every connection of the process with the same files."""
    import ssl  # here: `run` of a short name reads this module's registries.conf, not TLS

    global contexts_built
    cas, pairs = tls_files(domain, settings)
    ident: list[Any] = []
    for p in [*cas, *(x for pair in pairs for x in pair)]:
        st = p.stat()
        ident.append((str(p), st.st_mtime_ns, st.st_size))
    key = (verify, tuple(ident))
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            return ctx
        try:
            if verify:
                ctx = ssl.create_default_context()
                for ca in cas:
                    ctx.load_verify_locations(cafile=str(ca))
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            for cert, k in pairs:
                ctx.load_cert_chain(str(cert), str(k))
        except (ssl.SSLError, OSError) as e:
            raise RegistryError(f"TLS files for {domain} in {_certs_dir(domain, settings)}: {e}") from None
        contexts_built += 1
        _contexts[key] = ctx
        return ctx


def has_tls_config(domain: str, settings: Settings) -> bool:
    return _certs_dir(domain, settings) is not None


# -- proxies ------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    auth: str | None  # "user:password" for Proxy-Authorization


def _no_proxy_matches(entry: str, host: str, port: str) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    e_host, e_port = entry, ""
    if entry.count(":") == 1:
        e_host, _, e_port = entry.partition(":")
    if e_port and e_port != port:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if "/" in e_host:
        try:
            return ip is not None and ip in ipaddress.ip_network(e_host, strict=False)
        except ValueError:
            return False
    e_host = e_host.lstrip("*")
    if e_host.startswith("."):
        return host.endswith(e_host) or host == e_host[1:]
    return host == e_host or host.endswith("." + e_host)


def proxy_for(scheme: str, domain: str, settings: Settings) -> Proxy | None:
    """The proxy for a registry connection, from HTTPS_PROXY / HTTP_PROXY and
    NO_PROXY as Go's net/http reads them (docker's): loopback and localhost
    never go through one; NO_PROXY holds hosts, .domains, host:port, CIDRs or *."""
    if _loopback(domain):
        return None
    url = settings.env("HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY")
    if not url:
        return None
    host = _host_of(domain).lower()
    port = domain.rsplit(":", 1)[1] if domain.count(":") == 1 else ("443" if scheme == "https" else "80")
    for entry in (settings.env("NO_PROXY") or "").split(","):
        if _no_proxy_matches(entry, host, port):
            return None
    if "://" not in url:
        url = "http://" + url
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "") or not u.hostname:
        raise RegistryError(f"proxy {u.scheme}://{u.hostname or ''}: only http:// proxies are supported")
    auth = None
    if u.username is not None:
        auth = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
    return Proxy(u.hostname, u.port or 80, auth)
