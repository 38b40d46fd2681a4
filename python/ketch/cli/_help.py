"""`ketch --help` as the Typer path prints it at Click's default width:
what the fast path prints (cli/_fast.py) while the modules it is made
from have the CRC-32s in SOURCES. Written by scripts/update_fast.py;
tests/unit/test_fast_path.py checks it is the same text."""

SOURCES = {
    "app.py": 2038963674,
    "_shared.py": 2164165430,
    "images.py": 1050191013,
    "container_io.py": 1200859572,
    "containers.py": 1794390822,
    "build.py": 3476358639,
    "registry.py": 1146052988,
    "system.py": 3365646722,
    "container_group.py": 3754090750,
    "volumes.py": 102068932,
    "networks.py": 1765394877,
}
WIDTH = 78
HELP = """\
Usage: ketch [OPTIONS] COMMAND [ARGS]...

  A Docker-compatible container engine.

Options:
  --root TEXT  Store directory (default /var/lib/ketch, or KETCH_ROOT)
  -h, --help   Show this message and exit.

Commands:
  pull       Download an image from a registry
  images     List images
  rmi        Remove one or more images
  tag        Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  history    Show the history of an image
  inspect    Return low-level information on containers or images
  import     Import the contents from a tarball to create a filesystem image
  save       Save one or more images to a tar archive (streamed to STDOUT...
  load       Load an image from a tar archive or STDIN
  run        Run a command in a new container
  create     Create a new container
  start      Start one or more stopped containers
  ps         List containers
  rm         Remove one or more containers
  stop       Stop one or more running containers
  restart    Restart one or more containers
  logs       Fetch the logs of a container
  exec       Execute a command in a running container
  commit     Create a new image from a container's changes
  cp         Copy files/folders between a container and the local filesystem
  diff       Inspect changes to files or directories on a container's...
  port       List port mappings or a specific mapping for the container
  top        Display the running processes of a container
  kill       Kill one or more running containers
  wait       Block until one or more containers stop, then print their...
  rename     Rename a container
  pause      Pause all processes within one or more containers
  unpause    Unpause all processes within one or more containers
  stats      Display a live stream of container(s) resource usage statistics
  attach     Attach local standard input, output, and error streams to a...
  export     Export a container's filesystem as a tar archive
  update     Update configuration of one or more containers
  build      Build an image from a Dockerfile
  push       Upload an image to a registry
  login      Log in to a registry
  logout     Log out from a registry
  search     Search Docker Hub (or the registry named in TERM) for images
  version    Show the ketch version information
  info       Display system-wide information
  events     Get real time events from the server
  container  Manage containers
  image      Manage images
  volume     Manage volumes
  network    Manage networks
  builder    Manage builds
  system     Manage ketch
  registry   Run a registry"""
