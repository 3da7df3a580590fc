//! The command line of the examples: positional arguments, or `--name value` options (the
//! benchmarks), with defaults.
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

    /// The value after `--name`, parsed, or `default` when absent; exits with a message when it
    /// does not parse or when an option outside `known` was given.
    pub fn flag<T: FromStr>(&self, name: &str, default: T, known: &[&str]) -> T {
        for w in self.0.iter().filter(|w| w.starts_with("--")) {
            if !known.contains(&w.trim_start_matches('-')) {
                eprintln!("unknown option {w}");
                std::process::exit(2)
            }
        }
        let Some(i) = self
            .0
            .iter()
            .position(|w| w.strip_prefix("--") == Some(name))
        else {
            return default;
        };
        match self.0.get(i + 1).map(|v| v.parse()) {
            Some(Ok(v)) => v,
            _ => {
                eprintln!("--{name} needs a value");
                std::process::exit(2)
            }
        }
    }
}
