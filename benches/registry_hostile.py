"""A bounded load test of `ketch registry serve` against hostile clients,
all on 127.0.0.1: while slow clients drip their heads (slowloris), others
hold idle connections, announce oversized bodies anonymously and send
oversized heads, one well-behaved client keeps pulling a blob; its
latency is printed for the quiet phase and for the attack, with what the
server answered the attackers and its peak memory.

    .venv/bin/python benches/registry_hostile.py [--seconds 20] [--slow 300] [--idle 300]

Everything is bounded: the counts are capped, the attack stops after
--seconds, the server (started here, on a free port) is stopped by its pid.
The attackers run in a child process of their own (this script with
--attack), so that the good client's figures are not those of a busy
event loop in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KETCH = str(Path(sys.executable).parent / "ketch")
HOST = "127.0.0.1"  # and nothing else


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) << 10
    return 0


def pull(port: int, path: str, size: int) -> float:
    t = time.perf_counter()
    c = http.client.HTTPConnection(HOST, port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    got = 0
    while chunk := r.read(1 << 20):
        got += len(chunk)
    c.close()
    if r.status != 200 or got != size:
        raise RuntimeError(f"pull answered {r.status} with {got} bytes")
    return time.perf_counter() - t


def cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def figures(lat: list[float]) -> str:
    if not lat:
        return "no pulls"
    ms = sorted(x * 1000 for x in lat)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{len(ms)} pulls, median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"


# -- the attackers (a child process) -------------------------------------------------


async def attack(port: int, seconds: float, slow: int, idle: int, big: int, heads: int) -> dict[str, int]:
    stats = {"slow_closed": 0, "idle_closed": 0, "big_401": 0, "big_other": 0, "head_431": 0, "refused": 0}
    end = asyncio.get_running_loop().time() + seconds
    loop = asyncio.get_running_loop()

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection(HOST, port)
        except OSError:
            stats["refused"] += 1
            await asyncio.sleep(0.2)
            return None

    async def answer(r: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(r.readline(), max(0.1, end - loop.time()))
        except (TimeoutError, OSError):
            return b""

    async def slowloris() -> None:
        while loop.time() < end:
            c = await connect()
            if c is None:
                continue
            r, w = c
            closed = False
            try:
                w.write(f"GET /v2/ HTTP/1.1\r\nHost: {HOST}\r\n".encode())
                while loop.time() < end and not closed:
                    try:  # a field a second; whatever comes back (a 408, the end) means it was let go
                        closed = await asyncio.wait_for(r.read(1 << 12), 1.0) is not None
                    except TimeoutError:
                        w.write(b"X-Drip: 1\r\n")
                        await w.drain()
            except OSError:
                closed = True
            finally:
                w.close()
            stats["slow_closed"] += closed

    async def idler() -> None:
        while loop.time() < end:
            c = await connect()
            if c is None:
                continue
            r, w = c
            try:
                if await asyncio.wait_for(r.read(1), max(0.1, end - loop.time())) == b"":
                    stats["idle_closed"] += 1
            except (TimeoutError, OSError):
                pass
            finally:
                w.close()

    async def oversized() -> None:
        chunk = b"\0" * (1 << 20)
        digest = "sha256:" + "0" * 64
        while loop.time() < end:
            c = await connect()
            if c is None:
                continue
            r, w = c
            line = asyncio.ensure_future(answer(r))  # read while sending, as curl does
            try:
                w.write(
                    f"POST /v2/pub/blob/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {HOST}\r\n"
                    f"Content-Length: {8 << 30}\r\n\r\n".encode()
                )
                # the body goes on regardless, as a client that does not listen would send it
                for _ in range(256):
                    w.write(chunk)
                    await asyncio.wait_for(w.drain(), 5)
            except (OSError, TimeoutError):
                pass
            stats["big_401" if (await line).startswith(b"HTTP/1.1 401") else "big_other"] += 1
            w.close()
            await asyncio.sleep(0.05)  # paced as the head attackers are: the attack is not this process's CPU

    async def oversized_head() -> None:
        while loop.time() < end:
            c = await connect()
            if c is None:
                continue
            r, w = c
            try:
                w.write(f"GET /v2/ HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * (200 << 10)}\r\n\r\n".encode())
                await w.drain()
            except OSError:
                pass
            if (await answer(r)).startswith(b"HTTP/1.1 431"):
                stats["head_431"] += 1
            w.close()
            await asyncio.sleep(0.05)

    tasks = [slowloris() for _ in range(slow)] + [idler() for _ in range(idle)]
    tasks += [oversized() for _ in range(big)] + [oversized_head() for _ in range(heads)]
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), seconds + 15)
    return stats


# -- the run -----------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the attack (at most 120)")
    ap.add_argument("--slow", type=int, default=300, help="slowloris clients (at most 600)")
    ap.add_argument("--idle", type=int, default=300, help="idle connections held (at most 600)")
    ap.add_argument("--big", type=int, default=4, help="clients sending oversized anonymous bodies (at most 16)")
    ap.add_argument("--heads", type=int, default=4, help="clients sending oversized heads (at most 16)")
    ap.add_argument("--mb", type=int, default=16, help="size of the blob the good client pulls (at most 256)")
    ap.add_argument("--timeout", type=float, default=5.0, help="the server's --timeout")
    ap.add_argument("--old", action="store_true", help="the server has no --timeout (a ketch before issue 10)")
    ap.add_argument("--attack", type=int, help=argparse.SUPPRESS)  # the child: the port to attack
    args = ap.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    args.slow, args.idle = min(args.slow, 600), min(args.idle, 600)
    args.big, args.heads, args.mb = min(args.big, 16), min(args.heads, 16), min(max(args.mb, 1), 256)
    if args.attack is not None:
        stats = asyncio.run(attack(args.attack, args.seconds, args.slow, args.idle, args.big, args.heads))
        print(json.dumps(stats))
        return

    import bcrypt

    with tempfile.TemporaryDirectory(prefix="ketch-bench-hostile-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "htpasswd").write_text(f"alice:{bcrypt.hashpw(b'a-pw', bcrypt.gensalt(10)).decode()}\n")
        (tmpd / "access.json").write_text(json.dumps({"repositories": {"pub/*": {"pull": ["*"], "push": ["alice"]}}}))
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [KETCH, "registry", "serve", "--addr", f"{HOST}:{port}", "--root", str(tmpd / "reg"),
             "--htpasswd", str(tmpd / "htpasswd"), "--access", str(tmpd / "access.json"),
             *([] if args.old else ["--timeout", str(args.timeout)])],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        attacker = None
        try:
            for _ in range(200):
                try:
                    socket.create_connection((HOST, port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            data = os.urandom(args.mb << 20)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            c = http.client.HTTPConnection(HOST, port, timeout=30)
            auth = {"Authorization": "Basic " + base64.b64encode(b"alice:a-pw").decode()}
            c.request("POST", f"/v2/pub/blob/blobs/uploads/?digest={digest}", body=data, headers=auth)
            assert c.getresponse().status == 201
            c.close()
            path = f"/v2/pub/blob/blobs/{digest}"
            quiet = [pull(port, path, len(data)) for _ in range(20)]
            rss0, hwm0, cpu0 = vm(server.pid, "VmRSS"), vm(server.pid, "VmHWM"), cpu(server.pid)
            attacker = subprocess.Popen(
                [sys.executable, __file__, "--attack", str(port), "--seconds", str(args.seconds),
                 "--slow", str(args.slow), "--idle", str(args.idle), "--big", str(args.big),
                 "--heads", str(args.heads)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(min(3.0, args.seconds / 4))  # the attackers connect
            loud: list[float] = []
            errors: list[str] = []
            end = time.monotonic() + args.seconds - min(3.0, args.seconds / 4) - 0.5
            while time.monotonic() < end:
                try:
                    loud.append(pull(port, path, len(data)))
                except (OSError, RuntimeError) as e:
                    errors.append(repr(e))
                time.sleep(0.05)
            out, _ = attacker.communicate(timeout=args.seconds + 30)
            used = os.times()
            attack_cpu = used.children_user + used.children_system
            stats = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            hwm1, cpu1 = vm(server.pid, "VmHWM"), cpu(server.pid)
        finally:
            if attacker is not None and attacker.poll() is None:
                attacker.kill()
                attacker.wait()
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    limit = "none" if args.old else f"{args.timeout:g} s"
    print(f"server --timeout {limit}; attack {args.seconds:g} s: {args.slow} slowloris, {args.idle} idle, "
          f"{args.big} oversized bodies (8 GiB announced, anonymous), {args.heads} oversized heads")  # fmt: skip
    print(f"good client, {args.mb} MiB blob, quiet:       {figures(quiet)}")
    print(f"good client, {args.mb} MiB blob, under attack: {figures(loud)}; {len(errors)} failed")
    for e in errors[:3]:
        print(f"  failure: {e}")
    print(f"attackers (CPU {attack_cpu:.1f} s): {json.dumps(stats)}")
    print(f"server: RSS {rss0 >> 20} MiB before the attack, peak {hwm0 >> 20} -> {hwm1 >> 20} MiB; "
          f"CPU {cpu1 - cpu0:.1f} s during the attack")  # fmt: skip


if __name__ == "__main__":
    main()
