//! ketch's data plane. This file is only the Python module's registration;
//! the work is in the modules, which are plain Rust (`cargo test` needs no
//! Python: the bindings, each beside its module, are behind the `python`
//! feature that maturin enables).

pub mod conntrack;
pub mod cp;
pub mod digest;
pub mod error;
pub mod init;
pub mod layer;
pub mod monitor;
pub mod net;
pub mod process;
pub mod root;
pub mod rootfs;
pub mod security;
pub mod sys;
pub mod tty;

#[cfg(feature = "python")]
#[pyo3::pymodule]
mod _native {
    #[pymodule_export]
    use crate::conntrack::bindings::conntrack_delete_udp;
    #[pymodule_export]
    use crate::cp::bindings::{cp_in, cp_out, cp_stat};
    #[pymodule_export]
    use crate::digest::bindings::{digest_entries, sha256_bytes, sha256_file, Sha256};
    #[pymodule_export]
    use crate::layer::bindings::{
        archive_in_root, copy_in_root, decompress_layer, digest_in_root, extract_in_root,
        extract_tar_fd, gzip_layer, kind_in_root, layer_changes, mkdirs_in_root, overlay_root,
        syncfs, unpack_layer, unpack_layer_fd, write_in_root, write_layer,
    };
    #[pymodule_export]
    use crate::net::bindings::{
        bridge_create, link_delete, net_configure, netns_create, netns_remove, proxy_start, veth,
    };
    #[pymodule_export]
    use crate::process::bindings::{exec_in, process_config, ready_report, spawn, wait};
    #[pymodule_export]
    use crate::security::bindings::{docker_caps, seccomp_program};
}
