"""The environment's say in networking, read when used (never at import),
so that a test or an embedding program can change it between calls; the
one place to route through ketch's Settings."""

from __future__ import annotations

import os
from typing import NamedTuple


class NetworkSettings(NamedTuple):
    bridge_prefix: str  # bridges are <prefix>0, <prefix>1, ...
    chain_prefix: str  # iptables chains <prefix>-FORWARD, -DNAT, -POSTROUTING
    no_ipv6: bool  # no [::] side for ports published on 0.0.0.0


def settings() -> NetworkSettings:
    """KETCH_BRIDGE_PREFIX, KETCH_CHAIN_PREFIX and KETCH_NO_IPV6, as they are now."""
    return NetworkSettings(
        bridge_prefix=os.environ.get("KETCH_BRIDGE_PREFIX", "ketch"),
        chain_prefix=os.environ.get("KETCH_CHAIN_PREFIX", "KETCH"),
        no_ipv6=bool(os.environ.get("KETCH_NO_IPV6")),
    )
