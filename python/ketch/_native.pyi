from os import PathLike
from typing import Any, TypedDict, final

__all__ = [
    "Sha256",
    "archive_in_root",
    "bridge_create",
    "conntrack_delete_udp",
    "copy_in_root",
    "cp_in",
    "cp_out",
    "cp_stat",
    "decompress_layer",
    "digest_entries",
    "digest_in_root",
    "docker_caps",
    "exec_in",
    "extract_in_root",
    "extract_tar_fd",
    "gzip_layer",
    "kind_in_root",
    "layer_changes",
    "link_delete",
    "mkdirs_in_root",
    "net_configure",
    "netns_create",
    "netns_remove",
    "overlay_root",
    "process_config",
    "proxy_start",
    "seccomp_program",
    "sha256_bytes",
    "sha256_file",
    "spawn",
    "syncfs",
    "unpack_layer",
    "unpack_layer_fd",
    "veth",
    "wait",
    "write_in_root",
    "write_layer",
]

# What unpack_layer returns: a plain dict at runtime (private: no such class there).
class _Unpacked(TypedDict):
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
) -> _Unpacked: ...
def unpack_layer_fd(
    fd: int,
    dest: str | PathLike[str],
    expected_digest: str | None = None,
    expected_diff_id: str | None = None,
    max_bytes: int | None = None,
) -> _Unpacked: ...
def decompress_layer(src: str | PathLike[str], dst: str | PathLike[str]) -> tuple[str, int]: ...
def syncfs(path: str | PathLike[str]) -> None: ...

# A pyo3 class: not subclassable at runtime.
@final
class Sha256:
    def __init__(self) -> None: ...
    def update(self, data: bytes) -> None: ...
    def digest(self) -> str: ...

def process_config(process: str) -> str: ...
def spawn(process: str, tty_socket: int = -1, stdio: tuple[int, int, int] | None = None) -> int: ...
def wait(pid: int) -> int | None: ...
def docker_caps() -> int: ...
def seccomp_program(profile: str, host: str | None = None) -> bytes: ...
def exec_in(
    pid: int,
    process: str,
    tty_socket: int = -1,
    stdio: tuple[int, int, int] | None = None,
) -> int: ...
def layer_changes(upper: str | PathLike[str], lowers: list[str]) -> list[tuple[str, str]]: ...
def write_layer(upper: str | PathLike[str], out: str | PathLike[str], gzip: bool = True) -> tuple[str, str, int]: ...
def cp_stat(target: dict[str, Any], path: str, follow: bool = False) -> str | None: ...
def cp_out(target: dict[str, Any], src: str, name: str, dest_dir: str | PathLike[str]) -> None: ...
def cp_in(target: dict[str, Any], src: str | PathLike[str], name: str, dest_dir: str) -> None: ...

# In-root copies (layer/copy.rs). A root is a directory fd the caller opens
# (O_PATH | O_DIRECTORY) and closes; paths are resolved inside it.
def extract_tar_fd(fd: int, dest: str | PathLike[str]) -> int: ...
def overlay_root(lowerdirs: list[str]) -> int: ...
def kind_in_root(fd: int, path: bytes, follow: bool = False) -> str | None: ...
def copy_in_root(
    src_fd: int,
    src_path: bytes,
    dst_fd: int,
    dst_path: bytes,
    chown: tuple[int, int] | None = None,
    chmod: int | None = None,
    keep_owners: bool = False,
    skip: list[bytes] = ...,
    hollow: list[bytes] = ...,
    top_meta: bool = False,
) -> tuple[int, int]: ...
def mkdirs_in_root(fd: int, path: bytes, like_fd: int | None = None, mode: int = 0o755) -> None: ...
def write_in_root(fd: int, path: bytes, data: bytes, mode: int, uid: int, gid: int) -> None: ...
def archive_in_root(src_fd: int, src_path: bytes) -> bool: ...
def extract_in_root(src_fd: int, src_path: bytes, dst_fd: int, dst_path: bytes) -> int | None: ...
def digest_in_root(fd: int, paths: list[bytes]) -> str: ...
def netns_create(path: str | PathLike[str]) -> None: ...
def netns_remove(path: str | PathLike[str]) -> None: ...
def veth(host: str, peer: str, netns: str | PathLike[str], bridge: str) -> None: ...
def net_configure(
    netns: str | PathLike[str], ifname: str, addr: list[int], prefix: int, gateway: list[int]
) -> None: ...
def link_delete(name: str) -> None: ...
def bridge_create(name: str, addr: list[int], prefix: int) -> None: ...
def proxy_start(fd: int, ip: str, port: int) -> None: ...
def conntrack_delete_udp(port: int) -> int: ...
def digest_entries(
    entries: list[tuple[str, str]], cache: dict[str, tuple[str, str]]
) -> tuple[str, list[tuple[str, str, str]]]: ...
def gzip_layer(src: str | PathLike[str], dst: str | PathLike[str]) -> tuple[str, int]: ...
