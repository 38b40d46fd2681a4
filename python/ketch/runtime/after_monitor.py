"""`python -S -E .../ketch/runtime/after_monitor.py ROOT ID [--network] [--rm]`:
what is left once a detached container has ended, exec'd by its monitor
(the ketch-monitor program, MonitorConfig.after): its end recorded (the die
event, with its exit code), the bridge's address,
ports and rules (--network), the container itself (--rm)."""

import os
import sys


def main(argv: list[str]) -> None:
    root, cid, flags = argv[0], argv[1], set(argv[2:])
    from ketch.store import Store

    store = Store(root)
    from ketch.errors import KetchError
    from ketch.runtime.state import lookup

    try:
        lookup(store, cid)  # its end recorded as its monitor wrote it: its die event
    except KetchError:
        pass
    if "--network" in flags:
        from ketch.network.endpoints import detach

        detach(store, cid)
    if "--rm" in flags:
        from ketch.runtime.containers import remove

        remove(store, cid, force=True, volumes_too=True)


if __name__ == "__main__":
    # Run by path: sys.path[0] is this directory, whose modules (tty.py)
    # would shadow the standard library's; the package's root replaces it.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1:])
