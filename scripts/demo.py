"""The quick start's main job: start Debian's docker-registry on 127.0.0.1,
put a busybox image made offline in it, then `ketch pull` and `ketch images`."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.imagekit import build, busybox_entries, tar_bytes  # noqa: E402
from support.registry import start_registry, stop_registry  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ketch-demo-") as tmp:
        reg = start_registry(Path(tmp))
        try:
            image = f"{reg.addr}/lab/busybox:latest"
            reg.client.push("lab/busybox", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
            print(f"$ ketch pull {image}", flush=True)
            subprocess.run([KETCH, "pull", image], check=True)
            print("$ ketch images", flush=True)
            subprocess.run([KETCH, "images"], check=True)
        finally:
            stop_registry(reg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
