//! The new container's filesystem tree, mounted by its process before the
//! exec: the overlay root, what is bound into it, /dev, and docker's /proc
//! and /sys with their masked paths.

pub(crate) mod cgroup;
pub(crate) mod dev;
pub(crate) mod masked;
pub(crate) mod mounts;
pub(crate) mod overlay;
