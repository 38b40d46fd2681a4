"""System routes: /_ping, /version, /info."""

from __future__ import annotations

import os
import platform
from typing import Any

from .http import API_VERSION, MIN_API_VERSION
from .router import Call


def ping(call: Call) -> None:
    """GET and HEAD /_ping: "OK" and the headers clients negotiate with
    (Builder-Version 1: the legacy builder; without it the CLI tries BuildKit's /session)."""
    call.req.send(
        200,
        b"OK",
        "text/plain; charset=utf-8",
        **{"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"},
    )


def _arch() -> str:
    from ..models.ids import host_arch

    return host_arch()


def version_doc() -> dict[str, Any]:
    from .. import __version__

    kernel = platform.release()
    return {
        "Platform": {"Name": "ketch"},
        "Components": [
            {"Name": "Engine", "Version": __version__, "Details": {
                "ApiVersion": API_VERSION, "Arch": _arch(), "BuildTime": "", "Experimental": "false",
                "GitCommit": "", "GoVersion": "python" + platform.python_version(), "KernelVersion": kernel,
                "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}},
        ],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "python" + platform.python_version(),
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": kernel,
        "BuildTime": "",
    }  # fmt: skip


def version(call: Call) -> dict[str, Any]:
    return version_doc()


def info(call: Call) -> dict[str, Any]:
    from .. import __version__
    from ..runtime.system import info as get_info

    i = get_info(call.store, __version__)
    return {
        "ID": _engine_id(call), "Containers": i.containers, "ContainersRunning": i.running,
        "ContainersPaused": i.paused, "ContainersStopped": i.stopped, "Images": i.images,
        "Driver": i.storage_driver, "DriverStatus": [["Backing Filesystem", i.backing_filesystem],
        ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"],
        ["userxattr", "false"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True,
        "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True, "Debug": False, "NFd": _nfd(),
        "OomKillDisable": False, "NGoroutines": 0, "SystemTime": _now(), "LoggingDriver": "json-file",
        "CgroupDriver": i.cgroup_driver, "CgroupVersion": str(i.cgroup_version), "NEventsListener": 0,
        "KernelVersion": i.kernel, "OperatingSystem": i.operating_system, "OSVersion": "", "OSType": "linux",
        "Architecture": i.architecture, "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames": None,
                           "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": i.cpus, "MemTotal": i.memory, "GenericResources": None, "DockerRootDir": i.root,
        "HttpProxy": os.environ.get("HTTP_PROXY", ""), "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
        "NoProxy": os.environ.get("NO_PROXY", ""), "Name": i.name, "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": __version__, "Runtimes": {"ketch": {"path": i.monitor or ""}}, "DefaultRuntime": "ketch",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "ketch-monitor",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": [] if i.monitor else [i.monitor_problem],
    }  # fmt: skip


def _engine_id(call: Call) -> str:
    """A stable identity of this store (docker's engine ID)."""
    import hashlib

    return hashlib.sha256(str(call.store.root.resolve()).encode()).hexdigest()[:36]


def _nfd() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _now() -> str:
    import time

    from ..models.ids import rfc3339

    return rfc3339(time.time())


def events(call: Call) -> None:
    """GET /events?since=&until=&filters=: the past ones asked for, then
    those to come (chunked, a JSON message each) until `until` or the
    client goes; docker's Type, Action, Actor, and the old status/id/from."""
    import time

    from ..store import events as ev
    from .http import HTTPError
    from .util import filter_list

    now = time.time()
    try:
        since = ev.parse_time(call.req.arg("since") or "", now, "since") if call.req.arg("since") else None
        until = ev.parse_time(call.req.arg("until") or "", now, "until") if call.req.arg("until") else None
        wanted = ev.parse_filters(filter_list(call.req))
    except Exception as bad:
        raise HTTPError(400, str(bad)) from None
    follow = ev.follow(call.store)
    next(follow)  # the position from now on is taken before the past is read: nothing falls between
    out = call.req.stream()
    if since is not None or until is not None:
        for e in ev.past(call.store):
            if e.time_nano > now * 1e9:
                break
            if (since is None or e.time >= since) and (until is None or e.time <= until) and ev.matches(e, wanted):
                out.json(e.document())
    if until is None or until > now:
        for new in follow:
            if call.service.stopping.is_set() or (until is not None and time.time() > until):
                break
            if new is None:
                if call.req.conn.gone():
                    return
                continue
            if until is not None and new.time > until:
                break
            if ev.matches(new, wanted):
                out.json(new.document())
    out.close()


def df(call: Call) -> dict[str, Any]:
    """GET /system/df: what docker's `system df` adds up (images, containers
    with their sizes, volumes with their usage, the build cache)."""
    from ..runtime import volumes as vols
    from ..runtime.state import disk_size, list_containers
    from ..store.images import layer_chain, list_images
    from . import containers, images

    cs = list_containers(call.store)
    users: dict[str, int] = {}
    for c in cs:
        users[c.image_id] = users.get(c.image_id, 0) + 1
    layers: set[str] = set()
    image_docs = []
    from ..store.inspect import image_rows

    by_id: dict[str, list[Any]] = {}
    for row in image_rows(call.store, None, True):
        by_id.setdefault(row.image.id, []).append(row)
    for img in list_images(call.store):
        layers.update(layer_chain(call.store, img.id))
        doc = images._image_summary(call, img, by_id.get(img.id, []))
        doc["Containers"], doc["SharedSize"] = users.get(img.id, 0), 0
        image_docs.append(doc)
    volume_docs = []
    for v in vols.list_all(call.store):
        doc = v.inspect()
        doc["UsageData"] = {"Size": disk_size(v.mountpoint), "RefCount": len(vols.users(call.store, v.name))}
        volume_docs.append(doc)
    return {
        "LayersSize": sum(call.store.layers.size(ch) for ch in layers),
        "Images": image_docs,
        "Containers": [containers.summary(call, c, size=True) for c in cs],
        "Volumes": volume_docs,
        "BuildCache": [],
        "BuilderSize": 0,
    }


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("GET", "/system/df", df),
]
