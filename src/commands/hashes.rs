//! The hashes family (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
