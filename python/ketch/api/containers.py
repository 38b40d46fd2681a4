"""Container routes: create, list, inspect, start, stop, restart, kill,
pause, unpause, rename, wait, logs, delete, top, changes, prune.

`create` turns the request's Config, HostConfig and NetworkingConfig into
the runtime's Options, each value checked here as a string the library's
parsers then read exactly as they read docker's flags: a value that could
be read as a second field of those strings (a comma in a --mount part, a
colon in a port) is refused, never passed on."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from .http import HTTPError
from .router import Call
from .util import filter_list

NS = 1_000_000_000


# -- create ----------------------------------------------------------------------


def _strs(doc: dict[str, Any], key: str) -> list[str]:
    """A list of strings (or null), as the API gives Env, Cmd, CapAdd ..."""
    v = doc.get(key)
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise HTTPError(400, f"{key} must be a list of strings")
    return list(v)


def _str(doc: dict[str, Any], key: str) -> str | None:
    v = doc.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise HTTPError(400, f"{key} must be a string")
    return v


def _int(doc: dict[str, Any], key: str) -> int | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise HTTPError(400, f"{key} must be an integer")
    return v


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    v = doc.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise HTTPError(400, f"{key} must be a JSON object")
    return v


def _plain(what: str, value: str, forbidden: str) -> str:
    """`value` as one field of a flag's syntax: none of `forbidden`, no control character."""
    if any(ch in value for ch in forbidden) or any(ord(ch) < 32 for ch in value):
        raise HTTPError(400, f"invalid {what}: {value[:80]!r}")
    return value


_PORT = re.compile(r"[0-9]{1,5}(-[0-9]{1,5})?(/(tcp|udp|sctp))?")


def _publish(bindings: dict[str, Any]) -> list[str]:
    """HostConfig.PortBindings as -p values: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}."""
    out = []
    for cport, hosts in bindings.items():
        if not _PORT.fullmatch(cport):
            raise HTTPError(400, f"invalid port specification: {cport[:40]!r}")
        for h in hosts or [{}]:
            if not isinstance(h, dict):
                raise HTTPError(400, "PortBindings: each binding must be an object")
            ip, hp = str(h.get("HostIp") or ""), str(h.get("HostPort") or "")
            if hp and not re.fullmatch(r"[0-9]{1,5}(-[0-9]{1,5})?", hp):
                raise HTTPError(400, f"invalid port specification: {hp[:40]!r}")
            if ip:
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    raise HTTPError(400, f"invalid IP address: {ip[:60]!r}") from None
                host = f"[{addr}]" if addr.version == 6 else str(addr)
                out.append(f"{host}:{hp}:{cport}")
            else:
                out.append(f"{hp}:{cport}" if hp else cport)
    return out


def _mount(m: Any) -> str:
    """One HostConfig.Mounts entry as a --mount value."""
    if not isinstance(m, dict):
        raise HTTPError(400, "Mounts: each mount must be an object")
    kind = str(m.get("Type") or "volume")
    if kind not in ("bind", "volume", "tmpfs"):
        raise HTTPError(400, f"mount type {kind[:20]!r} is not supported")
    parts = [f"type={kind}"]
    for key, name in (("Source", "source"), ("Target", "target")):
        v = m.get(key)
        if v:
            parts.append(f"{name}={_plain(f'mount {name}', str(v), ',=')}")
    if m.get("ReadOnly"):
        parts.append("readonly")
    t = m.get("TmpfsOptions") or {}
    if kind == "tmpfs" and isinstance(t, dict):
        if _int(t, "SizeBytes"):
            parts.append(f"tmpfs-size={t['SizeBytes']}")
        if _int(t, "Mode"):
            parts.append(f"tmpfs-mode={t['Mode']:o}")
    b = m.get("BindOptions") or {}
    if kind == "bind" and isinstance(b, dict) and b.get("Propagation"):
        parts.append(f"bind-propagation={_plain('propagation', str(b['Propagation']), ',=')}")
    return ",".join(parts)


def _healthcheck(hc: dict[str, Any], o: dict[str, Any]) -> None:
    test = _strs(hc, "Test")
    if test:
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise HTTPError(400, f"Healthcheck.Test must start with CMD, CMD-SHELL or NONE, not {test[0][:20]!r}")
        o["health_test"] = test
    for key, name in (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                      ("StartPeriod", "health_start_period")):  # fmt: skip
        ns = _int(hc, key)
        if ns:
            o[name] = f"{ns}ns"
    retries = _int(hc, "Retries")
    if retries:
        o["health_retries"] = retries


MAX_SECCOMP = 1 << 20


def _security_opts(store: Any, values: list[str], temps: list[str]) -> list[str]:
    """SecurityOpt as --security-opt values. docker's CLI sends a seccomp
    profile's JSON text (`seccomp=<json>`), never a path: it is written to a
    file of the store's own for the create to read, and a value that is not
    JSON (a host path, /dev/zero, a fifo) is refused: the service never opens
    a file a request names."""
    import json
    import tempfile

    out = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            key, sep, value = v.partition(":")
        if key == "seccomp" and value and value != "unconfined":
            if len(value) > MAX_SECCOMP:
                raise HTTPError(400, "seccomp profile too large")
            try:
                json.loads(value)
            except ValueError:
                raise HTTPError(
                    400, "SecurityOpt seccomp must be a profile's JSON (or unconfined), not a path"
                ) from None
            tmp = Path(store.root) / "tmp"
            tmp.mkdir(exist_ok=True, mode=0o700)
            fd, path = tempfile.mkstemp(prefix="seccomp-", suffix=".json", dir=tmp)
            with os.fdopen(fd, "w") as f:
                f.write(value)
            temps.append(path)
            out.append(f"seccomp={path}")
        else:
            out.append(v)
    return out


def options_of(store: Any, body: Any, temps: list[str]) -> tuple[str, list[str], Any]:
    """(image, command, Options) of a create request's body; `temps` gets
    the files written for it (a seccomp profile), the caller's to remove."""
    from ..runtime.cgroups import Limits, check_cpus, parse_bytes
    from ..runtime.spec import Options

    if not isinstance(body, dict):
        raise HTTPError(400, "the body must be a JSON object (the container's config)")
    image = _str(body, "Image")
    if image is None:
        raise HTTPError(400, "config has no image: Image is required")
    host = _obj(body, "HostConfig")
    o: dict[str, Any] = {}
    o["env"] = [x for x in _strs(body, "Env") if "=" in x]  # a bare NAME: the client's to fill, never ours
    o["workdir"] = _str(body, "WorkingDir")
    o["user"] = _str(body, "User")
    o["hostname"] = _str(body, "Hostname")
    if "Entrypoint" in body and body["Entrypoint"] is not None:
        ep = _strs(body, "Entrypoint")
        o["entrypoint"] = [] if ep == [""] else ep
    o["tty"] = bool(body.get("Tty"))
    o["interactive"] = bool(body.get("OpenStdin"))
    o["stdin_once"] = bool(body.get("StdinOnce"))
    o["label"] = [f"{k}={v}" for k, v in _obj(body, "Labels").items()]
    o["stop_signal"] = _str(body, "StopSignal")
    o["stop_timeout"] = _int(body, "StopTimeout")
    if body.get("Healthcheck"):
        _healthcheck(_obj(body, "Healthcheck"), o)
    # HostConfig
    o["volumes"] = _strs(host, "Binds")
    o["mounts"] = [_mount(m) for m in host.get("Mounts") or []]
    o["tmpfs"] = [f"{p}:{v}" if v else p for p, v in _obj(host, "Tmpfs").items()]
    o["publish"] = _publish(_obj(host, "PortBindings"))
    o["publish_all"] = bool(host.get("PublishAllPorts"))
    mode = _str(host, "NetworkMode") or "default"
    if mode.startswith("container:"):
        raise HTTPError(400, "network mode container:<name|id> is not supported")
    endpoints = _obj(_obj(body, "NetworkingConfig"), "EndpointsConfig")
    if mode == "default" and len(endpoints) == 1:
        mode = next(iter(endpoints))
    endpoint: Any = endpoints.get(mode) or {}
    if isinstance(endpoint, dict):
        o["network_alias"] = _strs(endpoint, "Aliases")
        ipam = endpoint.get("IPAMConfig") or {}
        if isinstance(ipam, dict) and ipam.get("IPv4Address"):
            o["ip"] = str(ipam["IPv4Address"])
    o["network"] = None if mode == "default" else mode
    policy = _obj(host, "RestartPolicy")
    name = str(policy.get("Name") or "no")
    retries = _int(policy, "MaximumRetryCount") or 0
    o["restart"] = f"{name}:{retries}" if name == "on-failure" and retries else name
    o["autoremove"] = bool(host.get("AutoRemove"))
    o["privileged"] = bool(host.get("Privileged"))
    o["read_only"] = bool(host.get("ReadonlyRootfs"))
    o["init"] = bool(host.get("Init"))
    o["cap_add"] = _strs(host, "CapAdd")
    o["cap_drop"] = _strs(host, "CapDrop")
    o["security_opt"] = _security_opts(store, _strs(host, "SecurityOpt"), temps)
    o["dns"] = _strs(host, "Dns")
    o["dns_search"] = _strs(host, "DnsSearch")
    o["add_host"] = _strs(host, "ExtraHosts")
    o["group_add"] = _strs(host, "GroupAdd")
    log = _obj(host, "LogConfig")
    if (log.get("Type") or "json-file") != "json-file":
        raise HTTPError(400, f"logging driver {str(log.get('Type'))[:40]!r} is not supported: ketch logs json-file")
    o["log_opt"] = [f"{k}={v}" for k, v in _obj(log, "Config").items()]
    o["ulimit"] = [
        f"{_plain('ulimit', str(u.get('Name')), '=:')}={_int(u, 'Soft') or 0}:{_int(u, 'Hard') or 0}"
        for u in host.get("Ulimits") or []
        if isinstance(u, dict)
    ]
    o["sysctl"] = [f"{k}={v}" for k, v in _obj(host, "Sysctls").items()]
    if _int(host, "ShmSize"):
        o["shm_size"] = str(host["ShmSize"])
    o["device"] = [
        ":".join(_plain("device", str(d.get(k) or ""), ":") for k in ("PathOnHost", "PathInContainer"))
        + f":{_plain('device permissions', str(d.get('CgroupPermissions') or 'rwm'), ':')}"
        for d in host.get("Devices") or []
        if isinstance(d, dict)
    ]
    for d in o["device"]:
        if d.split(":")[1] == "":
            raise HTTPError(400, "Devices: PathInContainer is required")
    memory, nano = _int(host, "Memory"), _int(host, "NanoCpus")
    pids = _int(host, "PidsLimit")
    cpus = nano / NS if nano else None
    try:
        check_cpus(cpus)
        limits = Limits(parse_bytes(str(memory)) if memory else None, cpus, pids if pids and pids > 0 else None)
    except Exception as e:
        raise HTTPError(400, str(e)) from None
    cmd = _strs(body, "Cmd")
    given = {k: v for k, v in o.items() if v is not None}
    settings = store.settings
    network = given.pop("network", None) or settings.default_network or "bridge"
    opts = Options(network=network, limits=limits, **given)
    return image, cmd, opts


def create(call: Call) -> None:
    """POST /containers/create?name=: 201 {Id, Warnings}; 404 when the image is
    not here (the CLI pulls it then and asks again)."""
    temps: list[str] = []
    try:
        body = call.req.json()
        image, cmd, opts = options_of(call.store, body, temps)
        _create(call, image, cmd, opts, call.req.arg("name"), _more_endpoints(body, opts.network))
    finally:
        for path in temps:
            os.unlink(path)


def _more_endpoints(body: Any, own: str | None) -> list[tuple[str, list[str], str | None]]:
    """The networks past its own that a container is created on (API 1.44's
    several EndpointsConfig): (name, aliases, fixed address), joined as
    `network connect` joins them."""
    endpoints = _obj(_obj(body, "NetworkingConfig"), "EndpointsConfig")
    out = []
    for name, ep in endpoints.items():
        if name in ("default", own or "bridge"):
            continue  # its own network
        ep = ep if isinstance(ep, dict) else {}
        ipam = _obj(ep, "IPAMConfig")
        ip = ipam.get("IPv4Address") or None
        out.append((name, _strs(ep, "Aliases"), str(ip) if ip is not None else None))
    return out


def _create(
    call: Call, image: str, cmd: list[str], opts: Any, name: str | None, more: list[tuple[str, list[str], str | None]]
) -> None:
    from ..errors import ConflictError, ImageNotFound, KetchError
    from ..images import local_name
    from ..runtime import containers, policies

    if name:
        opts.name = name
    if opts.autoremove and opts.restart not in ("no", ""):
        raise HTTPError(409, "conflicting options: cannot specify both --restart and --rm")
    try:
        policies.restart_policy(opts.restart)
    except KetchError as e:
        raise HTTPError(400, str(e)) from None
    try:
        local = local_name(call.store, image)
    except KetchError as e:
        raise HTTPError(404, f"No such image: {image}") from e
    try:
        c = containers.create(call.store, local, cmd, opts)
    except (ImageNotFound, ConflictError):
        raise
    except KetchError as e:  # what the flags' parsers refused: the request's fault, as dockerd's 400
        raise HTTPError(400, str(e)) from None
    if more:
        from ..runtime.launch import connect

        try:
            for network, aliases, ip in more:
                connect(call.store, network, c.id, aliases, ip)
        except BaseException as e:
            containers.remove(call.store, c.id, quiet=True, volumes_too=True)
            if isinstance(e, KetchError):
                from .util import refused

                raise refused(e) from None
            raise
    call.req.json_answer({"Id": c.id, "Warnings": []}, 201)


# -- list and inspect ----------------------------------------------------------------


def _ports(store: Any, c: Any) -> list[dict[str, Any]]:
    from ..runtime import listing as rl

    out: list[dict[str, Any]] = []
    published = set()
    for p in rl.published_ports(store, c):
        published.add((p.port, p.proto))
        out.append({"IP": p.host_ip, "PrivatePort": p.port, "PublicPort": p.host_port, "Type": p.proto})
    for e in sorted(rl.exposed_ports(store, c)):
        num, _, proto = e.partition("/")
        if num.isdigit() and (int(num), proto or "tcp") not in published:
            out.append({"PrivatePort": int(num), "Type": proto or "tcp"})
    return out


def summary(call: Call, c: Any, size: bool = False) -> dict[str, Any]:
    """One container as GET /containers/json lists it."""
    from ..runtime import inspect as ri
    from ..runtime import listing as rl

    nets = ri.endpoints(call.store, c)
    doc: dict[str, Any] = {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.image, "ImageID": c.image_id,
        "Command": " ".join(c.config.get("argv") or []), "Created": int(c.created),
        "Ports": _ports(call.store, c), "Labels": rl.labels(call.store, c),
        "State": "paused" if c.paused else ("restarting" if c.restarting else c.state),
        "Status": rl.status_text(c), "HostConfig": {"NetworkMode": c.config.get("network") or "none"},
        "NetworkSettings": {"Networks": nets},
        "Mounts": [ri._mount_doc(m) for m in rl.mounts(call.store, c)],
    }  # fmt: skip
    if size:
        rw = rl.size_rw(call.store, c)
        doc["SizeRw"] = rw
        try:
            from ..store.images import get

            doc["SizeRootFs"] = rw + get(call.store, c.image_id).size
        except Exception:
            doc["SizeRootFs"] = rw
    return doc


def list_(call: Call) -> list[dict[str, Any]]:
    """GET /containers/json?all=&limit=&size=&filters=."""
    from ..runtime.listing import select

    limit = call.req.integer("limit", -1) or -1
    found = select(call.store, call.req.flag("all") or limit > 0, filter_list(call.req))
    if limit > 0:
        found = found[:limit]
    size = call.req.flag("size")
    return [summary(call, c, size) for c in found]


def inspect(call: Call) -> dict[str, Any]:
    from ..runtime.inspect import container_inspect

    doc = container_inspect(call.store, call.params["id"])
    if call.req.api_version is None or call.req.api_version < (1, 45):
        _short_id_alias(doc)
    if call.req.flag("size"):
        from ..runtime import listing as rl
        from ..runtime.state import lookup

        c = lookup(call.store, call.params["id"])
        doc["SizeRw"] = rl.size_rw(call.store, c)
    return doc


def _short_id_alias(doc: dict[str, Any]) -> None:
    """dockerd before API 1.45: a container's short id among its Aliases on
    each user-defined network (compose 1.29 reads it there to know the
    container is already connected)."""
    short = doc["Id"][:12]
    for name, ep in (doc.get("NetworkSettings", {}).get("Networks") or {}).items():
        if name not in ("bridge", "host", "none") and isinstance(ep, dict):
            aliases = list(ep.get("Aliases") or [])
            ep["Aliases"] = aliases if short in aliases else [*aliases, short]


# -- life cycle ----------------------------------------------------------------------


def start(call: Call) -> None:
    """POST /containers/{id}/start: 204; 304 when it runs already. Clients
    attached before (streams.py) are served from its first byte."""
    from ..runtime.state import lookup
    from . import streams

    c = lookup(call.store, call.params["id"])
    if c.paused:
        raise HTTPError(409, "cannot start a paused container, try unpause instead")
    with _start_lock(c.id):  # two starts at once: the second finds it running
        c = lookup(call.store, c.id)
        if c.state == "running" or c.restarting:  # its monitor's (restarting: the monitor starts it again)
            call.req.send(304)
            return
        streams.start(call.service, call.store, c)
    call.req.no_content()


_STARTS: dict[str, Any] = {}
_STARTS_LOCK = threading.Lock()


def _start_lock(cid: str) -> Any:
    """The lock of one container's start (its entry goes once no start holds it)."""
    import contextlib
    import threading

    @contextlib.contextmanager
    def held() -> Any:
        with _STARTS_LOCK:
            entry = _STARTS.setdefault(cid, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with _STARTS_LOCK:
                entry[1] -= 1
                if entry[1] == 0:
                    _STARTS.pop(cid, None)

    return held()


def _timeout(call: Call) -> float | None:
    t = call.req.integer("t")
    if t is None:
        t = call.req.integer("timeout")
    return None if t is None else float(t)


def stop(call: Call) -> None:
    from ..runtime.signals import stop as do_stop
    from ..runtime.state import lookup

    c = lookup(call.store, call.params["id"])
    if c.state != "running":
        call.req.send(304)
        return
    do_stop(call.store, c.id, _timeout(call))
    call.req.no_content()


def restart(call: Call) -> None:
    from ..runtime.signals import stop as do_stop
    from ..runtime.state import lookup

    c = lookup(call.store, call.params["id"])
    do_stop(call.store, c.id, _timeout(call))
    from . import streams

    with _start_lock(c.id):
        c = lookup(call.store, c.id)
        if not (c.state == "running" or c.restarting):
            streams.start(call.service, call.store, c)
    call.req.no_content()


def kill(call: Call) -> None:
    from ..runtime.signals import kill as do_kill

    do_kill(call.store, call.params["id"], call.req.arg("signal") or "KILL")
    call.req.no_content()


def pause(call: Call) -> None:
    from ..runtime.state import pause as do_pause

    do_pause(call.store, call.params["id"], True)
    call.req.no_content()


def unpause(call: Call) -> None:
    from ..runtime.state import pause as do_pause

    do_pause(call.store, call.params["id"], False)
    call.req.no_content()


def rename(call: Call) -> None:
    from ..runtime.containers import rename as do_rename

    new = call.req.arg("name") or ""
    if not new:
        raise HTTPError(400, "a new name is required")
    do_rename(call.store, call.params["id"], new)
    call.req.no_content()


def delete(call: Call) -> None:
    """The container removed (`force`: even running; `v`: its anonymous volumes too)."""
    from ..runtime.containers import remove

    remove(call.store, call.params["id"], force=call.req.flag("force"), volumes_too=call.req.flag("v"))
    call.req.no_content()


def prune(call: Call) -> dict[str, Any]:
    from ..errors import KetchError
    from ..runtime.containers import prune as do_prune
    from .util import refused

    try:
        r = do_prune(call.store, filter_list(call.req))
    except KetchError as e:
        raise refused(e) from None
    return {"ContainersDeleted": list(r.deleted) or None, "SpaceReclaimed": r.reclaimed}


def _gone(store: Any, cid: str) -> bool:
    from ..errors import ContainerNotFound
    from ..runtime.state import lookup

    try:
        lookup(store, cid)
    except ContainerNotFound:
        return True
    return False


def wait(call: Call) -> None:
    """POST /containers/{id}/wait?condition=not-running|next-exit|removed: the
    head goes at once (the CLI starts the container only after it has it),
    the body {StatusCode, Error} when the condition is met."""
    from ..runtime.state import lookup

    condition = call.req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise HTTPError(400, f"invalid condition: {condition[:40]!r}")
    c = lookup(call.store, call.params["id"])
    out = call.req.stream()
    code = _wait_for(call, c, condition)
    out.json({"StatusCode": code, "Error": None})
    out.close()


def _wait_for(call: Call, c: Any, condition: str, poll: float = 0.05) -> int:
    """The exit code once `condition` holds (of the last exit seen)."""
    from ..errors import ContainerNotFound
    from ..runtime.state import lookup

    store = call.store
    first_exit = c.finished if condition == "next-exit" or c.state != "running" else None
    code = c.exit_code or 0
    while not call.service.stopping.is_set():
        try:
            c = lookup(store, c.id)
        except ContainerNotFound:  # removed (--rm) between two looks: its exit is in its die event
            return _last_exit(store, c.id, code)
        if c.state != "running" and c.exit_code is not None:
            code = c.exit_code
        done = c.state != "running" and not c.restarting
        if condition == "next-exit":
            done = done and c.finished is not None and c.finished != first_exit
        if condition == "not-running" and done:
            return code
        if condition == "next-exit" and done:
            return code
        if call.req.conn.gone():
            return code
        time.sleep(poll)
    return code


def _last_exit(store: Any, cid: str, known: int) -> int:
    """The exit code of the container's last `die` event (the journal keeps
    it once the container is gone), else `known`."""
    from ..store import events

    for e in reversed(events.past(store)):
        if e.type == "container" and e.id == cid:
            if e.action == "die":
                try:
                    return int(e.attributes.get("exitCode", known))
                except ValueError:
                    return known
            if e.action == "start":
                break  # it started again after its last die: none recorded since
    return known


# -- logs, top, changes ----------------------------------------------------------------


def logs(call: Call) -> None:
    """GET /containers/{id}/logs: stdcopy frames (raw with a tty), `follow`,
    `since`, `until`, `tail`, `timestamps`, `stdout`, `stderr`."""
    from ..runtime.inspect import logs as entries
    from ..runtime.state import lookup

    req = call.req
    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise HTTPError(400, "Bad parameters: you must choose at least one stream")
    c = lookup(call.store, call.params["id"])
    tty = bool(c.config.get("tty"))
    stamps = req.flag("timestamps")
    since = req.arg("since") or None
    until = req.arg("until") or None
    if since == "0":
        since = None
    if until == "0":
        until = None
    from ..runtime.inspect import _log_window, _tail_count

    tail = req.arg("tail") or "all"
    _tail_count(tail), _log_window(since, until)  # a bad value fails before the head, which goes at once
    it = entries(call.store, c.id, follow=req.flag("follow"), tail=tail, since=since, until=until,
                 stop=req.conn.gone)  # fmt: skip
    out = req.stream("application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")
    e = next(it, None)
    while e is not None:
        if (e.stream == "stderr" and want_err) or (e.stream != "stderr" and want_out):
            text = (e.time + " " if stamps else "") + e.text
            data = text.encode("utf-8", "surrogateescape")
            if tty:
                out.write(data)
            else:
                kind = 2 if e.stream == "stderr" else 1
                out.write(bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)
        e = next(it, None)
    out.close()


def top(call: Call) -> dict[str, Any]:
    from ..runtime.inspect import top as do_top

    args = (call.req.arg("ps_args") or "").split() or None
    t = do_top(call.store, call.params["id"], args)
    return {"Titles": t.titles, "Processes": t.processes}


def changes(call: Call) -> list[dict[str, Any]] | None:
    from ..runtime.commit import diff

    kinds = {"C": 0, "A": 1, "D": 2}  # dockerd's archive.ChangeType
    out = [{"Path": path, "Kind": kinds.get(kind, 0)} for kind, path in diff(call.store, call.params["id"])]
    return out or None


# -- stats, export, update ------------------------------------------------------------


def _system_ns() -> int:
    """The host's CPU time so far (all CPUs, /proc/stat), in nanoseconds: docker's system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _stats_doc(c: Any, pre: Any, pre_sys: int, now: Any, now_sys: int, read: float, preread: float) -> dict[str, Any]:
    from ..models.ids import rfc3339
    from ..runtime.stats import online_cpus

    def cpu(smp: Any, system: int) -> dict[str, Any]:
        return {"cpu_usage": {"total_usage": smp.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "system_cpu_usage": system, "online_cpus": online_cpus(),
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}  # fmt: skip

    return {
        "read": rfc3339(read), "preread": rfc3339(preread) if preread else "0001-01-01T00:00:00Z",
        "id": c.id, "name": "/" + c.name,
        "pids_stats": {"current": now.pids},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": now.blk_read},
            {"major": 0, "minor": 0, "op": "write", "value": now.blk_write}]},
        "cpu_stats": cpu(now, now_sys), "precpu_stats": cpu(pre, pre_sys),
        "memory_stats": {"usage": now.mem_usage, "limit": now.mem_limit, "stats": {}},
        "networks": {"eth0": {"rx_bytes": now.net_rx, "tx_bytes": now.net_tx, "rx_packets": 0, "tx_packets": 0,
                              "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
    }  # fmt: skip


def stats(call: Call) -> None:
    """GET /containers/{id}/stats?stream=&one-shot=: dockerd's stats JSON,
    one (stream=false) or one a second until the client goes or it stops."""
    from ..runtime.state import lookup
    from ..runtime.stats import sample

    c = lookup(call.store, call.params["id"])
    stream = call.req.flag("stream", True)
    one_shot = call.req.flag("one-shot")
    pre, pre_sys, preread = sample(c), _system_ns(), time.time()
    if not one_shot:
        time.sleep(1.0 if c.state == "running" else 0)
    out = call.req.stream()
    while True:
        c = lookup(call.store, c.id)
        now, now_sys, read = sample(c), _system_ns(), time.time()
        out.json(_stats_doc(c, pre, pre_sys, now, now_sys, read, 0 if one_shot else preread))
        if not stream or c.state != "running" or call.service.stopping.is_set():
            break
        pre, pre_sys, preread = now, now_sys, read
        time.sleep(1.0)
        if call.req.conn.gone():
            return
    out.close()


def export(call: Call) -> None:
    """GET /containers/{id}/export: the container's filesystem as a tar."""
    from ..runtime.export import export as do_export
    from ..runtime.state import lookup
    from .images import _ChunkFile

    lookup(call.store, call.params["id"])  # a 404 before the stream
    f = _ChunkFile(call)
    do_export(call.store, call.params["id"], f)  # type: ignore[arg-type]
    f.end()


def update(call: Call) -> dict[str, Any]:
    """POST /containers/{id}/update {Memory, NanoCpus, PidsLimit, RestartPolicy}."""
    from ..runtime.cgroups import Limits, parse_bytes
    from ..runtime.containers import update as do_update

    doc = call.req.json()
    if not isinstance(doc, dict):
        raise HTTPError(400, "the body must be a JSON object")
    known = {"Memory", "NanoCpus", "PidsLimit", "RestartPolicy", "MemorySwap", "CpuShares"}
    given = {k for k, v in doc.items() if v not in (None, 0, "", {}, [])}
    if given - known:
        raise HTTPError(
            400, f"ketch's update takes Memory, NanoCpus and PidsLimit: not {', '.join(sorted(given - known))}"
        )
    if doc.get("RestartPolicy") and (doc["RestartPolicy"].get("Name") or "no") != "no":
        raise HTTPError(400, "changing a restart policy with update is not supported yet")
    memory, nano, pids = _int(doc, "Memory"), _int(doc, "NanoCpus"), _int(doc, "PidsLimit")
    try:
        limits = Limits(parse_bytes(str(memory)) if memory else None, nano / NS if nano else None,
                        pids if pids and pids > 0 else None)  # fmt: skip
    except Exception as e:
        raise HTTPError(400, str(e)) from None
    do_update(call.store, call.params["id"], limits)
    return {"Warnings": []}


# -- archive (docker cp) --------------------------------------------------------------

MAX_ARCHIVE_UPLOAD = 64 << 30


def _go_mode(st: os.stat_result) -> int:
    """A file's mode as Go's os.FileMode (what X-Docker-Container-Path-Stat carries)."""
    import stat as s

    m = st.st_mode & 0o777
    kinds = ((s.S_ISDIR, 1 << 31), (s.S_ISLNK, 1 << 27), (s.S_ISFIFO, 1 << 25), (s.S_ISSOCK, 1 << 24),
             (s.S_ISBLK, 1 << 26), (s.S_ISCHR, (1 << 26) | (1 << 21)))  # fmt: skip
    for test, bit in kinds:
        if test(st.st_mode):
            m |= bit
    if st.st_mode & s.S_ISUID:
        m |= 1 << 23
    if st.st_mode & s.S_ISGID:
        m |= 1 << 22
    if st.st_mode & s.S_ISVTX:
        m |= 1 << 20
    return m


def _archive_target(call: Call) -> tuple[str, dict[str, Any], str]:
    """The `path` query as given, the container as Rust's cp reaches it, and the path made absolute."""
    from ..runtime import cp
    from ..runtime.state import lookup

    path = call.req.arg("path") or ""
    if not path:
        raise HTTPError(400, "a path is required")
    target = cp._target(call.store, lookup(call.store, call.params["id"]))
    return path, target, path if path.startswith("/") else "/" + path


def _copied_out(call: Call) -> tuple[Any, str, Any]:
    """The `path` query's file or directory copied out of the container
    (Rust's cp, every path resolved inside it) into a directory of the
    store's own: (that directory, the entry's name, its lstat)."""
    import tempfile

    from .. import _native
    from ..runtime import cp

    path, target, full = _archive_target(call)
    base = cp._base(full)
    if _native.cp_stat(target, base) is None:
        raise HTTPError(404, f"Could not find the file {path} in container {call.params['id']}")
    name = os.path.basename(base.rstrip("/")) or "/"
    tmp = tempfile.mkdtemp(prefix="api-cp-", dir=call.store.root)
    try:
        _native.cp_out(target, base, name if name != "/" else "root", tmp)
    except (ValueError, OSError) as e:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise HTTPError(500, f"copying {path[:200]} out of the container: {e}") from None
    name = name if name != "/" else "root"
    return tmp, name, os.lstat(os.path.join(tmp, name))


def _path_stat(name: str, st: os.stat_result, link: str) -> str:
    import base64
    import json

    from ..models.ids import rfc3339

    doc = {"name": name, "size": st.st_size, "mode": _go_mode(st), "mtime": rfc3339(st.st_mtime), "linkTarget": link}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def archive_get(call: Call) -> None:
    """GET/HEAD /containers/{id}/archive?path=: a tar of the path (HEAD: its
    stat alone), the stat in X-Docker-Container-Path-Stat."""
    import shutil
    import tarfile

    tmp, name, st = _copied_out(call)
    try:
        full = os.path.join(tmp, name)
        link = os.readlink(full) if os.path.islink(full) else ""
        header = {"X-Docker-Container-Path-Stat": _path_stat(name, st, link)}
        if call.req.method == "HEAD":
            call.req.send(200, b"", "application/x-tar", **header)
            return
        from .images import _ChunkFile

        f = _ChunkFile(call, headers=header)
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
            tf.add(full, arcname=name, recursive=True)  # symlinks as symlinks (no dereference)
        f.end()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def archive_put(call: Call) -> None:
    """PUT /containers/{id}/archive?path=DIR: the body's tar unpacked (by the
    Rust extractor, confined to a directory of the store's own) and copied
    into DIR inside the container (Rust's cp, resolved inside it)."""
    import shutil
    import tempfile

    from .. import _native
    from ..errors import KetchError

    path, target, full = _archive_target(call)
    if _native.cp_stat(target, full.rstrip("/") or "/", follow=True) != "dir":
        raise HTTPError(404, f"Could not find the file {path} in container {call.params['id']}: not a directory")
    tmp = tempfile.mkdtemp(prefix="api-cp-", dir=call.store.root)
    try:
        tar = os.path.join(tmp, "upload.tar")
        with open(tar, "wb") as f:
            for piece in call.req.chunks(MAX_ARCHIVE_UPLOAD):
                f.write(piece)
        tree = os.path.join(tmp, "tree")
        os.mkdir(tree, 0o700)
        fd = os.open(tar, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _native.extract_tar_fd(fd, tree)
        except (OSError, ValueError, KetchError) as e:
            raise HTTPError(400, f"the archive could not be read: {e}") from None
        for entry in sorted(os.listdir(tree)):
            try:
                _native.cp_in(target, os.path.join(tree, entry), entry, full.rstrip("/") or "/")
            except (ValueError, OSError) as e:
                raise HTTPError(500, f"copying {entry[:200]} into the container: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    call.req.send(200, b"", "application/json")


ROUTES = [
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/wait", wait),
    ("GET", "/containers/{id}/logs", logs),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/changes", changes),
    ("GET", "/containers/{id}/archive", archive_get),
    ("GET", "/containers/{id}/stats", stats),
    ("GET", "/containers/{id}/export", export),
    ("POST", "/containers/{id}/update", update),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("DELETE", "/containers/{id}", delete),
]
