"""ketch: a Docker-compatible container engine.

The CLI is a thin layer over this library: everything `ketch` does,
`import ketch` can do (`ketch.store.Store`, `ketch.registry.pull.pull`, ...).
Submodules are imported lazily so that the CLI starts fast.
"""

__version__ = "0.1.0"
