//! What confines a container process besides its namespaces: its
//! capabilities and its seccomp filter.

#[cfg(feature = "python")]
pub mod bindings;
pub mod capabilities;
pub mod seccomp;
