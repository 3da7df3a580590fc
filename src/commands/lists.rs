//! The lists family (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
