"""`ketch push` against a real registry (Debian's docker-registry on
127.0.0.1): docker's lines, blobs not sent twice, cross-repository
mounts, and what was pushed pulled back by another store and run."""

from __future__ import annotations

import re
from pathlib import Path

from support.imagekit import busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root


def test_push_then_pull_elsewhere(ketch: Ketch, registry: RunningRegistry, tmp_path: Path) -> None:
    ketch.import_busybox("base")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM base\nRUN echo pushed > /msg\nCMD ["cat", "/msg"]\n')
    target = f"{registry.addr}/lab/pushme:v1"
    ketch("build", "-t", target, str(ctx), check=True)

    r = ketch("push", target)
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.addr}/lab/pushme]"
    assert [ln.split(": ", 1)[1] for ln in lines[1:3]] == ["Preparing", "Preparing"]
    assert [ln.split(": ", 1)[1] for ln in lines[3:5]] == ["Pushed", "Pushed"]
    m = re.fullmatch(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", lines[-1])
    assert m, lines
    digest = m.group(1)

    # again: nothing to send
    r = ketch("push", target)
    assert r.out.count("Layer already exists") == 2, r.out
    # to another repository of the same registry: mounted, not uploaded
    other = f"{registry.addr}/team/copy:v2"
    ketch("tag", target, other, check=True)
    r = ketch("push", other)
    assert r.out.count("Mounted from lab/pushme") == 2, r.out
    assert r.out.splitlines()[-1] == f"v2: digest: {digest} size: {m.group(2)}"

    # another store pulls it by digest and runs it
    k2 = Ketch(tmp_path / "store2", tmp_path / "run2")
    r = k2("pull", f"{registry.addr}/lab/pushme@{digest}")
    assert r.rc == 0, r.err
    assert k2("run", "--rm", f"{registry.addr}/lab/pushme@{digest}").out == "pushed\n"


def test_push_errors(ketch: Ketch, registry: RunningRegistry) -> None:
    r = ketch("push", f"{registry.addr}/lab/nothing:here")
    assert r.rc == 1 and "An image does not exist locally with the tag" in r.err
    assert r.err.count("\n") == 1


def test_built_layers_are_gzipped_when_pushed(ketch: Ketch, registry: RunningRegistry, tmp_path: Path) -> None:
    import json
    import urllib.request

    ketch.import_busybox("base2")
    target = f"{registry.addr}/lab/gz:v1"
    ketch("tag", "base2", target, check=True)
    image_id = json.loads(ketch("image", "inspect", target).out)[0]["Id"]
    r = ketch("push", target)
    assert r.rc == 0, r.err
    req = urllib.request.Request(
        f"http://{registry.addr}/v2/lab/gz/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    manifest = json.loads(urllib.request.urlopen(req).read())
    assert [x["mediaType"] for x in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    assert manifest["layers"][0]["size"] < len(tar_bytes(busybox_entries()))  # compressed
    assert manifest["config"]["digest"] == image_id  # the image is the same image
    # the second push finds the gzipped blob already there
    assert "Layer already exists" in ketch("push", target).out


def test_a_layer_larger_than_a_manifest_bound_is_found_already_there(
    ketch: Ketch, registry: RunningRegistry, tmp_path: Path
) -> None:
    """The registry's HEAD of a pushed blob announces its size: a layer above
    the 4 MiB bound on answers read whole is still found already there."""
    import os

    from support.imagekit import Entry

    ketch.import_busybox("big", [Entry("noise", data=os.urandom(6 << 20))])
    target = f"{registry.addr}/lab/big:v1"
    ketch("tag", "big", target, check=True)
    ketch("push", target, check=True)
    r = ketch("push", target)
    assert r.rc == 0 and "Layer already exists" in r.out, r.err
