"""Image references, parsed and normalised exactly as docker does
(github.com/distribution/reference: ParseNormalizedNamed, FamiliarString).

`ubuntu` -> docker.io/library/ubuntu:latest; `host:port/ns/repo:tag`;
`name@sha256:...`; `name:tag@sha256:...` (the digest decides what is pulled).
"""

from __future__ import annotations

import re

from .errors import ReferenceError_
from .records import record

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
_reference_re = re.compile(rf"^({_name})(?::({_tag}))?(?:@({_digest}))?$")
_anchored_identifier = re.compile(r"^[a-f0-9]{64}$")
_digest_re = re.compile(r"^sha256:[a-f0-9]{64}$")
_domain_re = re.compile(rf"^{_domain}$")


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
    tag or digest and `default_tag` is set."""
    if _anchored_identifier.match(s):
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
    m = _reference_re.match(f"{domain}/{remainder}")
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
        if not _digest_re.match(digest):
            raise ReferenceError_("invalid reference format: invalid checksum digest format")
    path = name[len(domain) + 1 :]
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_digest(s: str) -> bool:
    return bool(_digest_re.match(s))


def valid_domain(s: str) -> bool:
    return bool(_domain_re.match(s))
