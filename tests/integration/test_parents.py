"""Parent and child images (what builds make): `images` hides untagged parents,
`images -a` shows them, `rmi` refuses a parent that a child needs and, once the
child goes, deletes the untagged parents that nothing else needs."""

from __future__ import annotations

import json

from ketch.store import Store
from ketch.store import images as imgs
from support.imagekit import build, busybox_entries, tar_bytes
from support.ketch import Ketch, requires_root
from support.registry import RunningRegistry

pytestmark = requires_root


def test_parent_chain(ketch: Ketch, registry: RunningRegistry) -> None:
    registry.client.push("lab/parent", "latest", build([(tar_bytes(busybox_entries()), "gzip")]))
    name = f"{registry.addr}/lab/parent:latest"
    ketch("pull", "-q", name, check=True)
    parent_id = json.loads(ketch("image", "inspect", name).out)[0]["Id"]

    # A child as a build step makes it: the parent's layers and config, one more history entry.
    store = Store(ketch.root)
    cfg = imgs.config(store, parent_id)
    cfg["history"] = [*cfg.get("history", []), {"created_by": '/bin/sh -c #(nop) CMD ["sh"]', "empty_layer": True}]
    child_bytes = json.dumps(cfg).encode()
    from ketch import _native

    child_id = _native.sha256_bytes(child_bytes)
    from ketch.reference import parse

    assert imgs.create_image(store, child_bytes, [], parent=parent_id, tag=parse("child:1")) == child_id
    store.close()

    r = ketch("rmi", parent_id[7:19])
    assert r.rc == 1 and "image has dependent child images" in r.err
    digest = json.loads(ketch("image", "inspect", name).out)[0]["RepoDigests"][0]
    assert ketch("rmi", name).out.splitlines() == [f"Untagged: {name}", f"Untagged: {digest}"]
    # untagged and needed by the child: hidden from `images`, shown by `images -a`
    assert ketch("images", "-q").out.split() == [child_id[7:19]]
    assert set(ketch("images", "-a", "-q").out.split()) == {child_id[7:19], parent_id[7:19]}
    a_rows = [r.split()[:3] for r in ketch("images", "-a").out.splitlines()[1:]]
    assert ["<none>", "<none>", parent_id[7:19]] in a_rows or [
        f"{registry.addr}/lab/parent",
        "<none>",
        parent_id[7:19],
    ] in a_rows

    r = ketch("rmi", "child:1")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "Untagged: child:1"
    assert f"Deleted: {child_id}" in lines and f"Deleted: {parent_id}" in lines
    assert lines.index(f"Deleted: {child_id}") < lines.index(f"Deleted: {parent_id}")
    assert ketch("images", "-a", "-q").out == ""
    assert [p for p in (ketch.root / "layers").iterdir()] == []
