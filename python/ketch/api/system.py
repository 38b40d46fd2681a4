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


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
]
