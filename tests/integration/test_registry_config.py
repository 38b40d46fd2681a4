"""The files docker and podman users already have, honoured by `ketch pull`
against real registries on 127.0.0.1 (`ketch registry serve`): mirrors from
registries.conf and daemon.json, credential helpers, certs.d TLS, a proxy,
bearer tokens that run out mid-pull. Every path is the test's own
(KETCH_REGISTRIES_CONF, KETCH_DAEMON_JSON, KETCH_CERTS_DIRS): the host's /etc
is never read or written."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imagekit import Entry, Image, Registry, build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.pki import self_signed
from support.registry import serve_ketch, stop_served

pytestmark = requires_root


def isolated(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a pull that reads only this test's files."""
    return {
        "KETCH_REGISTRIES_CONF": str(tmp_path / "registries.conf"),
        "KETCH_DAEMON_JSON": str(tmp_path / "daemon.json"),
        "KETCH_CERTS_DIRS": str(tmp_path / "certs.d"),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "REGISTRY_AUTH_FILE": "",
        "XDG_RUNTIME_DIR": str(tmp_path / "xdg"),
        "HTTP_PROXY": "",
        "HTTPS_PROXY": "",
        "http_proxy": "",
        "https_proxy": "",
        **extra,
    }


def marked_image(marker: str) -> Image:
    return build([(tar_bytes([*busybox_entries(), Entry("marker", data=marker.encode())]), "gzip")])


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path, Image]]:
    """A `ketch registry serve` holding library/busybox:latest (an image of its own)."""
    proc, addr = serve_ketch(tmp_path / "mirror")
    img = Registry(f"http://{addr}").push("library/busybox", "latest", marked_image("from the mirror"))
    try:
        yield addr, tmp_path / "mirror", img
    finally:
        stop_served(proc)


def image_id(ketch: Ketch, ref: str, env: dict[str, str]) -> str:
    r = ketch("image", "inspect", ref, env=env)
    assert r.rc == 0, r.err
    return str(json.loads(r.out)[0]["Id"])


def test_docker_hub_through_a_registries_conf_mirror(
    ketch: Ketch, tmp_path: Path, mirror: tuple[str, Path, Image]
) -> None:
    addr, _, img = mirror
    (tmp_path / "registries.conf").write_text(
        f'[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "{addr}"\n'
    )
    env = isolated(tmp_path)
    r = ketch("pull", "busybox", env=env)
    assert r.rc == 0, r.err
    assert "Status: Downloaded newer image for busybox:latest" in r.out
    assert image_id(ketch, "busybox", env) == img.id  # the mirror's image, not Docker Hub's


def test_docker_hub_through_a_daemon_json_mirror(ketch: Ketch, tmp_path: Path, mirror: tuple[str, Path, Image]) -> None:
    addr, _, img = mirror
    (tmp_path / "daemon.json").write_text(json.dumps({"registry-mirrors": [f"http://{addr}"]}))
    env = isolated(tmp_path)
    r = ketch("pull", "busybox:latest", env=env)
    assert r.rc == 0, r.err
    assert image_id(ketch, "busybox", env) == img.id


def test_a_mirror_that_sends_a_wrong_blob_fails_the_pull_and_stores_nothing(
    ketch: Ketch, tmp_path: Path, mirror: tuple[str, Path, Image]
) -> None:
    addr, root, img = mirror
    layer = json.loads(img.manifest)["layers"][0]["digest"]
    blob = root / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes
    blob.write_bytes(bytes(data))
    (tmp_path / "daemon.json").write_text(json.dumps({"registry-mirrors": [f"http://{addr}"]}))
    env = isolated(tmp_path)
    r = ketch("pull", "busybox", env=env)
    assert r.rc == 1
    err = r.err.strip()
    assert len(err.splitlines()) == 1 and "digest" in err and "Traceback" not in err, err
    assert not (ketch.root / "content" / "blobs" / "sha256" / layer.split(":")[1]).exists()
    assert ketch("images", "-q", env=env).out == ""


def test_a_blocked_registry_and_a_malformed_file_are_one_line(ketch: Ketch, tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "127.0.0.1:9"\nblocked = true\n')
    env = isolated(tmp_path)
    r = ketch("pull", "127.0.0.1:9/lab/x", env=env)
    assert r.rc == 1 and r.err.strip() == f"registry 127.0.0.1:9 is blocked in {conf}"
    conf.write_text("[[registry]\nlocation = 'x'\n")
    r = ketch("pull", "127.0.0.1:9/lab/x", env=env)
    assert r.rc == 1 and r.err.startswith(f"{conf}: not valid TOML") and len(r.err.strip().splitlines()) == 1
    conf.unlink()
    (tmp_path / "daemon.json").write_text('{"registry-mirrors": "not a list"}')
    r = ketch("pull", "busybox", env=env)
    assert r.rc == 1 and r.err.strip() == f"{tmp_path / 'daemon.json'}: registry-mirrors is not a list of strings"


# -- short names through unqualified-search-registries ------------------------------


@pytest.fixture
def two_registries(tmp_path: Path) -> Iterator[tuple[str, str, Image]]:
    """Two `ketch registry serve`s on 127.0.0.1; only the second holds busybox
    (as `busybox` and as `library/busybox`)."""
    first, a = serve_ketch(tmp_path / "first")
    second, b = serve_ketch(tmp_path / "second")
    img = marked_image("from the second")
    reg = Registry(f"http://{b}")
    reg.push("busybox", "latest", img)
    reg.push("library/busybox", "v2", img)
    try:
        yield a, b, img
    finally:
        stop_served(first)
        stop_served(second)


def search_conf(tmp_path: Path, mode: str, *registries: str) -> dict[str, str]:
    """A registries.conf searching `registries` in `mode`; the environment that reads it."""
    regs = ", ".join(f'"{r}"' for r in registries)
    (tmp_path / "registries.conf").write_text(f'unqualified-search-registries = [{regs}]\nshort-name-mode = "{mode}"\n')
    return isolated(tmp_path)


@pytest.mark.parametrize("mode", ["permissive", "disabled"])
def test_a_short_name_is_pulled_from_the_first_search_registry_that_has_it(
    ketch: Ketch, tmp_path: Path, two_registries: tuple[str, str, Image], mode: str
) -> None:
    a, b, img = two_registries
    env = search_conf(tmp_path, mode, a, b)
    r = ketch("pull", "busybox", env=env)
    assert r.rc == 0, r.err
    assert f"Status: Downloaded newer image for {b}/busybox:latest" in r.out
    assert r.out.splitlines()[-1] == f"{b}/busybox:latest"
    assert image_id(ketch, f"{b}/busybox:latest", env) == img.id
    r = ketch("pull", "library/busybox:v2", env=env)
    assert r.rc == 0 and r.out.splitlines()[-1] == f"{b}/library/busybox:v2", r.err
    # `create busybox` finds the pulled one by the same resolution: no second pull
    r = ketch("create", "--network", "none", "busybox", "true", env=env)
    assert r.rc == 0 and "Unable to find image" not in r.err, r.err
    cid = r.out.strip()
    assert json.loads(ketch("inspect", cid, env=env).out)[0]["Image"] == img.id
    assert ketch("rm", cid, env=env).rc == 0


def test_a_short_name_in_no_search_registry_is_one_line_and_stores_nothing(
    ketch: Ketch, tmp_path: Path, two_registries: tuple[str, str, Image]
) -> None:
    a, b, _ = two_registries
    r = ketch("pull", "nosuch", env=search_conf(tmp_path, "permissive", a, b))
    err = r.err.strip()
    assert r.rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, r.err
    assert "search registries" in err and f"{a}/nosuch" in err and f"{b}/nosuch" in err
    assert ketch("images", "-q").out == ""


def test_enforcing_with_two_search_registries_wants_a_qualified_name(
    ketch: Ketch, tmp_path: Path, two_registries: tuple[str, str, Image]
) -> None:
    a, b, img = two_registries
    env = search_conf(tmp_path, "enforcing", a, b)
    for argv in (["pull", "busybox"], ["create", "--network", "none", "busybox", "true"]):
        r = ketch(*argv, env=env)
        err = r.err.strip()
        assert r.rc != 0 and "fully qualified name" in err and err.count("\n") == 0, r.err
    assert ketch("images", "-q", env=env).out == ""
    # one search registry: nothing to choose between, enforcing pulls it
    search_conf(tmp_path, "enforcing", b)
    r = ketch("pull", "busybox", env=env)
    assert r.rc == 0 and image_id(ketch, f"{b}/busybox", env) == img.id, r.err


# -- credential helpers ------------------------------------------------------------


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[str]:
    import bcrypt

    pw = tmp_path / "htpasswd"
    pw.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode() + "\n")
    proc, addr = serve_ketch(tmp_path / "basic", "--htpasswd", str(pw))
    Registry(f"http://{addr}", ("alice", "s3cret")).push("lab/private", "v1", marked_image("private"))
    try:
        yield addr
    finally:
        stop_served(proc)


def helper_env(tmp_path: Path, script: str, config: dict[str, object]) -> dict[str, str]:
    bindir = tmp_path / "helper-bin"
    bindir.mkdir(exist_ok=True)
    h = bindir / "docker-credential-ketchtest"
    h.write_text("#!/bin/sh\n" + script)
    h.chmod(0o755)
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    (tmp_path / "docker-config" / "config.json").write_text(json.dumps(config))
    return isolated(tmp_path, PATH=f"{bindir}:{os.environ['PATH']}")


def test_a_credential_helper_supplies_the_password(ketch: Ketch, tmp_path: Path, basic_registry: str) -> None:
    addr = basic_registry
    answer = json.dumps({"ServerURL": addr, "Username": "alice", "Secret": "s3cret"})
    script = f"""read -r server
echo "$1 $server" >> {tmp_path}/calls
[ "$1" = get ] && [ "$server" = "{addr}" ] && echo '{answer}' && exit 0
echo "credentials not found in native keychain"; exit 1
"""
    r = ketch("pull", f"{addr}/lab/private:v1", env=isolated(tmp_path))
    assert r.rc == 1 and "no basic auth credentials" in r.err  # without the helper: refused
    env = helper_env(tmp_path, script, {"credHelpers": {addr: "ketchtest"}})
    r = ketch("pull", f"{addr}/lab/private:v1", env=env)
    assert r.rc == 0, r.err
    assert (tmp_path / "calls").read_text().splitlines() == [f"get {addr}"]
    # credsStore: the same helper for every registry
    ketch("rmi", f"{addr}/lab/private:v1", env=env)
    env = helper_env(tmp_path, script, {"credsStore": "ketchtest"})
    assert ketch("pull", f"{addr}/lab/private:v1", env=env).rc == 0


def test_login_and_logout_go_through_the_configured_helper(ketch: Ketch, tmp_path: Path, basic_registry: str) -> None:
    addr = basic_registry
    store = tmp_path / "helper-store"
    script = f"""case "$1" in
  store) cat > {store};;
  get) read -r s; [ -f {store} ] && exec cat {store}; echo "credentials not found in native keychain"; exit 1;;
  erase) read -r s; [ -f {store} ] || {{ echo "credentials not found in native keychain"; exit 1; }}; rm {store};;
esac
"""
    env = helper_env(tmp_path, script, {"credsStore": "ketchtest"})
    r = ketch("login", addr, "-u", "alice", "--password-stdin", input="s3cret\n", env=env)
    assert r.rc == 0 and r.out.strip() == "Login Succeeded", r.err
    assert "stored unencrypted" not in r.err  # docker warns only when the file keeps them
    saved = json.loads(store.read_text())
    assert saved == {"ServerURL": addr, "Username": "alice", "Secret": "s3cret"}
    cfg = (tmp_path / "docker-config" / "config.json").read_text()
    assert "s3cret" not in cfg and json.loads(cfg)["auths"] == {addr: {}}
    assert ketch("pull", f"{addr}/lab/private:v1", env=env).rc == 0
    assert ketch("logout", addr, env=env).out == f"Removing login credentials for {addr}\n"
    assert not store.exists()


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("echo '<html>garbage'\n", "its answer is not a credentials document"),
        ("exec head -c 10000000 /dev/zero\n", "answered more than"),
    ],
)
def test_a_hostile_helper_is_one_line(ketch: Ketch, tmp_path: Path, basic_registry: str, script: str, why: str) -> None:
    env = helper_env(tmp_path, script, {"credHelpers": {basic_registry: "ketchtest"}})
    r = ketch("pull", f"{basic_registry}/lab/private:v1", env=env)
    assert r.rc == 1 and why in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_a_helper_name_that_is_a_path_is_refused(ketch: Ketch, tmp_path: Path, basic_registry: str) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    env = helper_env(tmp_path, "exit 1\n", {"credHelpers": {basic_registry: f"../../../../../..{evil}"}})
    r = ketch("pull", f"{basic_registry}/lab/private:v1", env=env)
    assert r.rc == 1 and "is not a plain name" in r.err and not marker.exists()


# -- TLS from certs.d ----------------------------------------------------------------


def test_certs_d_lets_ketch_pull_from_a_tls_registry(ketch: Ketch, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "pki", "server")
    other, _ = self_signed(tmp_path / "pki", "other")
    proc, addr = serve_ketch(tmp_path / "tls", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        certs = tmp_path / "certs.d" / addr
        certs.mkdir(parents=True)
        env = isolated(tmp_path)
        ketch.import_busybox(f"{addr}/lab/tls:v1")
        # a CA in certs.d that did not sign the server's certificate: verified, and refused
        (certs / "ca.crt").write_bytes(other.read_bytes())
        r = ketch("push", f"{addr}/lab/tls:v1", env=env)
        assert r.rc == 1 and "CERTIFICATE_VERIFY_FAILED" in r.err and len(r.err.strip().splitlines()) == 1, r.err
        # the right one: push and pull over verified TLS
        (certs / "ca.crt").write_bytes(cert.read_bytes())
        r = ketch("push", f"{addr}/lab/tls:v1", env=env)
        assert r.rc == 0 and "Pushed" in r.out, r.err
        k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
        try:
            r = k2("pull", f"{addr}/lab/tls:v1", env=env)
            assert r.rc == 0, r.err
        finally:
            k2.clean_up()
    finally:
        stop_served(proc)


def test_a_registry_that_requires_client_certificates(ketch: Ketch, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "pki", "server")
    client, client_key = self_signed(tmp_path / "pki", "client")
    stranger, stranger_key = self_signed(tmp_path / "pki", "stranger")
    flags = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(client)]
    proc, addr = serve_ketch(tmp_path / "mtls", *flags)
    k2 = Ketch(tmp_path / "s2", tmp_path / "r2")
    try:
        certs = tmp_path / "certs.d" / addr
        certs.mkdir(parents=True)
        (certs / "ca.crt").write_bytes(cert.read_bytes())
        env = isolated(tmp_path)
        ketch.import_busybox(f"{addr}/lab/mtls:v1")
        # no client certificate: refused at the handshake, one line, nothing stored
        for argv in (["push", f"{addr}/lab/mtls:v1"], ["pull", f"{addr}/lab/mtls:v1"]):
            r = (ketch if argv[0] == "push" else k2)(*argv, env=env)
            err = r.err.strip()
            assert r.rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, r.err
            assert "certificate" in err.lower(), err
        # a certificate the server's CA did not sign: refused too
        (certs / "client.cert").write_bytes(stranger.read_bytes())
        (certs / "client.key").write_bytes(stranger_key.read_bytes())
        r = ketch("push", f"{addr}/lab/mtls:v1", env=env)
        assert r.rc == 1 and len(r.err.strip().splitlines()) == 1, r.err
        # the client's own: push and pull work
        (certs / "client.cert").write_bytes(client.read_bytes())
        (certs / "client.key").write_bytes(client_key.read_bytes())
        r = ketch("push", f"{addr}/lab/mtls:v1", env=env)
        assert r.rc == 0 and "Pushed" in r.out, r.err
        assert k2("images", "-q", env=env).out == ""
        assert not list((k2.root / "content" / "blobs" / "sha256").glob("*"))
        r = k2("pull", f"{addr}/lab/mtls:v1", env=env)
        assert r.rc == 0 and "Downloaded newer image" in r.out, r.err
        # and without the certificate again, a fresh pull fails and stores nothing
        (certs / "client.cert").unlink()
        (certs / "client.key").unlink()
        assert k2("rmi", f"{addr}/lab/mtls:v1", env=env).rc == 0
        r = k2("pull", f"{addr}/lab/mtls:v1", env=env)
        assert r.rc == 1 and len(r.err.strip().splitlines()) == 1, r.err
        assert k2("images", "-q", env=env).out == ""
    finally:
        k2.clean_up()
        stop_served(proc)


def test_tls_client_ca_needs_tls_and_a_readable_file(tmp_path: Path) -> None:
    import subprocess

    from support.ketch import KETCH

    cert, key = self_signed(tmp_path / "pki", "server")
    for flags, want in [
        (["--tls-client-ca", str(cert)], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(tmp_path / "nope")],
         f"--tls-client-ca {tmp_path / 'nope'}: No such file or directory"),
        (["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(key)], f"--tls-client-ca {key}: "),
    ]:  # fmt: skip
        r = subprocess.run(
            [KETCH, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(tmp_path / "r"), *flags],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        err = r.stderr.strip()
        assert r.returncode == 125 and err.startswith(want) and len(err.splitlines()) == 1, r.stderr


# -- a proxy ---------------------------------------------------------------------------


class Proxy:
    """CONNECT tunnels and absolute-URI forwarding on 127.0.0.1, one request a
    connection; `names` maps the names only it resolves to loopback ports.
    It records what it saw."""

    def __init__(self, names: dict[str, int]) -> None:
        self.names = names
        self.seen: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _target(self, hostport: str) -> socket.socket:
        host, _, port = hostport.partition(":")
        return socket.create_connection(("127.0.0.1", self.names[host] if host in self.names else int(port)))

    def _one(self, c: socket.socket) -> None:
        with c:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(65536)
                if not chunk:
                    return
                head += chunk
            line, _, rest = head.partition(b"\r\n")
            method, target, version = line.decode().split(" ")
            self.seen.append(f"{method} {target}")
            if method == "CONNECT":
                up = self._target(target)
                c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                from urllib.parse import urlsplit

                u = urlsplit(target)
                up = self._target(u.netloc)
                path = u.path + ("?" + u.query if u.query else "")
                fields, _, body = rest.partition(b"\r\n\r\n")
                keep = [f for f in fields.split(b"\r\n") if f and not f.lower().startswith((b"connection:", b"proxy-"))]
                # one request a connection: the origin is asked to close after its answer
                up.sendall(f"{method} {path} {version}\r\n".encode() + b"".join(f + b"\r\n" for f in keep)
                           + b"Connection: close\r\n\r\n" + body)  # fmt: skip
            with up:
                self._pipe(c, up)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        while True:
            r, _, _ = select.select([a, b], [], [], 30)
            if not r:
                return
            for s in r:
                try:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
                except OSError:  # a side went away (the TLS attempt to a plain registry): the tunnel ends
                    return

    def close(self) -> None:
        self.stopping = True
        self.sock.close()


def test_a_proxy_on_loopback_carries_the_registry_traffic(ketch: Ketch, tmp_path: Path) -> None:
    proc, addr = serve_ketch(tmp_path / "proxied")
    port = int(addr.rsplit(":", 1)[1])
    Registry(f"http://{addr}").push("lab/p", "v1", marked_image("through the proxy"))
    name = f"registry.ketch.test:{port}"  # a name only the proxy resolves: ketch cannot go around it
    proxy = Proxy({"registry.ketch.test": port})
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        env = isolated(tmp_path, HTTP_PROXY=url, HTTPS_PROXY=url, NO_PROXY="")
        (tmp_path / "daemon.json").write_text(json.dumps({"insecure-registries": [name]}))
        r = ketch("pull", f"{name}/lab/p:v1", env=env)
        assert r.rc == 0, r.err
        assert f"CONNECT {name}" in proxy.seen  # https first (an insecure registry), through the tunnel
        assert f"GET http://{name}/v2/lab/p/manifests/v1" in proxy.seen  # then plain http, forwarded
        assert any(s.startswith(f"GET http://{name}/v2/lab/p/blobs/sha256:") for s in proxy.seen)
        # NO_PROXY names it: nothing goes through the proxy (and the name does not resolve)
        proxy.seen.clear()
        env["NO_PROXY"] = ".ketch.test"
        r = ketch("pull", f"{name}/lab/p:v1", env=env)
        assert r.rc == 1 and proxy.seen == []
    finally:
        proxy.close()
        stop_served(proc)


# -- a bearer token that runs out mid-pull ------------------------------------------------


class InProcessRegistry:
    """ketch's registry in this process, in token mode, its tokens living
    `token_ttl` seconds (checked to the second), its layer blobs answered
    after `delay` seconds: later layers start after the first token is gone."""

    def __init__(self, root: Path, htpasswd: Path, delay: float) -> None:
        from ketch.registry.server.routes import Registry as Served

        class Slow(Served):
            async def blob(self, x, name, digest):  # type: ignore[no-untyped-def]
                if x.method == "GET" and digest in slow:
                    await asyncio.sleep(delay)
                return await super().blob(x, name, digest)

        slow: set[str] = set()
        self.slow = slow
        self.reg = Slow(root, str(htpasswd), "token")
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(asyncio.start_server(self.reg.handle, "127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_a_token_that_expires_mid_pull_is_fetched_again(ketch: Ketch, tmp_path: Path) -> None:
    import bcrypt

    pw = tmp_path / "htpasswd"
    pw.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode() + "\n")
    reg = InProcessRegistry(tmp_path / "token-reg", pw, delay=1.6)
    try:
        layers = [(tar_bytes(busybox_entries()), "gzip")]
        layers += [(tar_bytes([Entry(f"layer{i}", data=os.urandom(64))]), "gzip") for i in range(7)]
        img = build(layers)
        Registry(f"http://{reg.addr}", ("alice", "s3cret")).push("lab/slow", "v1", img)
        reg.slow.update(d["digest"] for d in json.loads(img.manifest)["layers"])
        reg.reg.token_ttl = 1  # the manifest's token is gone before the 5th layer (4 at a time) starts
        (tmp_path / "docker-config").mkdir()
        (tmp_path / "docker-config" / "config.json").write_text(
            json.dumps({"auths": {reg.addr: {"auth": "YWxpY2U6czNjcmV0"}}})
        )
        r = ketch("pull", f"{reg.addr}/lab/slow:v1", env=isolated(tmp_path))
        assert r.rc == 0, r.err
        assert "Status: Downloaded newer image" in r.out
    finally:
        reg.close()


def test_no_file_of_the_host_was_read(tmp_path: Path) -> None:
    """The settings these tests use point every path into tmp_path (a guard against a default)."""
    from ketch.config import Settings

    s = Settings(environ=isolated(tmp_path))
    assert str(s.registries_conf).startswith(str(tmp_path)) and str(s.daemon_json).startswith(str(tmp_path))
    assert all(str(d).startswith(str(tmp_path)) for d in s.certs_dirs)


def test_no_helper_runs_for_a_registry_that_asks_no_credentials(
    ketch: Ketch, tmp_path: Path, mirror: tuple[str, Path, Image]
) -> None:
    addr, _, _ = mirror
    ran = tmp_path / "helper-ran"
    env = helper_env(tmp_path, f"touch {ran}\necho garbage\n", {"credsStore": "ketchtest"})
    r = ketch("pull", f"{addr}/library/busybox", env=env)
    assert r.rc == 0, r.err
    assert not ran.exists()  # credentials are looked up only when a registry challenges
