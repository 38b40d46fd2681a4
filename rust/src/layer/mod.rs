//! Layers: tar streams in (unpack) and out (diff); in-root copies (copy).

#[cfg(feature = "python")]
pub mod bindings;
pub mod copy;
pub mod diff;
pub mod unpack;
