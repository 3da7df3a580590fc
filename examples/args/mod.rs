//! The command line of the examples: positional arguments with defaults.
// Each example uses a different subset.
#![allow(dead_code)]

use std::str::FromStr;

/// The positional arguments after the program name.
pub struct Args(Vec<String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// Argument `i`, or `default` when absent.
    pub fn get(&self, i: usize, default: &str) -> String {
        self.0.get(i).cloned().unwrap_or_else(|| default.into())
    }

    /// Argument `i` parsed, or `default` when absent; exits with a message naming `what` when
    /// it does not parse.
    pub fn parse<T: FromStr>(&self, i: usize, default: T, what: &str) -> T {
        match self.0.get(i) {
            None => default,
            Some(s) => s.parse().unwrap_or_else(|_| {
                eprintln!("argument {}: {s:?} is not a valid {what}", i + 1);
                std::process::exit(2)
            }),
        }
    }

    /// Whether argument `i` was given.
    pub fn has(&self, i: usize) -> bool {
        self.0.len() > i
    }
}
