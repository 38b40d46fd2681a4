"""Ports on 127.0.0.1 for servers a test starts; the networks a test made, removed."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ketch import Ketch


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    """Until something listens on 127.0.0.1:port (a server just started)."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def remove_networks(ketch: Ketch, bridges: str, chains: str) -> None:
    """After a test whose networks were bridges named `bridges`... with
    firewall chains `chains`...: its containers and networks removed (the
    default bridge last), and nothing of them left on the host."""
    import subprocess
    import sys
    from pathlib import Path

    for cid in ketch("ps", "-a", "-q").out.split():
        ketch("rm", "-f", cid)
    code = (
        "from ketch.store import Store\nfrom ketch.network import DEFAULT, networks as n\n"
        f"s = Store({str(ketch.root)!r})\n"
        "for net in sorted(n.list_networks(s), key=lambda x: x.name == DEFAULT):\n"
        "    n.teardown(s, net.name)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=ketch.env, check=True)
    assert not [p for p in Path("/sys/class/net").iterdir() if p.name.startswith(bridges)]
    assert chains not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
