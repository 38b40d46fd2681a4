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


def _outcome(f: object, s: str, default_tag: bool) -> object:
    try:
        return f(s, default_tag)  # type: ignore[operator]
    except ReferenceError_ as e:
        return ("error", str(e))


@pytest.mark.parametrize(
    "alphabet", ["ab09._-/:@[]AZ", "ab0._-/:", "ab.__--/:1", "ab0._-/:[]1", "aA0_.-:/"], ids=lambda a: repr(a)
)
def test_the_plain_reading_is_the_grammars(alphabet: str) -> None:
    """`parse` reads most names without regular expressions (`_plain`): for
    any string at all, what it gives (a reference, or the error and its
    words) is what the grammar gives. Random strings over the characters
    the grammar cares about, some behind a domain, some long."""
    import random

    from ketch.reference import _grammar_parse

    rnd = random.Random(alphabet)
    valid = 0
    prefixes = ["docker.io/", "h.x:50/", "[::1]:5/", "localhost/", "a-b.c/", "index.docker.io/", "A.b/", "x:/",
                "[a]/", "1.2.3.4:5000/", "-a.b/", "a-.b/"]  # fmt: skip
    for _ in range(15000):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 16)))
        r = rnd.random()
        if r < 0.3:
            s = rnd.choice(prefixes) + s
        elif r < 0.4:
            s = "a" * rnd.randint(60, 260) + s
        default_tag = rnd.random() < 0.5
        want = _outcome(_grammar_parse, s, default_tag)
        assert _outcome(parse, s, default_tag) == want, s
        valid += not isinstance(want, tuple)
    assert valid > 300  # the valid names were compared too, not only the errors


def test_a_plain_name_imports_no_regular_expressions() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from ketch.reference import parse\n"
        "assert str(parse('127.0.0.1:5000/a/b')) == '127.0.0.1:5000/a/b:latest'\n"
        "assert parse('busybox:1.36', default_tag=False).familiar() == 'busybox:1.36'\n"
        "assert 're' not in sys.modules, 'plain'\n"
        f"parse('x@{D}')\n"
        "assert 're' in sys.modules, 'digest'\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
