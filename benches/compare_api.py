"""What the Engine API socket adds: the same docker commands through
`ketch system service` and through dockerd, and the same work by ketch's
own CLI, on one busybox image from one local registry, interleaved round
by round (see compare_run.py's `interleaved`).

    DOCKER_HOST=unix:///run/ketch-bench/docker.sock .venv/bin/python benches/compare_api.py [--runs N]

Timed: `docker run --rm --net=none IMAGE true`, `docker ps`, `docker pull
IMAGE` of an image already there (the manifest asked for and compared),
and `docker rmi` + `docker pull` (the whole image again), each through
ketch's socket, through dockerd (whatever DOCKER_HOST answers; skipped
when none does) and as `ketch run`/`ketch ps`/`ketch pull`. The docker
client is the static docker CLI 28 (/usr/local/bin/docker). The service
is started once and warmed by one untimed round, as a socket-activated
one is after its first request. Each figure is the median of N runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from compare_run import Cmd, interleaved, works  # noqa: E402

from support.imagekit import build, busybox_entries, tar_bytes  # noqa: E402
from support.registry import start_registry, stop_registry  # noqa: E402

KETCH = str(Path(sys.executable).parent / "ketch")
DOCKER = "/usr/local/bin/docker"


def _serve(env: dict[str, str], sock: Path) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([KETCH, "system", "service", "--socket", str(sock)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not sock.exists():
        time.sleep(0.05)
    if not sock.exists():
        p.kill()
        raise SystemExit("the service did not listen")
    return p


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    dockerd_env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="ketch-api-bench-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "registry").mkdir()
        reg = start_registry(tmpd / "registry")
        env = {**os.environ, "KETCH_ROOT": str(tmpd / "store"), "KETCH_RUN_ROOT": str(tmpd / "run"),
               "KETCH_DEFAULT_NETWORK": "none"}  # fmt: skip
        sock = tmpd / "docker.sock"
        via_ketch = {k: v for k, v in env.items() if not k.startswith("DOCKER_")}
        via_ketch.update({"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmpd / "docker-config")})
        service = None
        cleanup: list[list[str]] = []
        try:
            reg.client.push("bench/busybox", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
            name = f"{reg.addr}/bench/busybox:latest"
            subprocess.run([KETCH, "pull", "-q", name], check=True, env=env, stdout=subprocess.DEVNULL)
            service = _serve(env, sock)
            cmds: dict[str, Cmd] = {
                "docker run --rm, ketch's socket": ([DOCKER, "run", "--rm", "--net=none", name, "true"], via_ketch),
                "ketch run --rm (the CLI)": ([KETCH, "run", "--rm", "--network", "none", name, "true"], env),
                "docker ps, ketch's socket": ([DOCKER, "ps"], via_ketch),
                "ketch ps (the CLI)": ([KETCH, "ps"], env),
                "docker pull (up to date), ketch's socket": ([DOCKER, "pull", "-q", name], via_ketch),
                "ketch pull (up to date, the CLI)": ([KETCH, "pull", "-q", name], env),
            }
            cycle_ketch = ["sh", "-c", f"{DOCKER} rmi -f {name} >/dev/null && {DOCKER} pull -q {name}"]
            cmds["docker rmi + pull, ketch's socket"] = (cycle_ketch, via_ketch)
            have_dockerd = subprocess.run([DOCKER, "info"], capture_output=True, env=dockerd_env).returncode == 0
            if have_dockerd:
                subprocess.run([DOCKER, "pull", "-q", name], check=True, env=dockerd_env, stdout=subprocess.DEVNULL)
                cleanup.append([DOCKER, "rmi", name])  # by name: untagged, never by id
                run = [DOCKER, "run", "--rm", "--net=none", name, "true"]
                if works("docker run via dockerd", run, dockerd_env):
                    cmds["docker run --rm, dockerd"] = (run, dockerd_env)
                cmds["docker ps, dockerd"] = ([DOCKER, "ps"], dockerd_env)
                cmds["docker pull (up to date), dockerd"] = ([DOCKER, "pull", "-q", name], dockerd_env)
                cmds["docker rmi + pull, dockerd"] = (cycle_ketch, dockerd_env)
            else:
                print("dockerd: skipped, none answers at DOCKER_HOST")
            for label, (cmd, cenv) in list(cmds.items()):  # one untimed round: the service's imports, caches
                if not works(label, cmd, cenv):
                    del cmds[label]
            results = interleaved(cmds, args.runs)
        finally:
            for c in cleanup:
                subprocess.run(c, capture_output=True, env=dockerd_env)
            if service is not None:
                service.terminate()
                service.wait(10)
            stop_registry(reg)
            left = subprocess.run([KETCH, "ps", "-aq"], capture_output=True, text=True, env=env).stdout.split()
            if left:
                subprocess.run([KETCH, "rm", "-f", *left], capture_output=True, env=env)
    width = max(len(k) for k in results)
    print(f"{'command':<{width}}  median")
    for k, v in results.items():
        print(f"{k:<{width}}  {v * 1000:7.1f} ms")
    for what in ("docker run --rm", "docker ps", "docker pull (up to date)", "docker rmi + pull"):
        ours, theirs = results.get(f"{what}, ketch's socket"), results.get(f"{what}, dockerd")
        if ours and theirs:
            print(f"{what}: ketch's socket {ours / theirs:.2f}x dockerd")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
