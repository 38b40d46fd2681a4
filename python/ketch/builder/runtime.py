"""The builder's one door into the runtime: a RUN step's container
(create, run with its output passed on, its changes as a layer, remove)
and the image records a step makes. Only public runtime functions are
called, and only from here; the rest of the builder does not import
ketch.runtime."""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing's import is ~3 ms of every command; type checkers read this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..store import Store
    from ..store.images import LayerBlob as Layer

    Output = Callable[[bytes, int], None]  # data, stream (1 stdout, 2 stderr)


def scratch_config() -> dict[str, Any]:
    from ..runtime.commit import scratch_config as config

    return config()


def record_image(
    store: Store,
    parent_id: str | None,
    parent: dict[str, Any],
    layer: Layer | None,
    config_part: dict[str, Any],
    history: dict[str, Any],
    author: str = "",
) -> str:
    """A new image on `parent_id`: `parent` (an image config; scratch_config()
    for none) plus `layer` (None adds none), with `config_part` as its "config"."""
    from ..store.images import create_image

    layers = [layer] if layer is not None else []
    return create_image(
        store, config_part, layers, parent=parent_id, parent_config=parent, history=history, author=author
    )


def write_layer(store: Store, upper: Path) -> Layer:
    """A directory in overlay upper-dir form as a layer blob in the store."""
    from ..runtime.commit import write_layer_blob

    return write_layer_blob(store, upper)


def resolve_user(user: str, lowerdirs: list[Path]) -> tuple[int, int, list[int]]:
    """`user[:group]` as uid, gid, groups, from the image's own /etc/passwd and /etc/group."""
    from ..runtime.spec import resolve_user as resolve

    return resolve(user, lowerdirs)


class Container:
    """A RUN step's container: made on `image_id`, its entrypoint cleared."""

    def __init__(
        self, store: Store, image_id: str, argv: list[str], network: str, env: list[str], workdir: str | None
    ) -> None:
        from ..runtime.containers import create
        from ..runtime.spec import Options

        self.store = store
        opts = Options(entrypoint="", network=network, env=env, workdir=workdir)
        self._c = create(store, image_id, argv, opts)
        self.id = self._c.id

    def run(self, output: Output) -> int:
        """Starts it and waits for it (signals forwarded), passing what it
        writes to `output` as it comes; returns its exit code."""
        from ..runtime.process import start, wait
        from ..runtime.stdio import Pipes

        io = Pipes(sink=output)
        try:
            pid, _ = start(self.store, self._c, io=io)
            return wait(self.store, self._c, pid, io)
        finally:
            io.close()

    def layer(self) -> Layer:
        """Its changes (its upper dir) as a layer blob."""
        from ..runtime.state import container_dir

        upper = container_dir(self.store, self.id) / "upper"
        return write_layer(self.store, upper)

    def remove(self) -> None:
        from ..runtime.containers import remove

        remove(self.store, self.id, force=True, volumes_too=True)
