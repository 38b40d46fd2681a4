"""Image references, parsed and normalised exactly as docker does
(github.com/distribution/reference: ParseNormalizedNamed, FamiliarString).

`ubuntu` -> docker.io/library/ubuntu:latest; `host:port/ns/repo:tag`;
`name@sha256:...`; `name:tag@sha256:...` (the digest decides what is pulled).
"""

from __future__ import annotations

from .errors import ReferenceError_
from .records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255


def _list(item: str, separator: str) -> str:
    """One `item` or more, a `separator` between each two: the grammar's
    `item [separator item]*`, as its path components, domain and name are."""
    return rf"{item}(?:{separator}{item})*"


_alnum = r"[a-z0-9]+"
_separator = r"(?:[._]|__|[-]+)"
_path_component = _list(_alnum, _separator)
_domain_name_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_ipv6 = r"\[(?:[a-fA-F0-9:]+)\]"
_domain_name = _list(_domain_name_component, r"\.")
_host = rf"(?:{_domain_name}|{_ipv6})"
_domain = rf"{_host}(?::[0-9]+)?"
_tag = r"[\w][\w.-]{0,127}"
_digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_remote_name = _list(_path_component, "/")
_name = rf"(?:{_domain}/)?{_remote_name}"


class _Grammar:
    """The grammar's regular expressions, compiled when first used: `ketch
    images` reads the names it stored without them (`_plain`), and
    without importing re (~5 ms)."""

    def __getattr__(self, name: str) -> re.Pattern[str]:
        if name not in ("reference", "identifier", "digest", "domain"):
            raise AttributeError(name)
        import re

        self.reference = re.compile(rf"^({_name})(?::({_tag}))?(?:@({_digest}))?$")
        self.identifier = re.compile(r"^[a-f0-9]{64}$")
        self.digest = re.compile(r"^sha256:[a-f0-9]{64}$")
        self.domain = re.compile(rf"^{_domain}$")
        return getattr(self, name)  # type: ignore[no-any-return]


_grammar = _Grammar()


@record(frozen=True)
class Reference:
    """A normalised reference: domain, path (`library/ubuntu`), tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name: `docker.io/library/ubuntu`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as docker prints it: `ubuntu`, `user/app`, `host:5000/app`."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_REPO_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_REPO_PREFIX) :]
            return self.path
        return self.name

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    @property
    def ident(self) -> str:
        """What is asked of the registry: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        """The full form: `docker.io/library/ubuntu:latest`."""
        return self._format(self.name)

    def familiar(self) -> str:
        """As docker prints it: `ubuntu:latest`, `host:5000/app@sha256:...`."""
        return self._format(self.familiar_name)

    def _format(self, name: str) -> str:
        s = name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or (not any(c in name[:i] for c in ".:") and name[:i] != "localhost" and name[:i].lower() == name[:i]):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = name[:i], name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def is_short_name(s: str) -> bool:
    """True when `s` names no registry (`busybox`, `library/busybox`): the
    names registries.conf's unqualified-search-registries resolve. A first
    component with a `.` or `:`, `localhost`, or an upper-case letter is a
    domain, as docker splits it."""
    first, slash, _ = s.partition("/")
    if not slash:
        return True
    return not (any(c in first for c in ".:") or first == "localhost" or first.lower() != first)


def parse(s: str, default_tag: bool = True) -> Reference:
    """Parses a reference as `docker pull` does; adds `:latest` when there is no
    tag or digest and `default_tag` is set. The names typed and stored all day
    are read without regular expressions (`_plain`: `ketch images NAME` does
    not import re); the rest by the grammar."""
    plain = _plain(s)
    if plain is not None:
        return plain.with_tag(DEFAULT_TAG) if plain.tag is None and default_tag else plain
    return _grammar_parse(s, default_tag)


def _grammar_parse(s: str, default_tag: bool = True) -> Reference:
    """`parse` by the grammar's regular expressions, as distribution/reference has them."""
    if _grammar.identifier.match(s):
        raise ReferenceError_(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(s)
    # The lowercase check comes before the grammar, as in docker.
    path_part = remainder
    for sep in ("@",):
        path_part = path_part.split(sep, 1)[0]
    if ":" in path_part:
        path_part = path_part.rsplit(":", 1)[0]
    if path_part.lower() != path_part:
        raise ReferenceError_(f"invalid reference format: repository name ({path_part}) must be lowercase")
    m = _grammar.reference.match(f"{domain}/{remainder}")
    if not m:
        raise ReferenceError_("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError_(
            f"invalid reference format: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest is not None:
        if not digest.startswith("sha256:"):
            raise ReferenceError_(f"invalid reference format: unsupported digest algorithm in {digest}")
        if not _grammar.digest.match(digest):
            raise ReferenceError_("invalid reference format: invalid checksum digest format")
    path = name[len(domain) + 1 :]
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _component_ok(c: str) -> bool:
    """The grammar's path component: [a-z0-9]+ joined by `.`, `_`, `__` or `-`+."""
    i, n = 0, len(c)
    while True:
        j = i
        while j < n and c[j] in _ALNUM:
            j += 1
        if j == i:
            return False
        if j == n:
            return True
        k = j + 1
        if c[j] == "_" and k < n and c[k] == "_":
            k += 1
        elif c[j] == "-":
            while k < n and c[k] == "-":
                k += 1
        elif c[j] not in "._":
            return False
        i = k


def _domain_ok(d: str) -> bool:
    """The grammar's domain: host names joined by `.` (letters, digits, inner
    `-`), or an IPv6 address in brackets; then `:port`."""
    if d.startswith("["):
        host, close, after = d[1:].partition("]")
        if not (close and host and set(host) <= set("0123456789abcdefABCDEF:")):
            return False
        if not after:
            return True
        colon, port = after[:1] == ":", after[1:]
    else:
        host, sep, port = d.partition(":")
        for label in host.split("."):
            if not (label and _HOST_CHARS.issuperset(label.replace("-", "")) and label[0] != "-" and label[-1] != "-"):
                return False
        colon = bool(sep)
        if not colon:
            return True
    return colon and port.isascii() and port.isdigit()


def _plain(s: str) -> Reference | None:
    """`s` read without the grammar's regular expressions, when it is in the
    form names mostly are (`[domain/]path[:tag]`, no digest) and the grammar
    takes it: what `_grammar_parse(s, default_tag=False)` gives for it. None
    for anything else (a digest, a character or a part the grammar has not,
    an upper-case path): the grammar decides, and words its error."""
    if "@" in s or (len(s) == 64 and all(c in "0123456789abcdef" for c in s)):
        return None
    domain, remainder = _split_domain(s)
    colon, last_slash = remainder.rfind(":"), remainder.rfind("/")
    path, tag = (remainder[:colon], remainder[colon + 1 :]) if colon > last_slash else (remainder, None)
    if (
        _domain_ok(domain)
        and all(_component_ok(c) for c in path.split("/"))
        and len(domain) + 1 + len(path) <= NAME_TOTAL_LENGTH_MAX
        and (tag is None or (0 < len(tag) <= 128 and tag[0] not in ".-" and _TAG_CHARS.issuperset(tag)))
    ):
        return Reference(domain, path, tag, None)
    return None


def is_digest(s: str) -> bool:
    return bool(_grammar.digest.match(s))


def valid_domain(s: str) -> bool:
    return bool(_grammar.domain.match(s))
