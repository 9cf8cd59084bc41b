//! Configuration: YAML text → validated [`Config`].
//!
//! Loading happens in two stages, as ripgrep does with its flags: [`raw`] mirrors the
//! file with serde (unknown keys refused, positions kept), then [`validate`] turns it
//! into the precise types of [`model`] (durations, cents, zones, crons, URLs, resolved
//! secrets), collecting every problem with its file, line, column and key path. The
//! configuration is loaded once and passed down; nothing below reads the environment.

pub mod duration;
pub mod init;
pub mod model;
pub mod raw;
pub mod summary;
pub mod validate;

pub use model::*;
pub use validate::{ConfigError, load, load_str};
