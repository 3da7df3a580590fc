//! The zsets family (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
