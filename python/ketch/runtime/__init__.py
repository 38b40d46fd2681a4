"""Containers: what a new one is made of (spec, mounts, names; containers.create),
what one is now (state), its process (process, exec, signals), and cgroups,
seccomp, caps, volumes, stdio, cp, commit."""
