//! Configuration: YAML text → validated [`Config`].
//!
//! (in progress)

pub mod yaml;
