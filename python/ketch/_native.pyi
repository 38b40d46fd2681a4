from os import PathLike
from typing import TypedDict

class Unpacked(TypedDict):
    digest: str
    compressed_size: int
    diff_id: str
    tar_size: int
    content_size: int
    entries: int

def sha256_file(path: str | PathLike[str]) -> tuple[str, int]: ...
def sha256_bytes(data: bytes) -> str: ...
def unpack_layer(
    src: str | PathLike[str],
    dest: str | PathLike[str],
    expected_digest: str | None = None,
    expected_diff_id: str | None = None,
    max_bytes: int | None = None,
) -> Unpacked: ...
def unpack_layer_fd(
    fd: int,
    dest: str | PathLike[str],
    expected_digest: str | None = None,
    expected_diff_id: str | None = None,
    max_bytes: int | None = None,
) -> Unpacked: ...
def decompress_layer(src: str | PathLike[str], dst: str | PathLike[str]) -> tuple[str, int]: ...
def syncfs(path: str | PathLike[str]) -> None: ...

class Sha256:
    def __init__(self) -> None: ...
    def update(self, data: bytes) -> None: ...
    def digest(self) -> str: ...

def spawn(
    rootfs: str | PathLike[str],
    lowerdirs: list[str],
    upperdir: str | PathLike[str],
    workdir: str | PathLike[str],
    hostname: str,
    argv: list[str],
    env: list[str],
    cwd: str,
    uid: int,
    gid: int,
    groups: list[int],
    new_net: bool,
    files: list[tuple[str, str]],
    caps: int,
    cgroup_procs: list[str] = ...,
    stdio: tuple[int, int, int] | None = None,
    tty: bool = False,
    tty_socket: int = -1,
) -> int: ...
def wait(pid: int) -> int | None: ...
def docker_caps() -> int: ...
def monitor(
    rootfs: str,
    lowerdirs: list[str],
    upperdir: str,
    workdir: str,
    hostname: str,
    argv: list[str],
    env: list[str],
    cwd: str,
    uid: int,
    gid: int,
    groups: list[int],
    new_net: bool,
    files: list[tuple[str, str]],
    caps: int,
    cgroup_procs: list[str],
    log: str,
    exit_file: str,
    ready: int,
    cgroup_dirs: list[str],
) -> None: ...
def exec_in(
    pid: int,
    argv: list[str],
    env: list[str],
    cwd: str,
    uid: int,
    gid: int,
    groups: list[int],
    caps: int,
    cgroup_procs: list[str],
) -> int: ...
