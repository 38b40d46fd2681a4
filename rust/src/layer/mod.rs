//! Layers: tar streams in (unpack: decode, extract) and out (diff); in-root
//! copies (copy); the cache key of a tree (tree_digest).

#[cfg(feature = "python")]
pub mod bindings;
pub mod copy;
pub mod decode;
pub mod diff;
mod extract;
mod node;
pub mod tree_digest;
pub mod unpack;
