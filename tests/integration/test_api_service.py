"""`ketch system service`: the socket, versioning, errors and hostile requests (issue 13's first part)."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

from support.engine import DOCKER28, Engine


def _raw(e: Engine, data: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(e.socket)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_the_socket_is_0660_and_docker_sees_the_engine(engine: Engine) -> None:
    st = os.stat(engine.socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    if os.path.exists(DOCKER28):
        r = engine.docker("version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")
        assert r.rc == 0, r.err
        assert r.out.split() == ["1.44", "1.24", "linux"]
        r = engine.docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Containers}} {{.Driver}}")
        assert r.rc == 0 and r.out.split() == ["inactive", "0", "overlay2"], (r.out, r.err)


def test_ping_and_versions(engine: Engine) -> None:
    for method in ("GET", "HEAD"):
        status, h, body = engine.request(method, "/_ping")
        assert status == 200 and h["api-version"] == "1.44" and h["builder-version"] == "1"
        assert h["ostype"] == "linux" and body == (b"OK" if method == "GET" else b"")
    assert engine.get_json("/v1.24/version")["ApiVersion"] == "1.44"
    assert engine.get_json("/v1.47/version")["MinAPIVersion"] == "1.24"
    status, _, body = engine.request("GET", "/v1.12/version")
    assert status == 400 and "too old" in json.loads(body)["message"]
    status, _, body = engine.request("GET", "/v1.99/version")
    assert status == 400 and "too new" in json.loads(body)["message"]


def test_errors_are_dockerds(engine: Engine) -> None:
    status, _, body = engine.request("GET", "/v1.44/nothing/here")
    assert status == 404 and "message" in json.loads(body)
    status, _, body = engine.request("GET", "/swarm")
    assert status == 503 and "not a swarm manager" in json.loads(body)["message"]
    status, _, body = engine.request("POST", "/session")
    assert status == 404


def test_hostile_requests_get_an_answer_and_the_service_lives(engine: Engine) -> None:
    smuggled = _raw(
        engine,
        b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    assert smuggled.startswith(b"HTTP/1.1 400 ")
    huge = _raw(engine, b"GET /_ping HTTP/1.1\r\n" + b"X-A: " + b"a" * (70 << 10) + b"\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 431 ")
    many = _raw(engine, b"GET /_ping HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n")
    assert many.startswith(b"HTTP/1.1 431 ")
    bad = _raw(engine, b"GET /_ping HTTP/1.1\r\nX-A: a\rb\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ")
    assert engine.request("GET", "/_ping")[0] == 200
    assert engine.proc.poll() is None


def test_idle_connections_cannot_lock_clients_out(engine: Engine) -> None:
    """A client that opens the connection cap's worth of sockets and sends
    nothing (or half a head) keeps no one out: past the cap the connection
    that waited longest for a request is ended, never one being served (an
    /events stream stays open)."""
    import select

    from ketch.api.server import MAX_CONNECTIONS

    events = socket.socket(socket.AF_UNIX)
    events.settimeout(10)
    events.connect(engine.socket)
    events.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert events.recv(4096).startswith(b"HTTP/1.1 200 ")
    idle: list[socket.socket] = []
    try:
        for i in range(MAX_CONNECTIONS + 8):
            s = socket.socket(socket.AF_UNIX)
            s.connect(engine.socket)
            if i % 2:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost")  # a head that never ends
            idle.append(s)
        deadline = time.monotonic() + 20
        while True:  # the service may still be taking the last ones off its backlog
            try:
                assert engine.request("GET", "/_ping")[0] == 200
                break
            except BlockingIOError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        first = idle[0]
        first.settimeout(10)
        assert first.recv(1) == b""  # ended for the newer ones
        p = select.poll()
        p.register(events, select.POLLIN | select.POLLHUP)
        assert p.poll(300) == []  # the stream is neither ended nor sent to
        assert engine.proc.poll() is None
    finally:
        for s in idle:
            s.close()
        events.close()


def test_a_second_service_on_the_same_socket_is_refused(engine: Engine) -> None:
    r = engine.ketch("system", "service", "--socket", engine.socket)
    assert r.rc != 0 and "already listens" in r.err and "Traceback" not in r.err
    assert engine.request("GET", "/_ping")[0] == 200


def test_the_service_removes_its_socket_when_stopped(engine: Engine) -> None:
    from support.engine import stop_engine

    stop_engine(engine)
    assert engine.proc.returncode == 0
    assert not os.path.exists(engine.socket)
