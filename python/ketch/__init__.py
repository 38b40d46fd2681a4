"""ketch: a Docker-compatible container engine, as a library.

`import ketch` gives the engine; the `ketch` command (python/ketch/cli) and,
next, the Docker Engine API socket are two faces over these same calls.
Every call takes the `Store` first (its `Settings` carry --root and every
KETCH_* variable), returns data (dataclasses, docker's inspect documents)
or reports typed events through a callback, and raises the `KetchError`
tree; none prints or reads a terminal.

    import ketch
    store = ketch.Store()
    ketch.ensure_image(store, "127.0.0.1:5000/busybox", "missing", events.append)
    c = ketch.create(store, "127.0.0.1:5000/busybox", ["sh", "-c", "exit 3"])
    ketch.start(store, c.id)
    assert ketch.wait(store, c.id) == 3
    report = ketch.remove_image(store, "127.0.0.1:5000/busybox")  # .untagged, .deleted

Each name below is loaded when first used, so `import ketch` costs nothing
(the CLI's start-up is measured). The table is the library's surface: a
new verb gets its line here and in the TYPE_CHECKING block.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's import is ~3 ms of `ketch ps`; type checkers read this as True

__version__ = "0.1.0"

# name -> "module:attribute"
_ENTRIES = {
    # the store, settings, errors
    "Store": "ketch.store:Store",
    "Settings": "ketch.config:Settings",
    "KetchError": "ketch.errors:KetchError",
    # images
    "pull": "ketch.registry.pull:pull",
    "ensure_image": "ketch.images:ensure_image",
    "push": "ketch.registry.push:push",
    "list_images": "ketch.store.inspect:image_rows",
    "inspect_image": "ketch.store.inspect:image_inspect",
    "history": "ketch.store.inspect:history",
    "tag": "ketch.store.images:tag",
    "remove_image": "ketch.store.images:remove",
    "save": "ketch.store.archive:save_to_file",
    "load": "ketch.store.archive:load",
    "import_image": "ketch.store.importer:import_tarball",
    "search": "ketch.registry.search:search",
    "login": "ketch.registry.login:login",
    "logout": "ketch.registry.login:logout",
    # containers
    "ContainerOptions": "ketch.runtime.spec:Options",
    "create": "ketch.runtime.containers:create",
    "start": "ketch.runtime.launch:start",
    "restart": "ketch.runtime.launch:restart",
    "stop": "ketch.runtime.signals:stop",
    "kill": "ketch.runtime.signals:kill",
    "pause": "ketch.runtime.state:pause",
    "rename": "ketch.runtime.containers:rename",
    "remove": "ketch.runtime.containers:remove",
    "wait": "ketch.runtime.inspect:wait_exit",
    "exec": "ketch.runtime.exec:exec_in",
    "logs": "ketch.runtime.inspect:logs",
    "inspect": "ketch.runtime.inspect:container_inspect",
    "list_containers": "ketch.runtime.listing:select",
    "top": "ketch.runtime.inspect:top",
    "port": "ketch.runtime.inspect:port",
    "diff": "ketch.runtime.commit:diff",
    "commit": "ketch.runtime.commit:commit",
    "copy": "ketch.runtime.cp:copy",
    "boot": "ketch.runtime.boot:boot",  # `system boot`: the restart policies after a reboot
    "stats": "ketch.runtime.stats:collect",
    "attach": "ketch.runtime.attach:attach",
    "export": "ketch.runtime.export:export_to_file",
    "update": "ketch.runtime.containers:update",
    "prune_containers": "ketch.runtime.containers:prune",
    "prune_images": "ketch.store.images:prune",
    "prune_build_cache": "ketch.store.buildcache:prune",
    # the system
    "info": "ketch.runtime.system:info",
    "disk_usage": "ketch.runtime.system:disk_usage",
    "prune_system": "ketch.runtime.system:prune",
    "events": "ketch.store.events:past",
    "follow_events": "ketch.store.events:follow",
    # builds
    "BuildOptions": "ketch.builder.state:Options",
    "build": "ketch.builder.builder:build",
    # networks
    "create_network": "ketch.network.networks:create",
    "list_networks": "ketch.network.networks:summaries",
    "inspect_network": "ketch.network.networks:inspect_document",
    "remove_network": "ketch.network.networks:remove",
    "prune_networks": "ketch.network.networks:prune",
    "connect": "ketch.runtime.launch:connect",
    "disconnect": "ketch.runtime.launch:disconnect",
    # volumes
    "create_volume": "ketch.runtime.volumes:create",
    "list_volumes": "ketch.runtime.volumes:list_all",
    "inspect_volume": "ketch.runtime.volumes:get",
    "remove_volume": "ketch.runtime.volumes:remove",
    "prune_volumes": "ketch.runtime.volumes:prune",
    # the registry server
    "serve_registry": "ketch.registry.server.serve:run",
}

__all__ = ["__version__", *_ENTRIES]


def __getattr__(name: str) -> Any:
    try:
        module, _, attr = _ENTRIES[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'ketch' has no attribute {name!r}") from None
    from importlib import import_module

    value = getattr(import_module(module), attr)
    globals()[name] = value  # the next use is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ENTRIES})


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from .builder.builder import build as build
    from .builder.state import Options as BuildOptions
    from .config import Settings as Settings
    from .errors import KetchError as KetchError
    from .images import ensure_image as ensure_image
    from .network.networks import create as create_network
    from .network.networks import inspect_document as inspect_network
    from .network.networks import prune as prune_networks
    from .network.networks import remove as remove_network
    from .network.networks import summaries as list_networks
    from .registry.login import login as login
    from .registry.login import logout as logout
    from .registry.pull import pull as pull
    from .registry.push import push as push
    from .registry.search import search as search
    from .registry.server.serve import run as serve_registry
    from .runtime.attach import attach as attach
    from .runtime.boot import boot as boot
    from .runtime.commit import commit as commit
    from .runtime.commit import diff as diff
    from .runtime.containers import create as create
    from .runtime.containers import prune as prune_containers
    from .runtime.containers import remove as remove
    from .runtime.containers import rename as rename
    from .runtime.containers import update as update
    from .runtime.cp import copy as copy
    from .runtime.exec import exec_in as exec
    from .runtime.export import export_to_file as export
    from .runtime.inspect import container_inspect as inspect
    from .runtime.inspect import logs as logs
    from .runtime.inspect import port as port
    from .runtime.inspect import top as top
    from .runtime.inspect import wait_exit as wait
    from .runtime.launch import connect as connect
    from .runtime.launch import disconnect as disconnect
    from .runtime.launch import restart as restart
    from .runtime.launch import start as start
    from .runtime.listing import select as list_containers
    from .runtime.signals import kill as kill
    from .runtime.signals import stop as stop
    from .runtime.spec import Options as ContainerOptions
    from .runtime.state import pause as pause
    from .runtime.stats import collect as stats
    from .runtime.system import disk_usage as disk_usage
    from .runtime.system import info as info
    from .runtime.system import prune as prune_system
    from .runtime.volumes import create as create_volume
    from .runtime.volumes import get as inspect_volume
    from .runtime.volumes import list_all as list_volumes
    from .runtime.volumes import prune as prune_volumes
    from .runtime.volumes import remove as remove_volume
    from .store import Store as Store
    from .store.archive import load as load
    from .store.archive import save_to_file as save
    from .store.buildcache import prune as prune_build_cache
    from .store.events import follow as follow_events
    from .store.events import past as events
    from .store.images import prune as prune_images
    from .store.images import remove as remove_image
    from .store.images import tag as tag
    from .store.importer import import_tarball as import_image
    from .store.inspect import history as history
    from .store.inspect import image_inspect as inspect_image
    from .store.inspect import image_rows as list_images

if TYPE_CHECKING:  # `__getattr__`'s
    from typing import Any
