"""The environment's say in networking (KETCH_BRIDGE_PREFIX, KETCH_CHAIN_PREFIX,
KETCH_NO_IPV6: see ketch.config), read when used, never at import, so that a
test or an embedding program can change it between calls. The network code
is not handed a store, hence not the store's Settings: it asks here."""

from __future__ import annotations

from ..config import Settings


def settings() -> Settings:
    """The settings as the environment has them now (a Settings reads lazily: cheap)."""
    return Settings()
