"""`ketch build`: docker's legacy builder output, one image per step, the
cache, COPY/ADD rules, multi-stage builds, and a context that cannot leak
host files. Real builds from a busybox image made offline."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root


@pytest.fixture
def build_base(ketch: Ketch, tmp_path: Path) -> str:
    ketch.import_busybox("lab/busybox")
    return "lab/busybox"


def context(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return ctx


def targz(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data.encode()))
    return buf.getvalue()


SEED = """FROM lab/busybox
MAINTAINER Example "example@example.com"
WORKDIR /app
COPY src/ /app/src/
ADD arch.tar.gz /app/extracted/
RUN echo 'Hi, I am in your container' > /app/index.html
ENV GREETING=hello
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/app"]
"""


def test_the_seed_example_then_from_cache(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    ctx = context(
        tmp_path, SEED, {"src/a.txt": "a\n", "src/sub/b.txt": "b\n", "arch.tar.gz": targz({"x": "in-archive\n"})}
    )
    r = ketch("build", "-t=static_web", str(ctx))  # -t="static_web" once the shell has read it
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    steps = [ln for ln in lines if ln.startswith("Step ")]
    assert steps[0] == "Step 1/9 : FROM lab/busybox"
    assert steps[5] == "Step 6/9 : RUN echo 'Hi, I am in your container' > /app/index.html"
    assert steps[8] == 'Step 9/9 : CMD ["httpd", "-f", "-p", "80", "-h", "/app"]'
    assert any(re.fullmatch(r" ---> Running in [0-9a-f]{12}", ln) for ln in lines)
    assert any(re.fullmatch(r"Removing intermediate container [0-9a-f]{12}", ln) for ln in lines)
    assert (
        re.fullmatch(r"Successfully built [0-9a-f]{12}", lines[-2])
        and lines[-1] == "Successfully tagged static_web:latest"
    )
    built = lines[-2].split()[-1]
    r = ketch(
        "run",
        "--rm",
        "static_web",
        "sh",
        "-c",
        "cat /app/index.html /app/src/a.txt /app/src/sub/b.txt /app/extracted/x; echo $GREETING; pwd",
    )
    assert r.out == "Hi, I am in your container\na\nb\nin-archive\nhello\n/app\n", r.err
    info = json.loads(ketch("image", "inspect", "static_web").out)[0]
    assert info["Config"]["Cmd"] == ["httpd", "-f", "-p", "80", "-h", "/app"]
    assert info["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert info["Author"] == 'Example "example@example.com"'
    hist = ketch("history", "static_web").out.splitlines()
    assert [row.split()[0] != "<missing>" for row in hist[1:10]] == [True] * 9  # every step's image is here
    # Each step's image is the next one's parent: the intermediates show with -a.
    assert len(ketch("images", "-a", "-q").out.split()) >= 9
    # Again: every step from the cache, the same image.
    r = ketch("build", "-t", "static_web", str(ctx))
    assert r.out.count(" ---> Using cache") == 8 and f"Successfully built {built}" in r.out, r.out
    assert "Running in" not in r.out


def test_cache_follows_content_not_mtime(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM lab/busybox\nCOPY f /f\nRUN cat /f\n", {"f": "one\n"})
    first = ketch("build", "-q", str(ctx)).out.strip()
    os.utime(ctx / "f", (1, 1))  # touch: same content
    assert ketch("build", "-q", str(ctx)).out.strip() == first
    (ctx / "f").chmod(0o600)  # a mode change misses
    second = ketch("build", "-q", str(ctx)).out.strip()
    assert second != first
    st = (ctx / "f").stat()
    (ctx / "f").write_text("two\n")  # same size... different content, same mtime
    os.utime(ctx / "f", ns=(st.st_atime_ns, st.st_mtime_ns))
    r = ketch("build", str(ctx))
    assert "two" in r.out and r.out.count("Using cache") == 0, r.out
    # an instruction change misses from there on; --no-cache rebuilds everything
    (ctx / "Dockerfile").write_text("FROM lab/busybox\nCOPY f /f\nRUN cat /f /f\n")
    r = ketch("build", str(ctx))
    assert r.out.count("Using cache") == 1
    r = ketch("build", "--no-cache", str(ctx))
    assert r.out.count("Using cache") == 0 and "Running in" in r.out


def test_a_failing_step_stops_with_its_code_and_keeps_what_succeeded(
    ketch: Ketch, build_base: str, tmp_path: Path
) -> None:
    ctx = context(tmp_path, 'FROM lab/busybox\nRUN echo one\nRUN sh -c "exit 7"\nRUN echo never\n')
    r = ketch("build", str(ctx))
    assert r.rc == 7
    assert "one\n" in r.out and "never" not in r.out
    assert "The command '/bin/sh -c sh -c \"exit 7\"' returned a non-zero code: 7" in r.err
    good = re.findall(r"---> ([0-9a-f]{12})\n", r.out)[-1]
    assert ketch("run", "--rm", good, "true").rc == 0  # the last good step's image runs
    assert ketch("ps", "-a", "-q").out == ""  # no intermediate container left


def test_parse_errors_are_one_clear_line(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM lab/busybox\nRUNN echo\n")
    r = ketch("build", str(ctx))
    assert r.rc == 1 and r.err == "dockerfile parse error line 2: unknown instruction: RUNN\n"
    (ctx / "Dockerfile").write_text("")
    assert "cannot be empty" in ketch("build", str(ctx)).err


def test_parser_forms(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    df = r"""# syntax=docker/dockerfile:1
# escape=\
ARG BASE=lab/busybox
FROM ${BASE} AS first
ARG WHO=world
ENV GREET="hello ${WHO}" \
    # a comment inside a continuation
    OTHER=${UNSET:-fallback} ALT=${WHO:+set}
run echo "$GREET" \
  && echo $OTHER $ALT > /out
RUN <<EOF
echo from heredoc > /here
EOF
COPY <<EOF /etc/made
made by heredoc
EOF
SHELL ["/bin/sh", "-e", "-c"]
ENTRYPOINT ["cat"]
CMD ["/out"]
"""
    ctx = context(tmp_path, df)
    r = ketch("build", "--build-arg", "WHO=ketch", "-t", "forms", str(ctx))
    assert r.rc == 0, r.err
    assert "hello ketch" in r.out
    assert ketch("run", "--rm", "forms").out == "fallback set\n"
    assert ketch("run", "--rm", "forms", "/here", "/etc/made").out == "from heredoc\nmade by heredoc\n"
    cfg = json.loads(ketch("image", "inspect", "forms").out)[0]["Config"]
    assert "GREET=hello ketch" in cfg["Env"] and cfg["Entrypoint"] == ["cat"] and cfg["Cmd"] == ["/out"]


def test_copy_rules_dockerignore_and_multistage(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    df = """FROM lab/busybox AS build
WORKDIR /w
COPY . /ctx/
COPY *.txt /globbed/
COPY one.txt two.txt /both/
COPY --chown=1000:1000 --chmod=600 one.txt /owned
COPY dir /copied
RUN echo built > /w/artifact
FROM lab/busybox
COPY --from=build /w/artifact /artifact
COPY --from=0 /owned /owned
"""
    files = {
        "one.txt": "1\n", "two.txt": "2\n", "dir/inner/x": "x\n", "secret.key": "no\n",
        "logs/a.log": "no\n", "logs/keep.log": "yes\n", ".dockerignore": "*.key\nlogs\n!logs/keep.log\n",
    }  # fmt: skip
    ctx = context(tmp_path, df, files)
    r = ketch("build", "-t", "multi", "--target", "build", str(ctx))
    assert r.rc == 0, r.err
    r = ketch(
        "run",
        "--rm",
        "multi",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort; ls /globbed /both; stat -c '%u %a' /owned; ls /copied",
    )
    out = r.out.split("\n")
    assert "./secret.key" not in out and "./logs/a.log" not in out and "./logs/keep.log" in out, r.out
    assert "./one.txt" in out and "./dir/inner/x" in out
    assert "1000 600" in out and "inner" in out
    r = ketch("build", "-t", "final", str(ctx))
    assert r.rc == 0, r.err
    assert ketch("run", "--rm", "final", "cat", "/artifact").out == "built\n"
    assert ketch("run", "--rm", "final", "stat", "-c", "%u", "/owned").out == "1000\n"


def test_context_cannot_reach_host_files(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret\n")
    ctx = context(tmp_path, "FROM lab/busybox\nCOPY ../outside.txt /x\n")
    r = ketch("build", str(ctx))
    assert r.rc == 1 and "forbidden path outside the build context" in r.err
    os.symlink(outside, ctx / "link")
    (ctx / "Dockerfile").write_text("FROM lab/busybox\nCOPY link /x\n")
    r = ketch("build", str(ctx))
    assert r.rc == 1 and "forbidden path outside the build context" in r.err
    (ctx / "Dockerfile").write_text("FROM lab/busybox\nCOPY /etc/passwd /x\n")  # absolute: still the context's
    r = ketch("build", str(ctx))
    assert r.rc == 1 and "file not found in build context" in r.err
    # a symlink inside a copied directory is copied as a link, never followed
    (ctx / "d").mkdir()
    os.symlink(outside, ctx / "d" / "l")
    (ctx / "Dockerfile").write_text("FROM lab/busybox\nCOPY d /d\n")
    assert ketch("build", "-t", "links", str(ctx)).rc == 0
    r = ketch("run", "--rm", "links", "sh", "-c", "readlink /d/l; cat /d/l")
    assert r.out == f"{outside}\n" and "host secret" not in r.out
    # an archive with .. entries stays inside the image
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("../../escape.txt", "ok.txt"):
            ti = tarfile.TarInfo(name)
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"hi\n"))
    (ctx / "evil.tar.gz").write_bytes(buf.getvalue())
    (ctx / "Dockerfile").write_text("FROM lab/busybox\nADD evil.tar.gz /deep/dir/\n")
    assert ketch("build", "-t", "evil", str(ctx)).rc == 0
    r = ketch("run", "--rm", "evil", "sh", "-c", "ls /deep/dir; ls /escape.txt /deep/escape.txt 2>&1 | head -c 0")
    assert "ok.txt" in r.out
    assert not any(p.name == "escape.txt" for p in Path(ketch.root).rglob("escape.txt") if "diff" not in str(p))


def test_quiet_iidfile_file_flag_and_stdin_context(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM lab/busybox\nLABEL a=b\n")
    (ctx / "Other.dockerfile").write_text("FROM lab/busybox\nLABEL other=1\n")
    iid = tmp_path / "iid"
    r = ketch("build", "-q", "--iidfile", str(iid), "-f", str(ctx / "Other.dockerfile"), str(ctx))
    assert r.rc == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.out), r.out
    assert iid.read_text() == r.out.strip()
    assert json.loads(ketch("image", "inspect", r.out.strip()).out)[0]["Config"]["Labels"] == {"other": "1"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(ctx / "Dockerfile", "Dockerfile")
    r = ketch("build", "-t", "fromstdin", "-", input=buf.getvalue().decode("latin-1"))
    assert r.rc == 0 and "Successfully tagged fromstdin:latest" in r.out, r.err


def test_onbuild_healthcheck_add_url_and_platform(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "page.tar.gz").write_bytes(targz({"inner": "x\n"}))  # a URL is fetched, never extracted

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(served), **k)  # type: ignore[misc]

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        parent = context(
            tmp_path,
            "FROM lab/busybox\nONBUILD RUN echo triggered > /onbuild\n"
            'HEALTHCHECK --interval=30s --retries=2 CMD ["true"]\n'
            f"ADD http://127.0.0.1:{srv.server_port}/page.tar.gz /dl/\n",
        )
        r = ketch("build", "-t", "parent", str(parent))
        assert r.rc == 0, r.err
        info = json.loads(ketch("image", "inspect", "parent").out)[0]["Config"]
        assert info["OnBuild"] == ["RUN echo triggered > /onbuild"]
        assert info["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30_000_000_000, "Retries": 2}
        assert ketch("run", "--rm", "parent", "stat", "-c", "%a %s", "/dl/page.tar.gz").out.split()[0] == "600"
        child = tmp_path / "child"
        child.mkdir()
        (child / "Dockerfile").write_text("FROM parent\nRUN cat /onbuild\n")
        r = ketch("build", "-t", "child", str(child))
        assert r.rc == 0 and "# Executing 1 build trigger" in r.out and "triggered" in r.out, r.out + r.err
        assert json.loads(ketch("image", "inspect", "child").out)[0]["Config"]["OnBuild"] is None
        (child / "Dockerfile").write_text("FROM --platform=linux/s390x lab/busybox\n")
        r = ketch("build", str(child))
        assert r.rc == 1 and "ketch runs linux/" in r.err
    finally:
        srv.shutdown()
        srv.server_close()


def test_rmi_of_a_built_image_removes_its_intermediates(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    before = set(ketch("images", "-a", "-q").out.split())
    ctx = context(tmp_path, 'FROM lab/busybox\nENV A=1\nRUN echo x > /x\nCMD ["cat", "/x"]\n')
    assert ketch("build", "-t", "gone", str(ctx)).rc == 0
    assert len(set(ketch("images", "-a", "-q").out.split()) - before) == 3
    r = ketch("rmi", "gone")
    assert r.rc == 0 and r.out.count("Deleted: ") >= 3
    assert set(ketch("images", "-a", "-q").out.split()) == before


def _dockerd() -> bool:
    import shutil
    import subprocess

    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _dockerd(), reason="no dockerd answers here (apt-get install docker.io, then start dockerd)")
def test_docker_loads_and_runs_what_ketch_built(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    import subprocess

    ctx = context(tmp_path, 'FROM lab/busybox\nRUN echo from-ketch > /x\nCMD ["cat", "/x"]\n')
    assert ketch("build", "-t", "ketch-test/built:v1", str(ctx)).rc == 0
    out = tmp_path / "built.tar"
    ketch("save", "-o", str(out), "ketch-test/built:v1", check=True)
    try:
        subprocess.run(["docker", "load", "-i", str(out)], check=True, capture_output=True)
        r = subprocess.run(
            ["docker", "run", "--rm", "--net=none", "ketch-test/built:v1"], capture_output=True, text=True
        )
        assert r.stdout == "from-ketch\n", r.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", "ketch-test/built:v1", "lab/busybox"], capture_output=True)


def test_add_archives_of_every_compression_and_config_instructions(
    ketch: Ketch, build_base: str, tmp_path: Path
) -> None:
    import subprocess

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for mode, name in (("w:xz", "a.tar.xz"), ("w:bz2", "b.tar.bz2"), ("w:gz", "c.tgz"), ("w", "d.tar")):
        with tarfile.open(ctx / name, mode) as tf:
            data = f"from {name}\n".encode()
            ti = tarfile.TarInfo(f"{name}.txt")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    plain = ctx / "e.tar"
    with tarfile.open(plain, "w") as tf:
        ti = tarfile.TarInfo("e.tar.txt")
        ti.size = 5
        tf.addfile(ti, io.BytesIO(b"zstd\n"))
    subprocess.run(["zstd", "-q", "-f", str(plain), "-o", str(ctx / "e.tar.zst")], check=True)
    plain.unlink()
    (ctx / "Dockerfile").write_text(
        "FROM lab/busybox\n"
        "WORKDIR /x\nWORKDIR y\n"
        "ADD a.tar.xz b.tar.bz2 c.tgz d.tar e.tar.zst ./\n"
        "ARG LEVEL=3\nRUN echo level=$LEVEL > /level\n"
        'USER web\nVOLUME /data\nSTOPSIGNAL SIGQUIT\nLABEL a=1 b="two words"\n'
    )
    r = ketch("build", "-t", "cfg", str(ctx))
    assert r.rc == 0, r.err
    r = ketch("run", "--rm", "cfg", "sh", "-c", "pwd; cat *.txt /level; id -u")
    assert r.out == "/x/y\nfrom a.tar.xz\nfrom b.tar.bz2\nfrom c.tgz\nfrom d.tar\nzstd\nlevel=3\n1000\n", r.out + r.err
    cfg = json.loads(ketch("image", "inspect", "cfg").out)[0]["Config"]
    assert (cfg["User"], cfg["Volumes"], cfg["StopSignal"], cfg["Labels"]) == (
        "web", {"/data": {}}, "SIGQUIT", {"a": "1", "b": "two words"},
    )  # fmt: skip
    assert not any(e.startswith("LEVEL=") for e in cfg.get("Env") or [])  # build args do not stay in the image


def test_from_a_missing_image_pulls_it_reporting_on_stderr(
    ketch: Ketch, registry: RunningRegistry, tmp_path: Path
) -> None:
    """FROM pulls what the store lacks; the pull's lines go to stderr (with
    -q too), as `run` prints them, and the build's own lines to stdout."""
    from support.imagekit import build, busybox_entries, tar_bytes

    registry.client.push("lab/buildbase", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
    image = f"{registry.addr}/lab/buildbase"
    ctx = context(tmp_path, f"FROM {image}\nRUN echo ran\n")
    r = ketch("build", str(ctx))
    assert r.rc == 0, r.err
    assert r.err.startswith(f"Unable to find image '{image}:latest' locally\nlatest: Pulling from lab/buildbase\n")
    assert "Step" not in r.err and "ran" not in r.err
    assert r.out.startswith(f"Step 1/2 : FROM {image}\n ---> ")
    assert "\nran\n" in r.out and re.search(r"\nSuccessfully built [0-9a-f]{12}\n\Z", r.out)
    ketch("rmi", image, check=True)
    r = ketch("build", "-q", "--pull", str(ctx))
    assert r.rc == 0, r.err
    assert r.err.startswith(f"Unable to find image '{image}:latest' locally\nlatest: Pulling from lab/buildbase\n")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.out)


_LIBRARY_BUILD = """
import json, sys
from ketch.builder.builder import Options, build
from ketch.store import Store

events = []
build(Store(), sys.argv[1], Options(tags=["lab/events"], network="none"), events.append)
with open(sys.argv[2], "w") as f:
    json.dump([[type(e).__name__, {k: v.decode() if isinstance(v, bytes) else v for k, v in vars(e).items()}]
               for e in events], f)
"""


def test_the_library_prints_nothing_and_tells_events(ketch: Ketch, build_base: str, tmp_path: Path) -> None:
    """The builder itself writes nothing to stdout or stderr, a RUN's output
    included: it all comes as events, in docker's order (the CLI prints them)."""
    import subprocess
    import sys

    ctx = context(tmp_path, f"FROM {build_base}\nRUN echo out; echo err >&2\nENV A=1\n")
    got = tmp_path / "events.json"

    def library_build() -> list[tuple[str, dict[str, object]]]:
        p = subprocess.run(
            [sys.executable, "-c", _LIBRARY_BUILD, str(ctx), str(got)], capture_output=True, env=ketch.env, timeout=300
        )
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
        return [(name, fields) for name, fields in json.loads(got.read_text())]

    events = library_build()
    names = [n for n, _ in events]
    assert names == [
        "StepStarted", "StepDone",
        "StepStarted", "ContainerStarted", "StepOutput", "StepOutput", "ContainerRemoved", "StepDone",
        "StepStarted", "StepDone",
        "Built", "Tagged",
    ]  # fmt: skip
    assert events[0][1] == {"n": 1, "total": 3, "instruction": f"FROM {build_base}"}
    assert sorted((f["stream"], f["data"]) for n, f in events if n == "StepOutput") == [(1, "out\n"), (2, "err\n")]
    assert events[3][1]["container_id"] == events[6][1]["container_id"]
    assert events[-2][1]["image_id"] == events[-3][1]["image_id"]
    assert events[-1][1] == {"ref": "lab/events:latest"}
    again = library_build()
    assert [n for n, _ in again] == [
        "StepStarted", "StepDone",
        "StepStarted", "CacheHit", "StepDone",
        "StepStarted", "CacheHit", "StepDone",
        "Built", "Tagged",
    ]  # fmt: skip
    assert again[-2] == events[-2]


def test_workdir_is_a_config_step_or_a_layer_the_same_when_cached(
    ketch: Ketch, build_base: str, tmp_path: Path
) -> None:
    """WORKDIR of a directory the image has (/bin) changes only the config;
    of one it lacks (/made), it adds a layer with it. A cached rebuild takes
    that decision from its cache, not from the image: the same steps hit,
    the same image, the same layers; with --no-cache it is looked up again."""
    ctx = context(tmp_path, "FROM lab/busybox\nWORKDIR /bin\nWORKDIR /made\nRUN pwd > /where\n")

    def layers(image: str) -> list[str]:
        return json.loads(ketch("image", "inspect", image).out)[0]["RootFS"]["Layers"]

    base = len(layers("lab/busybox"))
    first = ketch("build", "-t", "wd", str(ctx))
    assert first.rc == 0, first.err
    assert "Using cache" not in first.out
    one = layers("wd")
    assert len(one) == base + 2  # /made's layer and RUN's; /bin made none
    again = ketch("build", "-t", "wd", str(ctx))
    assert again.rc == 0, again.err
    assert again.out.count("---> Using cache") == 3, again.out
    assert again.out.splitlines()[-2:] == first.out.splitlines()[-2:]  # Successfully built <the same id>, tagged
    assert layers("wd") == one
    cold = ketch("build", "--no-cache", "-t", "wd2", str(ctx))
    assert cold.rc == 0, cold.err
    assert len(layers("wd2")) == base + 2
    assert ketch("run", "--rm", "wd", "cat", "/where").out == "/made\n"
