"""Whether a container's freezer cgroup holds it (`pause`): read by `ps`
for every running container, so kept apart from cgroups.py, with str
paths (no pathlib); cgroups.py freezes and thaws."""

from __future__ import annotations

import os


def is_frozen(cid: str) -> bool:
    """Whether the container's freezer holds it (cgroups._freezer's files, as str
    paths: `ps` asks this of every running container, without pathlib)."""
    from ..config import process_settings

    s = process_settings()
    root, parent = s.cgroup_dir, s.cgroup_parent
    if os.path.exists(os.path.join(root, "cgroup.controllers")):  # is_v2
        path, frozen = os.path.join(root, parent, cid, "cgroup.freeze"), "1"  # joined as Path joins them
    else:
        path, frozen = os.path.join(root, "freezer", parent, cid, "freezer.state"), "FROZEN"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() == frozen
    except (OSError, ValueError):
        return False
