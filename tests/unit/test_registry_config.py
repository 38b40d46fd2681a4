"""The files docker and podman users already have, read without a registry:
registries.conf, daemon.json, certs.d, the proxy variables, the auth files
and credential helpers (small scripts on a PATH of the test's own)."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ketch.config import Settings
from ketch.errors import AuthError, RegistryError
from ketch.registry import auth, hosts
from ketch.registry.client import RegistryClient
from support.pki import self_signed

CONF = """
unqualified-search-registries = ["quay.io", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.example:5000/hub"
[[registry.mirror]]
location = "plain.example"
insecure = true

[[registry]]
prefix = "corp.example/team"
location = "real.corp.example:8443/t"

[[registry]]
location = "evil.example"
blocked = true

[[registry]]
location = "old.example:5000"
insecure = true
"""


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {
        "KETCH_REGISTRIES_CONF": str(tmp_path / "registries.conf"),
        "KETCH_DAEMON_JSON": str(tmp_path / "daemon.json"),
        "KETCH_CERTS_DIRS": str(tmp_path / "certs.d"),
        "HOME": str(tmp_path / "home"),
    }
    return Settings(environ={**base, **env})


def test_registries_conf_v2_is_read(tmp_path: Path) -> None:
    (tmp_path / "registries.conf").write_text(CONF)
    s = settings(tmp_path)
    assert hosts.search_registries(s) == (["quay.io", "docker.io"], "enforcing")
    eps = hosts.endpoints("docker.io", "library/busybox", s)
    assert [(e.host, e.path, e.insecure, e.mirror) for e in eps] == [
        ("mirror.example:5000", "hub/library/busybox", False, True),
        ("plain.example", "library/busybox", True, True),
        ("docker.io", "library/busybox", False, False),
    ]
    # a prefix rewritten to its location, the namespace below it kept
    (ep,) = hosts.endpoints("corp.example", "team/app", s)
    assert (ep.host, ep.path) == ("real.corp.example:8443", "t/app")
    # the longest prefix wins; another path of the same host is not rewritten
    (ep,) = hosts.endpoints("corp.example", "other/app", s)
    assert (ep.host, ep.path) == ("corp.example", "other/app")
    with pytest.raises(RegistryError, match="registry evil.example is blocked in .*registries.conf"):
        hosts.endpoints("evil.example", "x/y", s)
    assert hosts.is_insecure("old.example:5000", s) and not hosts.is_insecure("new.example:5000", s)
    assert hosts.registry_mirrors(s) == {"docker.io": ["mirror.example:5000/hub", "plain.example"]}


def test_daemon_json_mirrors_and_insecure_registries(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text(
        json.dumps(
            {
                "registry-mirrors": ["http://127.0.0.1:5001/"],
                "insecure-registries": ["10.1.0.0/16", "r.lan:5000"],
                "log-driver": "json-file",
            }
        )  # fmt: skip
    )
    s = settings(tmp_path)
    eps = hosts.endpoints("docker.io", "library/busybox", s)
    assert [(e.host, e.path, e.mirror, e.scheme) for e in eps] == [
        ("127.0.0.1:5001", "library/busybox", True, "http"),
        ("docker.io", "library/busybox", False, ""),
    ]
    assert [e.host for e in hosts.endpoints("quay.io", "a/b", s)] == ["quay.io"]  # Docker Hub's mirrors only
    assert hosts.is_insecure("10.1.2.3:5000", s) and hosts.is_insecure("r.lan:5000", s)
    assert not hosts.is_insecure("10.2.0.1:5000", s)
    assert hosts.insecure_registries(s)[:4] == ["127.0.0.0/8", "::1/128", "10.1.0.0/16", "r.lan:5000"]
    assert hosts.registry_mirrors(s) == {"docker.io": ["http://127.0.0.1:5001"]}


@pytest.mark.parametrize(
    ("name", "text", "why"),
    [
        ("registries.conf", "[[registry]\nlocation = 'x'", "not valid TOML"),
        ("registries.conf", "unqualified-search-registries = 'docker.io'", "not a list of strings"),
        ("registries.conf", "short-name-mode = 'sometimes'", "short-name-mode 'sometimes' is not one of"),
        ("registries.conf", "unqualified-search-registries = ['quay.io/evil/..']", "is not a registry"),
        ("registries.conf", "unqualified-search-registries = ['a b']", "is not a registry"),
        ("registries.conf", "[[registry]]\ninsecure = true", "registry #1 has no location"),
        ("registries.conf", "[[registry]]\nlocation = 'a'\ninsecure = 'yes'", "insecure is not true or false"),
        ("registries.conf", "[[registry]]\nlocation = 'a'\n[[registry.mirror]]\ninsecure = true", "a mirror has no"),
        ("registries.conf", "[registries.search]\nregistries = ['a']", "the v1 format"),
        ("daemon.json", "{not json", "not valid JSON"),
        ("daemon.json", '{"registry-mirrors": "http://m"}', "registry-mirrors is not a list"),
        ("daemon.json", '{"registry-mirrors": ["ftp://m"]}', "is not an http\\(s\\) URL"),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path, name: str, text: str, why: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(hosts.RegistriesConfigError, match=why) as e:
        hosts.endpoints("docker.io", "library/busybox", settings(tmp_path))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / name) + ": ") and "\n" not in msg


def test_no_files_change_nothing(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert [(e.host, e.path) for e in hosts.endpoints("docker.io", "library/x", s)] == [("docker.io", "library/x")]
    assert hosts.registry_mirrors(s) == {} and hosts.search_registries(s) == ([], "")


DIG = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("mode", "name", "want"),
    [
        ("permissive", "busybox", ["quay.io/busybox:latest", "docker.io/library/busybox:latest"]),
        ("disabled", "library/busybox:1", ["quay.io/library/busybox:1", "docker.io/library/busybox:1"]),
        ("", "team/app@" + DIG, ["quay.io/team/app@" + DIG, "docker.io/team/app@" + DIG]),
        ("enforcing", "quay.io/busybox", ["quay.io/busybox:latest"]),  # qualified: itself in every mode
        ("enforcing", "localhost/busybox", ["localhost/busybox:latest"]),
        ("enforcing", "127.0.0.1:5000/busybox", ["127.0.0.1:5000/busybox:latest"]),
        ("enforcing", "docker.io/busybox", ["docker.io/library/busybox:latest"]),
    ],
)
def test_a_short_name_resolves_through_the_search_registries_in_order(
    tmp_path: Path, mode: str, name: str, want: list[str]
) -> None:
    mode_line = f'short-name-mode = "{mode}"\n' if mode else ""
    (tmp_path / "registries.conf").write_text(f'unqualified-search-registries = ["quay.io", "docker.io"]\n{mode_line}')
    assert [str(r) for r in hosts.candidates(name, settings(tmp_path))] == want


def test_enforcing_with_several_candidates_asks_for_a_qualified_name(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "enforcing"\n')
    with pytest.raises(hosts.ShortNameError) as e:
        hosts.candidates("busybox", settings(tmp_path))
    msg = str(e.value)
    assert "fully qualified name" in msg and "quay.io/busybox" in msg and str(conf) in msg and "\n" not in msg
    conf.write_text('unqualified-search-registries = ["quay.io"]\nshort-name-mode = "enforcing"\n')
    assert [str(r) for r in hosts.candidates("busybox", settings(tmp_path))] == ["quay.io/busybox:latest"]


def test_without_search_registries_a_short_name_is_docker_hubs(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert [str(r) for r in hosts.candidates("busybox", s)] == ["docker.io/library/busybox:latest"]
    (tmp_path / "registries.conf").write_text('short-name-mode = "enforcing"\nunqualified-search-registries = []\n')
    assert [str(r) for r in hosts.candidates("busybox", settings(tmp_path))] == ["docker.io/library/busybox:latest"]


def test_run_reads_registries_conf_only_when_a_line_sets_search_registries(tmp_path: Path) -> None:
    """`run` of a stored image parses no registries.conf (ssl, tomllib: ~20 ms)
    unless a line of it sets unqualified-search-registries."""
    from types import SimpleNamespace

    from ketch.images import _may_search

    store: Any = SimpleNamespace(settings=settings(tmp_path))
    conf = tmp_path / "registries.conf"
    assert not _may_search(store)  # no file
    conf.write_text('# unqualified-search-registries = ["example.com"]\n[[registry]]\nlocation = "x"\n')
    assert not _may_search(store)  # the distribution's: the key in a comment only
    for line in ('unqualified-search-registries = ["quay.io"]', '  "unqualified-search-registries"=["quay.io"]'):
        conf.write_text(f"# a comment\n{line}\n")
        assert _may_search(store), line


# -- proxies ------------------------------------------------------------------


def test_proxy_variables_and_no_proxy(tmp_path: Path) -> None:
    s = settings(tmp_path, HTTPS_PROXY="http://u:p%40ss@proxy.lan:3128", http_proxy="proxy.lan:8080",
                 NO_PROXY="internal.example,.corp.example,10.0.0.0/8,r.lan:5000")  # fmt: skip
    p = hosts.proxy_for("https", "registry.example", s)
    assert p == hosts.Proxy("proxy.lan", 3128, "u:p@ss")
    assert hosts.proxy_for("http", "registry.example:5000", s) == hosts.Proxy("proxy.lan", 8080, None)
    for direct in ("internal.example", "a.internal.example", "x.corp.example", "corp.example", "10.1.2.3:5000",
                   "r.lan:5000", "127.0.0.1:5000", "localhost:5000", "[::1]:5000"):  # fmt: skip
        assert hosts.proxy_for("https", direct, s) is None, direct
    assert hosts.proxy_for("https", "r.lan:6000", s) is not None  # NO_PROXY's port is part of the match
    assert hosts.proxy_for("https", "notinternal.example", s) is not None
    assert (
        hosts.proxy_for("https", "registry.example", settings(tmp_path, HTTPS_PROXY="http://p:1", NO_PROXY="*")) is None
    )
    assert hosts.proxy_for("https", "registry.example", settings(tmp_path)) is None
    with pytest.raises(RegistryError, match="only http:// proxies"):
        hosts.proxy_for("https", "registry.example", settings(tmp_path, HTTPS_PROXY="socks5://p:1080"))


# -- TLS ----------------------------------------------------------------------


def test_one_ssl_context_per_configuration(tmp_path: Path) -> None:
    s = settings(tmp_path)
    before = hosts.contexts_built
    a = hosts.ssl_context("registry.example", s)
    assert hosts.ssl_context("other.example:5000", s) is a  # no certs.d: the same system context
    assert hosts.contexts_built - before <= 1
    certs = tmp_path / "certs.d" / "reg.example:5000"
    ca, key = self_signed(tmp_path / "pki", "ca")
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    (certs / "ca.crt").chmod(0o644)
    b = hosts.ssl_context("reg.example:5000", s)
    assert b is not a and hosts.ssl_context("reg.example:5000", s) is b
    assert b.cert_store_stats()["x509"] == a.cert_store_stats()["x509"] + 1  # the system's and certs.d's
    insecure = hosts.ssl_context("any.example", s, verify=False)
    assert insecure.verify_mode == ssl.CERT_NONE and hosts.ssl_context("x.example", s, verify=False) is insecure


def test_certs_d_client_certificates_and_hostile_files(tmp_path: Path) -> None:
    s = settings(tmp_path)
    d = tmp_path / "certs.d" / "reg.example:5000"
    d.mkdir(parents=True)
    cert, key = self_signed(tmp_path / "pki", "client")
    (d / "client.cert").write_bytes(cert.read_bytes())
    (d / "client.cert").chmod(0o644)
    # a key linked in from elsewhere (as admins do from /etc/ssl/private) is followed
    (d / "client.key").symlink_to(key)
    cas, pairs = hosts.tls_files("reg.example:5000", s)
    assert cas == [] and pairs == [(d / "client.cert", key.resolve())]
    hosts.ssl_context("reg.example:5000", s)  # the pair loads
    # ... but one anybody may rewrite is refused, through the link too
    key.chmod(0o666)
    with pytest.raises(RegistryError, match="reg.example:5000/client.key: writable by group or others"):
        hosts.ssl_context("reg.example:5000", s)
    key.chmod(0o600)
    if os.geteuid() == 0:  # one owned by another user (not root, not the caller) is refused too
        os.chown(key, 65534, 65534)
        with pytest.raises(RegistryError, match="client.key: owned by uid 65534, not by root or you"):
            hosts.tls_files("reg.example:5000", s)
        os.chown(key, 0, 0)
    # a certificate without its key, or a key without its certificate
    (d / "client.key").unlink()
    with pytest.raises(RegistryError, match="client certificate without its key client.key"):
        hosts.tls_files("reg.example:5000", s)
    (d / "client.cert").unlink()
    (d / "other.key").write_text("x")
    (d / "other.key").chmod(0o600)
    with pytest.raises(RegistryError, match="other.key: client key without its certificate"):
        hosts.tls_files("reg.example:5000", s)
    (d / "other.key").unlink()
    # a link to something that is no regular file, or a dangling one
    (d / "ca.crt").symlink_to("/dev/null")
    with pytest.raises(RegistryError, match="ca.crt: not a regular file"):
        hosts.tls_files("reg.example:5000", s)
    (d / "ca.crt").unlink()
    (d / "ca.crt").symlink_to(tmp_path / "nowhere")
    with pytest.raises(RegistryError, match="ca.crt: No such file"):
        hosts.tls_files("reg.example:5000", s)
    (d / "ca.crt").unlink()
    # a world-writable directory: nothing in it is trusted
    d.chmod(0o777)
    with pytest.raises(RegistryError, match="writable by anyone"):
        hosts.tls_files("reg.example:5000", s)
    d.chmod(0o755)
    # garbage in a CA file: one line naming the directory
    (d / "ca.crt").write_text("not a certificate")
    (d / "ca.crt").chmod(0o644)
    with pytest.raises(RegistryError, match=f"TLS files for reg.example:5000 in {d}"):
        hosts.ssl_context("reg.example:5000", s)


# -- credentials ----------------------------------------------------------------


def _helper(bindir: Path, name: str, script: str) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    p = bindir / f"docker-credential-{name}"
    p.write_text("#!/bin/sh\n" + script)
    p.chmod(0o755)


@pytest.fixture
def bindir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}:/usr/bin:/bin")
    return d


STORE = """
log="$(dirname "$0")/calls"
read -r input || true
echo "$1 $input" >> "$log"
case "$1" in
  get) case "$input" in
         reg.example:5000) echo '{"ServerURL":"reg.example:5000","Username":"alice","Secret":"from-helper"}';;
         tok.example) echo '{"ServerURL":"tok.example","Username":"<token>","Secret":"refresh-me"}';;
         *) echo "credentials not found in native keychain"; exit 1;;
       esac;;
  store|erase) exit 0;;
esac
"""


def test_cred_helpers_and_creds_store_answer_first(tmp_path: Path, bindir: Path) -> None:
    _helper(bindir, "ketchtest", STORE)
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({
        "auths": {"plain.example": {"auth": "Ym9iOmZpbGUtcHc="}, "tok.example": {}},  # bob:file-pw
        "credHelpers": {"reg.example:5000": "ketchtest"},
        "credsStore": "ketchtest",
    }))  # fmt: skip
    s = settings(tmp_path, DOCKER_CONFIG=str(cfg))
    assert auth.lookup("reg.example:5000", s) == auth.Credentials("alice", "from-helper")
    # the store says "not found": the file's own entry answers
    assert auth.lookup("plain.example", s) == auth.Credentials("bob", "file-pw")
    # a helper's <token> user is an identity token
    assert auth.lookup("tok.example", s) == auth.Credentials("<token>", "", "refresh-me")
    assert auth.lookup("nobody.example", s) is None
    calls = (bindir / "calls").read_text().splitlines()
    assert calls[0] == "get reg.example:5000" and "get plain.example" in calls


def test_identitytoken_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"auths": {"r.example": {"auth": "", "identitytoken": "rt-1"}}}))
    assert auth.lookup("r.example", settings(tmp_path, DOCKER_CONFIG=str(cfg))) == auth.Credentials(
        "<token>", "", "rt-1"
    )


def test_podman_auth_files_and_their_precedence(tmp_path: Path) -> None:
    def write(p: Path, user: str) -> None:
        import base64

        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"auths": {"r.example": {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}}}))

    docker = tmp_path / "docker" / "config.json"
    runtime = tmp_path / "run" / "containers" / "auth.json"
    explicit = tmp_path / "explicit.json"
    write(docker, "from-docker")
    env = {"DOCKER_CONFIG": str(docker.parent)}
    assert auth.lookup("r.example", settings(tmp_path, **env)).username == "from-docker"  # type: ignore[union-attr]
    write(tmp_path / "home" / ".config" / "containers" / "auth.json", "from-home")  # podman's per-user file
    assert auth.lookup("r.example", settings(tmp_path, **env)).username == "from-home"  # type: ignore[union-attr]
    write(runtime, "from-runtime")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    assert auth.lookup("r.example", settings(tmp_path, **env)).username == "from-runtime"  # type: ignore[union-attr]
    # a file that does not know the registry passes the question on
    assert auth.lookup("other.example", settings(tmp_path, **env)) is None
    write(explicit, "from-explicit")
    env["REGISTRY_AUTH_FILE"] = str(explicit)
    assert auth.lookup("r.example", settings(tmp_path, **env)).username == "from-explicit"  # type: ignore[union-attr]
    # REGISTRY_AUTH_FILE alone is read when set (podman's --authfile)
    explicit.write_text("{}")
    assert auth.lookup("r.example", settings(tmp_path, **env)) is None
    assert auth.write_file(settings(tmp_path, **env)) == explicit


@pytest.mark.parametrize(
    ("script", "why"),
    [
        ("echo 'this is not json'\n", "its answer is not a credentials document"),
        ('echo \'{"Username": 7, "Secret": []}\'\n', "its answer is not a credentials document"),
        ("head -c 300000 /dev/zero | tr '\\0' x\n", "answered more than 65536 bytes"),
        ("exec sleep 30\n", "gave no answer within 0.5 s"),
        ("echo 'keychain locked'; exit 3\n", "get failed \\(exit 3\\): keychain locked"),
    ],
)
def test_a_hostile_helper_is_bounded(
    tmp_path: Path, bindir: Path, monkeypatch: pytest.MonkeyPatch, script: str, why: str
) -> None:
    monkeypatch.setattr(auth, "HELPER_TIMEOUT", 0.5)
    _helper(bindir, "bad", script)
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"credHelpers": {"r.example": "bad"}}))
    t0 = time.monotonic()
    with pytest.raises(auth.HelperError, match=why) as e:
        auth.lookup("r.example", settings(tmp_path, DOCKER_CONFIG=str(cfg)))
    assert time.monotonic() - t0 < 5
    assert "\n" not in str(e.value) and len(str(e.value)) < 400
    assert isinstance(e.value, AuthError)


def test_a_helper_name_with_a_path_is_refused(tmp_path: Path, bindir: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "docker-credential-x"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    cfg = tmp_path / "docker"
    cfg.mkdir()
    for name in (f"../{tmp_path.name}/x", "/bin/sh", "x/../../sh", "", ".hidden", "a b"):
        (cfg / "config.json").write_text(json.dumps({"credsStore": name} if name else {"credHelpers": {"r": "/x"}}))
        s = settings(tmp_path, DOCKER_CONFIG=str(cfg))
        if name:
            with pytest.raises(auth.HelperError, match="is not a plain name"):
                auth.lookup("r.example", s)
    with pytest.raises(auth.HelperError, match="is not a plain name"):
        auth.helper_path("../x")
    with pytest.raises(auth.HelperError, match="docker-credential-missing is not on PATH"):
        auth.helper_path("missing")
    assert not marker.exists()


def test_login_and_logout_write_through_the_helper(tmp_path: Path, bindir: Path) -> None:
    from ketch.registry import login

    _helper(bindir, "ketchtest", STORE)
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"credsStore": "ketchtest", "auths": {}}))
    s = settings(tmp_path, DOCKER_CONFIG=str(cfg))
    with _Registry() as reg:
        login.login(reg.addr, "alice", "pw-secret", s)
    doc = json.loads((cfg / "config.json").read_text())
    assert doc["auths"] == {reg.addr: {}} and "pw-secret" not in (cfg / "config.json").read_text()
    assert (bindir / "calls").read_text().splitlines()[-1] == f'store {{"ServerURL": "{reg.addr}", ' \
        '"Username": "alice", "Secret": "pw-secret"}'  # fmt: skip
    assert login.logout(reg.addr, s) == login.Logout(reg.addr, True)
    assert (bindir / "calls").read_text().splitlines()[-1] == f"erase {reg.addr}"
    assert json.loads((cfg / "config.json").read_text())["auths"] == {}


# -- tokens ---------------------------------------------------------------------


class _Registry:
    """/v2/ answering 200 to Basic alice:pw-secret, or a bearer registry whose
    tokens live `ttl` seconds (checked strictly) when `ttl` is given; /token
    issues them (POST: the refresh-token grant)."""

    def __init__(self, ttl: float | None = None) -> None:
        self.ttl = ttl
        self.issued: list[tuple[str, float]] = []
        self.grants: list[dict[str, str]] = []
        reg = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def reply(self, status: int, body: bytes = b"{}", extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                import urllib.parse

                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                reg.grants.append(form)
                if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != "rt-good":
                    return self.reply(401)
                self.token()

            def token(self) -> None:
                tok = f"t{len(reg.issued)}"
                reg.issued.append((tok, time.monotonic() + (reg.ttl or 60)))
                self.reply(200, json.dumps({"access_token": tok, "expires_in": reg.ttl}).encode())

            def do_GET(self) -> None:  # noqa: N802
                a = self.headers.get("Authorization", "")
                if self.path.startswith("/token"):
                    return self.token()
                if reg.ttl is None:
                    ok = a == auth.basic_header("alice", "pw-secret")
                    return self.reply(200 if ok else 401, extra={"WWW-Authenticate": 'Basic realm="r"'})
                valid = {t for t, until in reg.issued if time.monotonic() < until}
                if a.removeprefix("Bearer ") in valid:
                    return self.reply(200)
                realm = f"http://{reg.addr}/token"
                self.reply(401, extra={"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.addr = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> _Registry:
        return self

    def __exit__(self, *a: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def short_tokens() -> Iterator[_Registry]:
    with _Registry(ttl=1) as r:
        yield r


def test_a_token_is_fetched_again_once_its_expires_in_runs_out(short_tokens: _Registry, tmp_path: Path) -> None:
    c = RegistryClient(short_tokens.addr, settings(tmp_path))
    assert c.request("GET", "/v2/", "repository:a/b:pull").status == 200
    assert c.request("GET", "/v2/", "repository:a/b:pull").status == 200
    assert len(short_tokens.issued) == 1  # reused while it lives
    time.sleep(1.1)
    assert c.request("GET", "/v2/", "repository:a/b:pull").status == 200
    assert len(short_tokens.issued) == 2


def test_an_identity_token_is_traded_with_the_refresh_grant(short_tokens: _Registry, tmp_path: Path) -> None:
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"auths": {short_tokens.addr: {"identitytoken": "rt-good"}}}))
    c = RegistryClient(short_tokens.addr, settings(tmp_path, DOCKER_CONFIG=str(cfg)))
    assert c.request("GET", "/v2/", "repository:a/b:pull").status == 200
    (grant,) = short_tokens.grants
    assert grant["grant_type"] == "refresh_token" and grant["refresh_token"] == "rt-good"
    assert grant["scope"] == "repository:a/b:pull" and grant["service"] == "s"
    (cfg / "config.json").write_text(json.dumps({"auths": {short_tokens.addr: {"identitytoken": "rt-bad"}}}))
    c = RegistryClient(short_tokens.addr, settings(tmp_path, DOCKER_CONFIG=str(cfg)))
    with pytest.raises(AuthError, match="authentication to .* failed"):
        c.request("GET", "/v2/", "repository:a/b:pull")


def test_an_insecure_registry_is_asked_over_https_first_then_http(tmp_path: Path) -> None:
    with _Registry() as reg:
        c = RegistryClient(reg.addr, settings(tmp_path))
        assert c.scheme == "https" and c.insecure
        c.creds = ("alice", "pw-secret")
        assert c.request("GET", "/v2/", "").status == 200
        assert c.scheme == "http"
