"""`ketch system boot` (issue 12's restart policies): its command, kept in
a module of its own so that it merges into the `system` group wherever that
group lives (`register(group)`). Until then this module makes the group."""

from typing import Any

from ._shared import error, group, out, store, subcommand


def register(system: Any) -> None:
    """Adds `boot` to the `system` group `system`."""

    @subcommand(system, "boot")
    def system_boot() -> int:
        """Start the containers whose restart policy brings them back after a reboot"""
        from ..runtime.boot import boot

        rc = 0
        for b in boot(store()):
            if b.error:
                error(f"Error: {b.name}: {b.error}")
                rc = 1
            else:
                out(b.name)
        return rc


system = group("system", "Manage ketch")
register(system)
