"""The exceptions ketch raises. The CLI prints each as one line on stderr and
exits with its `exit_code`; the Rust extension raises some of them too."""


class KetchError(Exception):
    """Anything ketch reports to the user: a message and an exit code."""

    exit_code = 1


class UsageError(KetchError):
    exit_code = 125


class ReferenceError_(KetchError):
    """An image reference that does not parse (docker: 'invalid reference format')."""


class ImageNotFound(KetchError):
    pass


class ConflictError(KetchError):
    pass


class RegistryError(KetchError):
    pass


class ManifestUnknown(RegistryError):
    pass


class AuthError(RegistryError):
    pass


class UnreachableError(RegistryError):
    pass


class ManifestInvalid(RegistryError):
    """A document whose media type and content disagree, or that cannot be used."""


class LayerError(KetchError):
    """A layer that is malformed, hostile or too large (raised by `_native`)."""


class DigestMismatchError(KetchError):
    """Content whose sha256 is not the one announced (raised by `_native` too)."""


class NoSpaceError(KetchError):
    """The disk holding the store is full (raised by `_native` too)."""


class SpawnError(KetchError):
    """A container process that failed before its exec (raised by `_native.spawn`
    with (stage, errno, message))."""

    exit_code = 125

    @property
    def stage(self) -> str:
        return str(self.args[0])

    @property
    def errno(self) -> int:
        return int(self.args[1])


class ContainerNotFound(KetchError):
    pass


class ObjectNotFound(KetchError):
    """Neither a container nor an image by that name (`docker inspect NAME`)."""
