import pytest

from ketch.errors import ReferenceError_
from ketch.reference import parse

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "given,full,familiar",
    [
        ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("index.docker.io/ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("127.0.0.1:5055/lab/busybox", "127.0.0.1:5055/lab/busybox:latest", "127.0.0.1:5055/lab/busybox:latest"),
        ("localhost/app:v1", "localhost/app:v1", "localhost/app:v1"),
        (f"app@{D}", f"docker.io/library/app@{D}", f"app@{D}"),
        (f"app:v1@{D}", f"docker.io/library/app:v1@{D}", f"app:v1@{D}"),
        ("a.b/c/d/e:t", "a.b/c/d/e:t", "a.b/c/d/e:t"),
    ],
)
def test_normalises_like_docker(given: str, full: str, familiar: str) -> None:
    ref = parse(given)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_digest_wins_over_tag() -> None:
    ref = parse(f"app:v1@{D}")
    assert ref.ident == D


@pytest.mark.parametrize(
    "bad,message",
    [
        ("Not_Valid:ref", "invalid reference format: repository name (library/Not_Valid) must be lowercase"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("app:", "invalid reference format"),
        ("app@sha256:123", "invalid reference format"),
        ("-app", "invalid reference format"),
        ("app:" + "t" * 129, "invalid reference format"),
    ],
)
def test_rejects_what_docker_rejects(bad: str, message: str) -> None:
    with pytest.raises(ReferenceError_, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(bad)
