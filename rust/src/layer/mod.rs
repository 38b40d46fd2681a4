//! Layers: tar streams in (unpack) and, later, out (diff).

pub mod diff;
pub mod unpack;
