"""docker's own CLI (the static 28 at /usr/local/bin/docker) driving ketch
through `ketch system service`: images (pull with X-Registry-Auth, list,
tag, history, rmi, save | load) and containers (run in the foreground and
detached, with piped stdin, ps with filters, logs, stop, rm), the same
containers `ketch ps` shows; and create requests that try to smuggle a
second field into the flags they are turned into."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.engine import DOCKER20, DOCKER28, Engine, UnixHTTP
from support.imagekit import Entry, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry, start_basic_registry, stop_registry
from support.wait import wait_for

pytestmark = requires_root

USER, PASSWORD = "apiuser", "api-secret"


@pytest.fixture
def box(engine: Engine) -> Engine:
    engine.ketch.import_busybox("busybox")
    return engine


def _ids(e: Engine) -> list[str]:
    return e.ketch("ps", "-aq", "--no-trunc").out.split()


def test_run_in_the_foreground_gives_output_and_exit_codes(box: Engine) -> None:
    r = box.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.rc, r.out, r.err) == (3, "out\n", "err\n")
    for _ in range(8):  # removed before the wait's next look: the code comes from its die event
        assert box.docker("run", "--rm", "busybox", "sh", "-c", "exit 7").rc == 7
    r = box.docker("run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got $x", input="piped stdin\n")
    assert (r.rc, r.out) == (0, "got piped stdin\n"), r.err
    assert _ids(box) == []  # --rm: gone, as docker's
    r = box.docker("run", "--name", "kept", "busybox", "echo", "kept")
    assert r.rc == 0 and r.out == "kept\n"
    doc = json.loads(box.ketch("inspect", "kept").out)[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 0
    assert box.docker("rm", "kept").rc == 0 and _ids(box) == []


def test_detached_containers_are_ketchs_own(box: Engine) -> None:
    r = box.docker("run", "-d", "--name", "web", "-l", "tier=front", "-e", "WHO=api", "busybox", "sh", "-c",
                   "echo hello $WHO; echo oops >&2; exec sleep 60")  # fmt: skip
    assert r.rc == 0, r.err
    cid = r.out.strip()
    assert len(cid) == 64 and _ids(box) == [cid]
    assert box.ketch("ps", "--format", "{{.Names}} {{.State}}").out.split() == ["web", "running"]
    r = box.docker("ps", "--format", "{{.Names}}|{{.Status}}|{{.Labels}}")
    name, status, labels = r.out.strip().split("|")
    assert name == "web" and status.startswith("Up") and labels == "tier=front"
    assert box.docker("ps", "-q", "--filter", "label=tier=front").out.split() == [cid[:12]]
    assert box.docker("ps", "-q", "--filter", "label=tier=back").out.split() == []
    logs = box.docker("logs", "web")
    assert (logs.out, logs.err) == ("hello api\n", "oops\n")
    assert box.docker("inspect", "-f", "{{.Name}} {{.HostConfig.LogConfig.Type}} {{.Config.Labels.tier}}",
                      "web").out.split() == ["/web", "json-file", "front"]  # fmt: skip
    r = box.docker("rm", "web")
    assert r.rc == 1 and "You cannot remove a running container" in r.err  # a 409, as dockerd's
    assert box.docker("stop", "-t", "1", "web").rc == 0
    r = box.docker("ps", "-a", "--format", "{{.Status}}")
    assert r.out.startswith("Exited (")
    assert box.docker("rm", "web").rc == 0 and _ids(box) == []
    assert wait_for(lambda: _zombies(box) == [], timeout=10)  # the service waits for the monitors it started
    r = box.docker("logs", "web")
    assert r.rc == 1 and "No such container: web" in r.err


def _zombies(e: Engine) -> list[int]:
    """The service's children that ended and were not waited for."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == e.proc.pid:
                out.append(int(p.name))
    return out


def test_images_tag_history_and_rmi(box: Engine) -> None:
    r = box.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert r.out.split() == ["busybox:latest"]
    assert box.docker("tag", "busybox", "lab/copy:v1").rc == 0
    assert sorted(box.ketch("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()) == [
        "busybox:latest", "lab/copy:v1"]  # fmt: skip
    r = box.docker("image", "inspect", "-f", "{{json .RepoTags}}", "lab/copy:v1")
    assert sorted(json.loads(r.out)) == ["busybox:latest", "lab/copy:v1"]
    assert "Imported from" in box.docker("history", "busybox").out
    r = box.docker("rmi", "lab/copy:v1")
    assert (r.rc, r.out) == (0, "Untagged: lab/copy:v1\n")
    r = box.docker("rmi", "nosuch")
    assert r.rc == 1 and "No such image: nosuch:latest" in r.err
    r = box.docker("run", "-d", "--name", "user", "busybox", "sleep", "30")
    r = box.docker("rmi", "busybox")
    assert r.rc == 1 and "conflict" in r.err.lower()  # a container uses it: 409
    assert box.docker("rm", "-f", "user").rc == 0


def test_push_through_the_socket(box: Engine, registry: RunningRegistry) -> None:
    target = f"{registry.addr}/api/pushed:v1"
    assert box.docker("tag", "busybox", target).rc == 0
    r = box.docker("push", target)
    assert r.rc == 0, r.err
    assert f"The push refers to repository [{registry.addr}/api/pushed]" in r.out and "v1: digest: sha256:" in r.out
    assert box.docker("rmi", target).rc == 0
    r = box.docker("pull", target)
    assert r.rc == 0 and ("Status: Image is up to date" in r.out or "Downloaded newer image" in r.out), r.out


def test_save_and_load_through_the_socket(box: Engine, tmp_path: Path) -> None:
    tar = tmp_path / "saved.tar"
    assert box.docker("save", "-o", str(tar), "busybox").rc == 0
    assert tar.stat().st_size > 1 << 20
    assert box.docker("rmi", "busybox").rc == 0
    assert box.ketch("images", "-q").out == ""
    r = box.docker("load", "-i", str(tar))
    assert r.rc == 0 and "Loaded image: busybox:latest" in r.out, r.err
    assert box.ketch("images", "--format", "{{.Repository}}").out.split() == ["busybox"]


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    reg = start_basic_registry(tmp_path_factory.mktemp("api-basic-registry"), USER, PASSWORD)
    yield reg
    stop_registry(reg)


def test_login_then_pull_with_the_clients_credentials(engine: Engine, basic_registry: RunningRegistry) -> None:
    """The service has no credentials of its own: docker login checks them
    through /auth (kept by the client, not by ketch), and the pull carries
    them in X-Registry-Auth."""
    name = f"{basic_registry.addr}/lab/busybox"
    r = engine.docker("pull", name)
    assert r.rc == 1 and "no basic auth credentials" in r.err, (r.out, r.err)
    assert engine.ketch("images", "-q").out == ""
    r = engine.docker("login", "-u", USER, "--password-stdin", basic_registry.addr, input="wrong\n")
    assert r.rc == 1
    r = engine.docker("login", "-u", USER, "--password-stdin", basic_registry.addr, input=PASSWORD + "\n")
    assert r.rc == 0 and "Login Succeeded" in r.out, r.err
    ketch_config = Path(engine.ketch.env.get("DOCKER_CONFIG", str(Path.home() / ".docker"))) / "config.json"
    assert basic_registry.addr not in (ketch_config.read_text() if ketch_config.exists() else "")
    r = engine.docker("pull", name)
    assert r.rc == 0, r.err
    assert (
        "Pull complete" in r.out
        and "Status: Downloaded newer image for" in r.out
        and r.out.endswith(name + ":latest\n")
    )
    assert engine.ketch("images", "--format", "{{.Repository}}").out.split() == [name]
    r = engine.docker("run", "--rm", name, "echo", "pulled")
    assert r.out == "pulled\n"


def test_a_pull_of_a_missing_image_is_an_error_answer(engine: Engine, registry: RunningRegistry) -> None:
    r = engine.docker("pull", f"{registry.addr}/lab/absent-from-here")
    assert r.rc == 1 and "Error response from daemon" in r.err and "Traceback" not in r.err
    assert engine.ketch("images", "-q").out == ""
    status, _, body = engine.request("POST", "/images/create?fromImage=busybox&tag=latest",
                                     headers={"X-Registry-Auth": "%%%not-base64"})  # fmt: skip
    assert status == 400 and b"X-Registry-Auth" in body


def _create(e: Engine, body: dict[str, object]) -> tuple[int, str]:
    status, _, out = e.request("POST", "/containers/create", body)
    return status, json.loads(out).get("message", "") if status != 201 else json.loads(out)["Id"]


def test_create_refuses_a_second_field_smuggled_into_a_flag(box: Engine, tmp_path: Path) -> None:
    """Each value becomes one field of a flag's syntax or nothing: a comma in
    a mount's source (`,target=/etc` would mount elsewhere), a colon or a
    range in a host port, an address that is not one, a device's extra
    field: 400, and no container is made."""
    secret = tmp_path / "secret"
    secret.mkdir()
    hostile = [
        {"HostConfig": {"Mounts": [{"Type": "bind", "Source": f"{secret},target=/etc", "Target": "/mnt"}]}},
        {"HostConfig": {"Mounts": [{"Type": "bind", "Source": str(secret), "Target": "/mnt,readonly=false"}]}},
        {"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "1:2"}]}}},
        {"HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "0.0.0.0:1", "HostPort": "8080"}]}}},
        {"HostConfig": {"PortBindings": {"80/tcp:x": [{"HostPort": "8080"}]}}},
        {"HostConfig": {"Devices": [{"PathOnHost": "/dev/null:/dev/x", "PathInContainer": "/dev/y"}]}},
        {"HostConfig": {"Ulimits": [{"Name": "nofile=1:1", "Soft": 1, "Hard": 1}]}},
        {"HostConfig": {"LogConfig": {"Type": "syslog"}}},
        {"HostConfig": {"NetworkMode": "container:other"}},
        {"Env": "not-a-list-of-strings", "Cmd": [1, 2]},
        {"Healthcheck": {"Test": ["SHELL", "true"]}},
    ]
    for extra in hostile:
        status, msg = _create(box, {"Image": "busybox", "Cmd": ["true"], **extra})
        assert status == 400 and msg, (extra, status, msg)
    status, msg = _create(box, {"Image": "nosuch", "Cmd": ["true"]})
    assert status == 404 and msg == "No such image: nosuch:latest"
    status, msg = _create(box, {"Image": "busybox", "HostConfig": {"AutoRemove": True,
                                                                   "RestartPolicy": {"Name": "always"}}})  # fmt: skip
    assert status == 409
    assert _ids(box) == []
    # a well-formed one is made, with each value where it belongs
    status, cid = _create(box, {
        "Image": "busybox", "Cmd": ["cat", "/mnt/f"], "Entrypoint": None, "Labels": {"k": "v"},
        "HostConfig": {"Mounts": [{"Type": "bind", "Source": str(secret), "Target": "/mnt", "ReadOnly": True}],
                       "AutoRemove": False, "Memory": 64 << 20, "NanoCpus": 500_000_000},
    })  # fmt: skip
    assert status == 201, cid
    (secret / "f").write_text("from the bind\n")
    doc = box.get_json(f"/containers/{cid}/json")
    assert doc["HostConfig"]["Memory"] == 64 << 20 and doc["Config"]["Labels"] == {"k": "v"}
    r = box.docker("start", "-a", cid)
    assert r.out == "from the bind\n", r.err
    box.docker("rm", cid)


def test_attach_before_start_misses_nothing_and_one_never_started_ends(box: Engine) -> None:
    """An attach made before the start (as `docker run` does) gets the first
    line; one whose container is removed before it started ends."""
    status, cid = _create(box, {"Image": "busybox", "Cmd": ["echo", "first"], "AttachStdout": True})
    assert status == 201
    s = _attach(box, cid)
    assert box.request("POST", f"/containers/{cid}/start")[0] == 204
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x06first\n"  # one stdcopy frame, then the end
    status, _, body = box.request("POST", f"/containers/{cid}/wait")
    assert status == 200 and json.loads(body) == {"StatusCode": 0, "Error": None}
    assert box.request("POST", f"/containers/{cid}/start")[0] == 204  # it had exited: started again
    assert box.request("POST", f"/containers/{cid}/wait")[0] == 200
    assert box.request("DELETE", f"/containers/{cid}")[0] == 204
    # an attach waiting for a start that will not come: the container removed, the stream ends
    status, cid = _create(box, {"Image": "busybox", "Cmd": ["true"]})
    s = _attach(box, cid)
    assert box.request("DELETE", f"/containers/{cid}")[0] == 204
    s.settimeout(10)
    assert s.recv(100) == b""  # closed, well before the 300 s a pending attach may wait
    s.close()

    def rounds(n: int) -> int:
        for _ in range(n):
            _, cid = _create(box, {"Image": "busybox", "Cmd": ["true"]})
            s = _attach(box, cid)
            assert box.request("DELETE", f"/containers/{cid}")[0] == 204
            assert s.recv(100) == b""  # the service let it go
            s.close()
        time.sleep(0.5)
        return len(os.listdir(f"/proc/{box.proc.pid}/fd"))

    warm = rounds(3)
    # no socket pair, no database connection left behind per request (ten
    # rounds would leave ten); a loaded machine may need a second worker
    # thread, with its own database connection, for an overlapping request
    assert rounds(10) <= warm + 4


def _attach(e: Engine, cid: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(e.socket)
    s.sendall(f"POST /containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED") and b"Upgrade: tcp" in head
    return s


def test_an_auth_header_is_used_for_that_request_alone(engine: Engine) -> None:
    """X-Registry-Auth's decoding: base64url JSON; anything else a 400."""
    good = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode().rstrip("=")
    from ketch.api.images import decode_auth

    assert decode_auth(good) == {"username": "u", "password": "p"}
    status, _, body = engine.request("POST", "/images/create?fromImage=busybox",
                                     headers={"X-Registry-Auth": base64.b64encode(b"[1]").decode()})  # fmt: skip
    assert status == 400 and b"not a JSON object" in body


def test_exec_through_the_socket(box: Engine) -> None:
    """docker exec: output and exit codes, piped stdin, -w and -e, -d, a
    command that is not there (126, its reason in the stream), and under a
    real pty with -t; each exec's ExitCode in its inspect."""
    assert box.docker("run", "-d", "--name", "shell", "busybox", "sleep", "60").rc == 0
    r = box.docker("exec", "shell", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.rc, r.out, r.err) == (5, "out\n", "err\n")
    r = box.docker("exec", "-i", "shell", "sh", "-c", "read x; echo got $x", input="line\n")
    assert (r.rc, r.out) == (0, "got line\n")
    r = box.docker("exec", "-w", "/tmp", "-e", "WHO=exec", "shell", "sh", "-c", 'echo "$(pwd) $WHO"')
    assert r.out == "/tmp exec\n"
    r = box.docker("exec", "shell", "nosuchcmd")
    assert r.rc == 126 and "nosuchcmd" in r.err and "executable file not found" in r.err
    assert box.docker("exec", "-d", "shell", "sh", "-c", "echo detached > /tmp/mark").rc == 0
    assert box.docker("exec", "shell", "cat", "/tmp/mark").out == "detached\n"
    r = subprocess.run(["script", "-qec", "docker exec -t shell sh -c 'tty; exit 4'", "/dev/null"],
                       capture_output=True, text=True, env=box.env(), timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert r.returncode == 4 and "/dev/pts/" in r.stdout, (r.stdout, r.stderr)
    # the API's own view: create, start, inspect
    status, _, body = box.request("POST", "/containers/shell/exec",
                                  {"Cmd": ["sh", "-c", "exit 9"], "AttachStdout": True})  # fmt: skip
    assert status == 201
    xid = json.loads(body)["Id"]
    assert box.get_json(f"/exec/{xid}/json")["Running"] is False
    status, _, _ = box.request("POST", f"/exec/{xid}/start", {"Detach": False, "Tty": False})
    assert status == 200
    doc = box.get_json(f"/exec/{xid}/json")
    assert doc["ExitCode"] == 9 and doc["Running"] is False and doc["ProcessConfig"]["entrypoint"] == "sh"
    status, _, _ = box.request("POST", f"/exec/{xid}/start", {"Detach": False})
    assert status == 409  # an exec runs once
    assert box.request("GET", "/exec/" + "0" * 64 + "/json")[0] == 404
    status, _, body = box.request("POST", "/containers/shell/exec", {"Cmd": []})
    assert status == 400
    assert box.docker("rm", "-f", "shell").rc == 0
    status, _, body = box.request("POST", "/containers/shell/exec", {"Cmd": ["true"]})
    assert status == 404 and b"No such container: shell" in body


@pytest.fixture
def netted(ketch: Ketch) -> Iterator[Engine]:
    """A service whose networks are bridges of this test's own (own names, own chains), all removed afterwards."""
    from support.engine import start_engine, stop_engine
    from support.net import remove_networks

    prefix = f"ka{os.getpid() % 10000}n"
    ketch.env.update({"KETCH_BRIDGE_PREFIX": prefix, "KETCH_CHAIN_PREFIX": "KAPI", "KETCH_DEFAULT_NETWORK": "bridge"})
    ketch.import_busybox("busybox")
    e = start_engine(ketch)
    try:
        yield e
    finally:
        stop_engine(e)
        remove_networks(ketch, prefix, "KAPI")


def test_networks_and_volumes_through_the_socket(netted: Engine) -> None:
    e = netted
    r = e.docker("network", "create", "--label", "team=api", "--subnet", "10.231.7.0/24", "labnet")
    assert r.rc == 0, r.err
    nid = r.out.strip()
    assert e.docker("network", "ls", "-q", "--filter", "label=team=api", "--no-trunc").out.split() == [nid]
    doc = json.loads(e.docker("network", "inspect", "labnet").out)[0]
    assert doc["Labels"] == {"team": "api"} and doc["IPAM"]["Config"][0]["Subnet"] == "10.231.7.0/24"
    r = e.docker("network", "create", "labnet")
    assert r.rc == 1 and "already exists" in r.err
    assert e.docker("volume", "create", "--label", "keep=yes", "data").out.strip() == "data"
    vols = json.loads(e.docker("volume", "ls", "--format", "{{json .}}").out.splitlines()[0])
    assert vols["Name"] == "data" and vols["Labels"] == "keep=yes"
    r = e.docker("run", "--rm", "--network", "labnet", "--network-alias", "db", "-v", "data:/data", "busybox",
                 "sh", "-c", "echo kept > /data/f; ip -4 addr show eth0 | grep -o '10.231.7.[0-9]*'")  # fmt: skip
    assert r.rc == 0 and r.out.startswith("10.231.7."), r.err
    r = e.docker("run", "--rm", "-v", "data:/data", "busybox", "cat", "/data/f")
    assert r.out == "kept\n"
    doc = json.loads(e.docker("volume", "inspect", "data").out)[0]
    assert doc["Labels"] == {"keep": "yes"} and doc["CreatedAt"][:2] == "20"
    www = Path(e.ketch.root.parent / "www")
    www.mkdir()
    (www / "index.html").write_text("published\n")
    r = e.docker("run", "-d", "--name", "pub", "-p", "127.0.0.1::80", "-v", f"{www}:/www:ro", "busybox",
                 "httpd", "-f", "-p", "80", "-h", "/www")  # fmt: skip
    assert r.rc == 0, r.err
    line = e.docker("port", "pub", "80").out.strip()
    assert line.startswith("127.0.0.1:"), line
    assert wait_for(lambda: _fetch(f"http://{line}/") == "published\n", timeout=15)
    assert f"{line}->80/tcp" in e.docker("ps", "--format", "{{.Ports}}").out
    # connect: a running container at once, a created one kept for its start; hostile values a 400
    r = e.docker("network", "connect", "--alias", "web2", "--ip", "10.231.7.50", "labnet", "pub")
    assert r.rc == 0, r.err
    assert "inet 10.231.7.50/24" in e.docker("exec", "pub", "sh", "-c", "ip -4 addr show eth1").out
    assert e.docker("create", "--name", "late", "busybox", "true").rc == 0
    for cfg in ({"Aliases": ["x\n10.9.9.9 evil"]}, {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}, {"Aliases": [7]}):
        status, _, body = e.request("POST", "/networks/labnet/connect", {"Container": "late", "EndpointConfig": cfg})
        assert status == 400 and json.loads(body)["message"], (cfg, status, body)
    status, _, body = e.request("POST", "/networks/nosuchnet/connect", {"Container": "late"})
    assert status == 404, body
    assert e.docker("network", "connect", "--alias", "late2", "labnet", "late").rc == 0
    doc = json.loads(e.docker("inspect", "late").out)[0]["NetworkSettings"]["Networks"]
    assert doc["labnet"]["Aliases"][0] == "late2", doc  # (and its short id, below API 1.45)
    assert e.docker("network", "disconnect", "labnet", "pub").rc == 0
    assert "eth1" not in e.docker("exec", "pub", "sh", "-c", "ls /sys/class/net").out.split()
    assert e.docker("rm", "-f", "pub", "late").rc == 0
    assert e.docker("volume", "rm", "data").rc == 0
    assert e.docker("volume", "ls", "-q").out == ""
    assert e.docker("network", "rm", "labnet").rc == 0
    assert e.docker("network", "inspect", "labnet").rc == 1
    assert e.ketch("network", "ls", "--format", "{{.Name}}").out.split() == ["bridge", "host", "none"]


def _context(entries: list[Entry]) -> bytes:
    return tar_bytes(entries)


def test_build_through_the_socket(box: Engine, tmp_path: Path) -> None:
    """docker build with the legacy builder (DOCKER_BUILDKIT=0, and docker
    28's fallback when the engine has no BuildKit): Step N/M lines, build
    args, --iidfile from the aux ID, a failing RUN's code, a Dockerfile
    outside the context (the CLI's tar without its end blocks)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nARG WHO=nobody\nRUN echo hello $WHO\nCOPY f /f\n")
    (ctx / "f").write_text("copied\n")
    iid = tmp_path / "iid"
    r = box.docker("build", "-t", "built:1", "--build-arg", "WHO=api", "--iidfile", str(iid), str(ctx),
                   DOCKER_BUILDKIT="0")  # fmt: skip
    assert r.rc == 0, r.err
    assert "Step 1/4 : FROM busybox" in r.out and "hello api\n" in r.out and "Successfully tagged built:1" in r.out
    image_id = iid.read_text()
    assert image_id.startswith("sha256:") and json.loads(box.ketch("inspect", "built:1").out)[0]["Id"] == image_id
    assert box.docker("run", "--rm", "built:1", "cat", "/f").out == "copied\n"
    r = box.docker("build", "-q", str(ctx), DOCKER_BUILDKIT="0")
    assert r.rc == 0 and r.out.strip().startswith("sha256:")
    r = box.docker("build", str(ctx))  # docker 28 without DOCKER_BUILDKIT: Builder-Version 1, the legacy path
    assert r.rc == 0 and "Using cache" in r.out, r.err
    (tmp_path / "outside.Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    r = box.docker("build", "-f", str(tmp_path / "outside.Dockerfile"), str(ctx), DOCKER_BUILDKIT="0")
    assert r.rc == 3 and "returned a non-zero code: 3" in r.err, (r.out, r.err)


def test_a_hostile_build_context_changes_nothing_on_the_host(box: Engine, tmp_path: Path) -> None:
    """A Dockerfile named outside the context (../, absolute, a symlink out)
    is refused before it is read; a context whose entries climb out is
    refused by the extractor; nothing is written outside the store."""
    plain = [Entry("Dockerfile", data=b"FROM busybox\n")]
    for name in ("../../../../etc/passwd", "/etc/passwd", "link"):
        entries = plain + [Entry("link", "symlink", link="/etc/passwd")]
        status, _, body = box.request("POST", f"/build?dockerfile={name}", _context(entries),
                                      {"Content-Type": "application/x-tar"})  # fmt: skip
        assert status == 400 and b"inside the build context" in body, (name, status, body)
    victim = tmp_path / "victim"
    climbing = plain + [Entry(f"../../../../../../..{victim}", data=b"pwned")]
    status, _, body = box.request("POST", "/build", _context(climbing), {"Content-Type": "application/x-tar"})
    assert status in (200, 400), body  # refused, or confined to the context (the extractor's choice)
    assert not victim.exists()
    assert not [p for p in box.ketch.root.iterdir() if p.name.startswith("api-context-")]  # each one removed
    status, _, body = box.request("POST", "/build?remote=https://example.com/x.git", b"")
    assert status == 400
    status, _, body = box.request("POST", "/build?networkmode=container:x", _context(plain))
    assert status == 400


def test_events_df_and_prunes(box: Engine) -> None:
    """docker events (streamed as they come, with filters; the past with
    --since/--until), system df's sums, and the prunes system prune calls."""
    p = subprocess.Popen([DOCKER28, "events", "--filter", "type=container", "--filter", "event=die", "--format",
                          "{{.Status}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=box.env())  # fmt: skip
    try:
        time.sleep(1.0)
        assert box.docker("run", "--rm", "--name", "dies", "busybox", "sh", "-c", "exit 2").rc == 2
        assert p.stdout is not None
        assert p.stdout.readline() == "die dies 2\n"  # streamed at once, before the client stops
    finally:
        p.kill()
        p.wait()
    time.sleep(1.1)  # the CLI sends --until in whole seconds: this second's events are after it
    r = box.docker("events", "--since", "60s", "--until", "0s", "--format", "{{.Type}} {{.Action}}")
    assert r.rc == 0 and "container start" in r.out.splitlines() and "container destroy" in r.out.splitlines()
    assert box.docker("run", "-d", "--name", "idle", "busybox", "sleep", "60").rc == 0
    rows = {ln.split()[0]: ln.split() for ln in box.docker("system", "df").out.splitlines()[1:]}
    assert rows["Images"][1:3] == ["1", "1"] and rows["Containers"][1:3] == ["1", "1"], rows
    box.docker("rm", "-f", "idle")
    assert box.docker("run", "--name", "stopped", "busybox", "true").rc == 0
    assert box.docker("create", "--name", "tagged", "-l", "keep=yes", "busybox", "true").rc == 0
    r = box.docker("container", "prune", "-f", "--filter", "label!=keep")  # prune filters reach the library
    assert r.rc == 0, r.err
    assert box.docker("ps", "-a", "--format", "{{.Names}}").out.split() == ["tagged"], r.out
    r = box.docker("container", "prune", "-f", "--filter", "bogus=1")
    assert r.rc == 1 and "invalid filter 'bogus'" in r.err, r.err
    assert box.docker("container", "prune", "-f", "--filter", "label=keep=yes").rc == 0
    status, _, body = box.request("POST", '/images/prune?filters={"dangling":["maybe"]}')
    assert status == 400 and b"invalid filter" in body, body
    assert box.docker("run", "--name", "stopped", "busybox", "true").rc == 0
    r = box.docker("system", "prune", "-f")
    assert r.rc == 0 and "Deleted Containers:" in r.out, r.err
    assert box.ketch("ps", "-aq").out == ""
    r = box.docker("image", "prune", "-a", "-f")
    assert r.rc == 0 and "deleted: sha256:" in r.out
    assert box.ketch("images", "-q").out == ""


def test_docker_py_drives_ketch(box: Engine, registry: RunningRegistry, tmp_path: Path) -> None:
    """docker-py (the `docker` package): containers.run detached and not,
    logs, exec_run, images.pull/build/push, networks, volumes."""
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=box.host, timeout=60)
    try:
        assert client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True) == b"out\n"
        ct = client.containers.run("busybox", ["sh", "-c", "echo up; exec sleep 60"], detach=True, name="pyc",
                                   labels={"by": "docker-py"}, environment={"K": "v"})  # fmt: skip
        assert wait_for(lambda: ct.logs() == b"up\n")
        assert ct.exec_run(["sh", "-c", "echo $K; exit 3"]) == (3, b"v\n")
        assert [c.name for c in client.containers.list(filters={"label": "by=docker-py"})] == ["pyc"]
        ct.reload()
        assert ct.status == "running" and ct.attrs["Config"]["Labels"] == {"by": "docker-py"}
        ct.stop(timeout=1)
        assert ct.wait()["StatusCode"] == 137
        ct.remove()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get("pyc")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("nosuch:latest")
        import io

        img, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo built > /b\n"), tag="pyimg:1")
        assert any("Successfully built" in x.get("stream", "") for x in logs)
        assert client.containers.run("pyimg:1", ["cat", "/b"], remove=True) == b"built\n"
        target = f"{registry.addr}/api/pyimg"
        assert img.tag(target, "v1")
        lines = list(client.images.push(target, "v1", stream=True, decode=True))
        assert any("aux" in x and x["aux"]["Digest"].startswith("sha256:") for x in lines), lines
        client.images.remove(f"{target}:v1")
        pulled = client.images.pull(target, tag="v1")
        assert pulled.id == img.id
        net = client.networks.create("pynet", labels={"a": "b"})
        assert client.networks.get("pynet").attrs["Labels"] == {"a": "b"}
        net.remove()
        vol = client.volumes.create("pyvol", labels={"a": "b"})
        assert [v.name for v in client.volumes.list()] == ["pyvol"]
        vol.remove()
    finally:
        client.close()


COMPOSE = """\
version: "3.8"
services:
  web:
    build: ./app
    image: kproj-web:latest
    restart: unless-stopped
    volumes:
      - www:/www
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"]
      interval: 1s
      timeout: 2s
      retries: 30
    networks:
      default:
      back:
        aliases: [api]
  client:
    image: busybox
    command: ["sh", "-c", "wget -q -O - http://web:8080/ && wget -q -O - http://api:8080/ && exec sleep 120"]
    depends_on:
      web:
        condition: service_healthy
    networks: [back]
volumes:
  www:
networks:
  back:
"""

WEB = """\
FROM busybox
CMD ["sh", "-c", "echo hello from web > /www/index.html; exec httpd -f -p 8080 -h /www"]
"""


def test_docker_compose_brings_a_project_up_and_down(netted: Engine, tmp_path: Path) -> None:
    """docker-compose 1.29 (Debian's, on docker-py): two services, the web
    server on two networks (the second joined before its start, as compose
    connects it) and the client on the second only, reaching the server by
    its service name and by its alias there; a named volume, a build, a
    healthcheck that the client's depends_on waits for, a restart policy;
    ps, logs, exec, down -v."""
    import shutil

    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    proj = tmp_path / "proj"
    (proj / "app").mkdir(parents=True)
    (proj / "docker-compose.yml").write_text(COMPOSE)
    (proj / "app" / "Dockerfile").write_text(WEB)

    def dc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([compose, "-p", "kproj", *args], cwd=proj, capture_output=True, text=True,
                              env=netted.env(), timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip

    try:
        r = dc("up", "-d")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: dc("logs", "client").stdout.count("hello from web") == 2, timeout=30)
        r = dc("ps")
        assert "Up (healthy)" in r.stdout and "kproj_client_1" in r.stdout, r.stdout
        r = dc("exec", "-T", "web", "cat", "/www/index.html")
        assert (r.returncode, r.stdout) == (0, "hello from web\n"), r.stderr
        doc = json.loads(netted.ketch("inspect", "kproj_web_1").out)[0]
        assert doc["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert doc["Config"]["Labels"]["com.docker.compose.service"] == "web"
        nets = doc["NetworkSettings"]["Networks"]
        assert sorted(nets) == ["kproj_back", "kproj_default"] and "api" in nets["kproj_back"]["Aliases"], nets
        assert netted.ketch("volume", "ls", "-q").out.split() == ["kproj_www"]
    finally:
        r = dc("down", "-v")
    assert r.returncode == 0, r.stderr
    assert netted.ketch("ps", "-aq").out == "" and netted.ketch("volume", "ls", "-q").out == ""
    assert "kproj_" not in netted.ketch("network", "ls").out


def test_testcontainers_waits_for_a_published_port_and_a_log_line(netted: Engine) -> None:
    """testcontainers-python (its reaper off): a generic container with a
    published port found through inspect, a log wait strategy, the port
    reached from the host, the container removed at the end."""
    pytest.importorskip("testcontainers")
    env = {"DOCKER_HOST": netted.host, "TESTCONTAINERS_RYUK_DISABLED": "true"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        c = DockerContainer("busybox").with_exposed_ports(8080)
        c = c.with_command(["sh", "-c", "mkdir /w && echo served > /w/index.html && echo ready && "
                                        "exec httpd -f -p 8080 -h /w"])  # fmt: skip
        with c:
            wait_for_logs(c, "ready", timeout=30)
            host, port = c.get_container_host_ip(), c.get_exposed_port(8080)
            url = f"http://{'127.0.0.1' if host == 'localhost' else host}:{port}/"
            assert wait_for(lambda: _fetch(url) == "served\n", timeout=15), url
            cid = c.get_wrapped_container().id
        assert cid not in netted.ketch("ps", "-aq", "--no-trunc").out
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fetch(url: str) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return None


@pytest.mark.parametrize("client", [DOCKER28, DOCKER20], ids=["docker28", "docker20"])
def test_both_docker_clients_do_the_daily_work(box: Engine, client: str, tmp_path: Path) -> None:
    """The static docker 28 and Debian's docker 20.10 client: version, run
    (--rm, -i, -d, -e, --name), ps, exec, logs, stop, rm, a legacy build,
    tag, rmi, with the exit codes ketch's own CLI gives for the same work."""
    r = box.docker("version", "--format", "{{.Server.APIVersion}}", client=client)
    assert (r.rc, r.out.strip()) == (0, "1.44")
    assert box.docker("run", "--rm", "-e", "X=1", "busybox", "sh", "-c", "echo $X; exit 7", client=client).rc == 7
    assert box.ketch("run", "--rm", "busybox", "sh", "-c", "exit 7").rc == 7  # the same code as ketch's own
    r = box.docker("run", "-i", "--rm", "busybox", "cat", client=client, input="stdin\n")
    assert r.out == "stdin\n"
    assert box.docker("run", "-d", "--name", "daily", "busybox", "sh", "-c", "echo log; exec sleep 60",
                      client=client).rc == 0  # fmt: skip
    assert box.docker("ps", "--format", "{{.Names}}", client=client).out.split() == ["daily"]
    assert box.docker("exec", "daily", "echo", "in", client=client).out == "in\n"
    assert wait_for(lambda: box.docker("logs", "daily", client=client).out == "log\n")
    assert box.docker("stop", "-t", "1", "daily", client=client).rc == 0
    assert box.docker("rm", "daily", client=client).rc == 0
    r = box.docker("rm", "daily", client=client)
    assert r.rc == 1 and "No such container: daily" in r.err
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo layer > /l\n")
    r = box.docker("build", "-t", "daily:1", str(tmp_path), client=client, DOCKER_BUILDKIT="0")
    assert r.rc == 0 and "Successfully tagged daily:1" in r.out, r.err
    assert box.docker("tag", "daily:1", "daily:2", client=client).rc == 0
    assert box.docker("rmi", "daily:1", "daily:2", client=client).rc == 0
    assert box.ketch("images", "--format", "{{.Repository}}").out.split() == ["busybox"]


def test_a_terminal_logs_follow_and_the_socket_inside_a_container(box: Engine) -> None:
    """docker run -it under a real pty (script), logs -f until the container
    ends, and the static docker CLI inside a container that has the socket
    bind-mounted (as reaper-style tools run)."""
    r = subprocess.run(["script", "-qec", "docker run -it --rm busybox sh -c 'tty; exit 3'", "/dev/null"],
                       capture_output=True, text=True, env=box.env(), timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    assert r.returncode == 3 and "/dev/pts/" in r.stdout, (r.stdout, r.stderr)
    assert box.docker("run", "-d", "--name", "talker", "busybox", "sh", "-c",
                      "echo one; sleep 1; echo two >&2; sleep 1; echo three").rc == 0  # fmt: skip
    r = box.docker("logs", "-f", "talker", timeout=30)
    assert (r.rc, r.out, r.err) == (0, "one\nthree\n", "two\n")
    r = box.docker("run", "--rm", "-v", f"{box.socket}:/var/run/docker.sock", "-v", f"{DOCKER28}:/usr/bin/docker:ro",
                   "busybox", "/usr/bin/docker", "ps", "-a", "--format", "{{.Names}}")  # fmt: skip
    assert r.rc == 0 and "talker" in r.out.split(), (r.out, r.err)
    assert box.docker("rm", "talker").rc == 0


def test_docker_cp_both_ways_and_hostile_archives(box: Engine, tmp_path: Path) -> None:
    """docker cp out (a directory, a file to stdout) and in (into a
    directory, under a new name), the path stat header; an uploaded tar that
    climbs out, and a container symlink aimed at the host's root, change
    nothing on the host."""
    assert box.docker("run", "-d", "--name", "files", "busybox", "sh", "-c",
                      "mkdir -p /d/sub && echo a > /d/a && ln -s / /d/up && exec sleep 60").rc == 0  # fmt: skip
    assert wait_for(lambda: box.docker("exec", "files", "sh", "-c", "[ -L /d/up ]").rc == 0)
    out = tmp_path / "out"
    out.mkdir()
    assert box.docker("cp", "files:/d", str(out)).rc == 0
    assert (out / "d" / "a").read_text() == "a\n" and (out / "d" / "sub").is_dir()
    assert os.readlink(out / "d" / "up") in ("/", "//")  # a symlink copied as one, not followed (cp.rs writes //)
    host = tmp_path / "host.txt"
    host.write_text("from the host\n")
    assert box.docker("cp", str(host), "files:/d/").rc == 0
    assert box.docker("cp", str(host), "files:/d/renamed").rc == 0
    assert box.docker("exec", "files", "cat", "/d/host.txt", "/d/renamed").out == "from the host\n" * 2
    status, headers, _ = box.request("HEAD", "/containers/files/archive?path=/d/a")
    stat = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    assert status == 200 and stat["name"] == "a" and stat["size"] == 2
    r = box.docker("cp", "files:/nosuch", str(out))
    assert r.rc == 1 and "Could not find the file /nosuch" in r.err
    # hostile: an entry that climbs out of the upload, and a symlink in the container aimed at /
    victim = tmp_path / "climbed"
    climbing = tar_bytes([Entry(f"../../../../../../..{victim}", data=b"pwned"), Entry("plain", data=b"ok")])
    status, _, body = box.request("PUT", "/containers/files/archive?path=/d", climbing,
                                  {"Content-Type": "application/x-tar"})  # fmt: skip
    assert not victim.exists() and status in (200, 400), body
    marker = f"ketch-cp-{os.getpid()}"
    status, _, body = box.request("PUT", "/containers/files/archive?path=/d/up", tar_bytes([Entry(marker, data=b"x")]),
                                  {"Content-Type": "application/x-tar"})  # fmt: skip
    assert status == 200, body
    assert not Path("/" + marker).exists()  # the container's / got it, not the host's
    assert box.docker("exec", "files", "cat", "/" + marker).out == "x"
    assert box.docker("rm", "-f", "files").rc == 0


def test_stats_update_and_export(box: Engine) -> None:
    """docker stats --no-stream (CPU from dockerd's cpu and system deltas,
    the memory limit), docker update of a running container's limits,
    docker export's tar of its filesystem."""
    assert box.docker("run", "-d", "--name", "busy", "-m", "64m", "busybox", "sh", "-c",
                      "echo x > /marker; while :; do :; done").rc == 0  # fmt: skip
    r = box.docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", "busy", timeout=60)
    name, cpu, usage = r.out.split(" ", 2)
    assert name == "busy" and float(cpu.rstrip("%")) > 10 and usage.endswith("/ 64MiB\n"), r.out
    assert box.docker("update", "--memory", "128m", "--cpus", "0.5", "busy").rc == 0
    r = box.docker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "busy")
    assert r.out.split() == [str(128 << 20), "500000000"]
    p = subprocess.run([DOCKER28, "export", "busy"], capture_output=True, env=box.env(), timeout=60)
    import io
    import tarfile

    names = tarfile.open(fileobj=io.BytesIO(p.stdout)).getnames()
    assert p.returncode == 0 and "marker" in names and "bin/busybox" in names
    assert box.docker("rm", "-f", "busy").rc == 0


def test_the_services_own_environment_never_reaches_a_container(ketch: Ketch) -> None:
    """An Env entry without `=` is the client's to fill (docker's CLI does);
    the service, root, never fills it from its own environment."""
    from support.engine import start_engine, stop_engine

    ketch.env["KETCH_TEST_SECRET"] = "hunter2"
    ketch.import_busybox("busybox")
    e = start_engine(ketch)
    try:
        status, cid = _create(e, {"Image": "busybox", "Cmd": ["env"], "Env": ["KETCH_TEST_SECRET", "KETCH_ROOT"]})
        assert status == 201
        assert e.request("POST", f"/containers/{cid}/start")[0] == 204
        e.request("POST", f"/containers/{cid}/wait")
        logs = e.ketch("logs", cid).out
        assert "hunter2" not in logs and "KETCH_ROOT" not in logs and "KETCH_TEST_SECRET" not in logs
        e.ketch("rm", cid)
        assert e.docker("run", "-d", "--name", "ex", "busybox", "sleep", "30").rc == 0
        status, _, body = e.request("POST", "/containers/ex/exec", {"Cmd": ["env"], "Env": ["KETCH_TEST_SECRET"],
                                                                     "AttachStdout": True})  # fmt: skip
        xid = json.loads(body)["Id"]
        _, _, out = e.request("POST", f"/exec/{xid}/start", {"Detach": False})
        assert b"hunter2" not in out and b"HOSTNAME=" in out
        e.ketch("rm", "-f", "ex")
    finally:
        stop_engine(e)


def _threads(e: Engine) -> int:
    return len(os.listdir(f"/proc/{e.proc.pid}/task"))


def test_streams_whose_client_went_away_end(box: Engine) -> None:
    """An attach and a logs -f on a quiet container, their clients gone:
    their threads end (the service does not fill up with them); logs -f
    sends its head at once; starts at once give one 204, the rest 304;
    a paused container's start is a 409."""
    assert box.docker("run", "-d", "--name", "quiet", "busybox", "sleep", "120").rc == 0
    box.request("GET", "/_ping")
    time.sleep(0.5)
    base = _threads(box)
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX)
        s.connect(box.socket)
        s.sendall(b"POST /containers/quiet/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")  # fmt: skip
        s.recv(200)
        s.close()
        c = UnixHTTP(box.socket, timeout=5)
        c.request("GET", "/containers/quiet/logs?follow=1&stdout=1")
        r = c.getresponse()  # the head at once, with no line logged yet
        assert r.status == 200
        c.close()
    # each ended: back to the warm workers (idle ones are kept, so allow the three reused)
    assert wait_for(lambda: _threads(box) <= base + 3, timeout=10), (_threads(box), base)
    assert box.docker("pause", "quiet").rc == 0
    assert box.request("POST", "/containers/quiet/start")[0] == 409
    box.docker("rm", "-f", "quiet")
    status, cid = _create(box, {"Image": "busybox", "Cmd": ["sleep", "30"]})
    results: list[int] = []

    def start() -> None:
        results.append(box.request("POST", f"/containers/{cid}/start")[0])

    import threading

    ts = [threading.Thread(target=start) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == [204, 304, 304, 304], results
    box.ketch("rm", "-f", cid)


def test_create_refuses_what_would_open_host_files_or_break_names(box: Engine, tmp_path: Path) -> None:
    """SecurityOpt seccomp= takes a profile's JSON (as docker's CLI sends
    it), never a path the service would open; a name or a volume with a
    newline; a value of the wrong type: 400, nothing made."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for opt in ("seccomp=/etc/shadow", f"seccomp={fifo}", "seccomp=/dev/zero"):
        status, msg = _create(box, {"Image": "busybox", "HostConfig": {"SecurityOpt": [opt]}})
        assert status == 400 and "JSON" in msg, (opt, status, msg)
    status, _, body = box.request("POST", "/volumes/create", {"Name": "evil\n"})
    assert status >= 400, body
    status, msg = _create(box, {"Image": "busybox", "HostConfig": {"Binds": ["evil\n:/data"]}})
    assert status == 400
    status, _, body = box.request("POST", "/containers/create?name=web%0A", {"Image": "busybox"})
    assert status == 400
    status, msg = _create(box, {"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "a"}]}})
    assert status == 400
    assert _ids(box) == [] and box.ketch("volume", "ls", "-q").out == ""
    profile = tmp_path / "allow.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    r = box.docker("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "echo", "profiled")
    assert (r.rc, r.out) == (0, "profiled\n"), r.err
    assert not [p for p in (box.ketch.root / "tmp").glob("seccomp-*")]  # the profile's file went with the create


def test_attach_to_a_container_without_a_monitor_follows_its_log(box: Engine) -> None:
    """A container run in the foreground by ketch's own CLI has no monitor's
    attach socket: docker attach follows its log instead, to its end."""
    p = box.ketch.popen("run", "--name", "fg", "busybox", "sh", "-c", "sleep 1; echo late; sleep 1; echo later")
    try:
        assert wait_for(lambda: box.ketch("ps", "-q", "--filter", "name=fg").out.strip() != "")
        r = box.docker("attach", "fg", timeout=30)
        assert r.out.endswith("later\n") and "late\n" in r.out, (r.out, r.err)
    finally:
        p.wait(30)
    assert box.ketch("rm", "fg").rc == 0
