//! A container's process: the contract Python hands over (config), and
//! what is done with it.

pub mod config;
