"""Registry auth as Docker Hub does it (Bearer tokens from a realm) and basic
auth (htpasswd), with credentials stored the way docker stores them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.imagekit import build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry, start_basic_registry, start_registry, stop_registry
from support.tokenserver import TokenServer

pytestmark = requires_root

USER, PASSWORD = "alice", "s3cret-pw"


def docker_config(tmp: Path, registry: str, user: str, password: str) -> dict[str, str]:
    d = tmp / "docker-config"
    d.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(d)}


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningRegistry, TokenServer]]:
    tmp = tmp_path_factory.mktemp("token-registry")
    issuer = TokenServer(tmp, {USER: PASSWORD})
    reg = start_registry(tmp, issuer.registry_config(), creds=(USER, PASSWORD))
    image = build([(tar_bytes(busybox_entries()), "gzip")])
    reg.client.push("lab/private", "latest", image)
    reg.client.push("public/open", "latest", image)
    yield reg, issuer
    stop_registry(reg)
    issuer.close()


def test_bearer_token_flow_anonymous_and_with_stored_credentials(
    ketch: Ketch, tmp_path: Path, token_registry: tuple[RunningRegistry, TokenServer]
) -> None:
    reg, issuer = token_registry
    issuer.requests.clear()
    r = ketch("pull", f"{reg.addr}/public/open")
    assert r.rc == 0, r.err
    assert issuer.requests[0]["scope"] == "repository:public/open:pull"
    assert issuer.requests[0]["service"] == "ketch-test-registry"
    assert issuer.requests[0]["user"] == ""

    r = ketch("pull", f"{reg.addr}/lab/private")
    assert r.rc == 1
    assert r.err.strip().startswith("pull access denied for lab/private")
    assert "ketch login" in r.err

    env = docker_config(tmp_path, reg.addr, USER, PASSWORD)
    issuer.requests.clear()
    r = ketch("pull", f"{reg.addr}/lab/private", env=env)
    assert r.rc == 0, r.err
    assert {q["user"] for q in issuer.requests} == {USER}
    assert "Status: Downloaded newer image" in r.out


def test_bearer_flow_with_a_wrong_password(
    ketch: Ketch, tmp_path: Path, token_registry: tuple[RunningRegistry, TokenServer]
) -> None:
    reg, _ = token_registry
    env = docker_config(tmp_path, reg.addr, USER, "wrong-password")
    r = ketch("pull", f"{reg.addr}/lab/private", env=env)
    assert r.rc == 1
    assert "authentication to" in r.err and "failed" in r.err
    assert "wrong-password" not in r.err and len(r.err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    reg = start_basic_registry(tmp_path_factory.mktemp("basic-registry"), USER, PASSWORD)
    yield reg
    stop_registry(reg)


def test_basic_auth_from_docker_config(ketch: Ketch, tmp_path: Path, basic_registry: RunningRegistry) -> None:
    r = ketch("pull", f"{basic_registry.addr}/lab/busybox", env={"DOCKER_CONFIG": str(tmp_path / "none")})
    assert (r.rc, r.err.strip()) == (1, "no basic auth credentials")
    env = docker_config(tmp_path, basic_registry.addr, USER, PASSWORD)
    r = ketch("pull", f"{basic_registry.addr}/lab/busybox", env=env)
    assert r.rc == 0, r.err
    bad = docker_config(tmp_path, basic_registry.addr, USER, "nope")
    ketch("rmi", f"{basic_registry.addr}/lab/busybox", check=True)
    r = ketch("pull", f"{basic_registry.addr}/lab/busybox", env=bad)
    assert r.rc == 1 and "nope" not in r.err and "Traceback" not in r.err


def test_login_push_logout_against_docker_registry(
    ketch: Ketch, tmp_path: Path, basic_registry: RunningRegistry
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    r = ketch("login", basic_registry.addr, "-u", USER, "-p", "wrong", env=env)
    assert r.rc == 1
    assert f"login attempt to http://{basic_registry.addr}/v2/ failed with status: 401 Unauthorized" in r.err
    r = ketch("login", basic_registry.addr, "-u", USER, "--password-stdin", input=PASSWORD + "\n", env=env)
    assert (r.rc, r.out) == (0, "Login Succeeded\n"), r.err
    cfg = tmp_path / "cfg" / "config.json"
    assert oct(cfg.stat().st_mode & 0o777) == "0o600"
    assert ketch("pull", "-q", f"{basic_registry.addr}/lab/busybox", env=env).rc == 0
    ketch("tag", f"{basic_registry.addr}/lab/busybox", f"{basic_registry.addr}/lab/again:v1", check=True)
    r = ketch("push", f"{basic_registry.addr}/lab/again:v1", env=env)
    assert r.rc == 0 and "Mounted from lab/busybox" in r.out, r.out + r.err
    assert ketch("logout", basic_registry.addr, env=env).rc == 0
    r = ketch("push", f"{basic_registry.addr}/lab/again:v1", env=env)
    assert r.rc == 1 and "no basic auth credentials" in r.err
