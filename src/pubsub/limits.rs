//! `client-output-buffer-limit`: Redis's syntax and canonical form.
//!
//! The option holds one `<class> <hard> <soft> <soft-seconds>` group per client class (`normal`,
//! `replica`, shown as `slave`, and `pubsub`). A value given to CONFIG SET, the command line or a
//! config file line may name any subset of the classes; the others keep their current limits,
//! and one bad group rejects the whole value, as in Redis's `setConfigClientOutputBufferLimitOption`.
//! The canonical form (what CONFIG GET returns) always lists the three classes in Redis's order,
//! with byte counts.
//!
//! Only the `pubsub` class is enforced: a normal client's replies are written before its next
//! command is read, and there are no replicas; the other classes are accepted and shown so that
//! configurations written for Redis load unchanged.

use crate::config::parse_memory;

/// Redis's default, also what CONFIG GET shows for an untouched server.
pub const DEFAULT: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// One class's limits: 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// The three classes, in Redis's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

const BAD_ARGC: &str = "Wrong number of arguments in buffer limit configuration.";
const BAD_CLASS: &str = "Invalid client class specified in buffer limit configuration.";
const BAD_VALUE: &str =
    "Error in hard, soft or soft_seconds setting in buffer limit configuration.";

impl Limits {
    fn class_mut(&mut self, name: &str) -> Option<&mut ClassLimit> {
        match name.to_ascii_lowercase().as_str() {
            "normal" => Some(&mut self.normal),
            "slave" | "replica" => Some(&mut self.replica),
            "pubsub" => Some(&mut self.pubsub),
            _ => None,
        }
    }

    /// Applies `input` (any number of groups) on top of these limits; nothing changes on error.
    pub fn apply(&self, input: &str) -> Result<Limits, &'static str> {
        let words: Vec<&str> = input.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err(BAD_ARGC);
        }
        let mut out = *self;
        for g in words.chunks(4) {
            let class = out.class_mut(g[0]).ok_or(BAD_CLASS)?;
            let hard = parse_memory(g[1]).ok_or(BAD_VALUE)?;
            let soft = parse_memory(g[2]).ok_or(BAD_VALUE)?;
            let secs = strtoll(g[3]);
            if secs < 0 {
                return Err(BAD_VALUE);
            }
            *class = ClassLimit {
                hard,
                soft,
                soft_seconds: secs as u64,
            };
        }
        Ok(out)
    }

    /// Parses a canonical (or any complete) value.
    pub fn parse(s: &str) -> Option<Limits> {
        Limits::default().apply(s).ok()
    }

    /// The canonical form: every class, Redis's order and names, byte counts.
    pub fn render(&self) -> String {
        let one = |n: &str, c: &ClassLimit| format!("{n} {} {} {}", c.hard, c.soft, c.soft_seconds);
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
    }
}

/// C's `strtoll(s, NULL, 10)` as Redis uses it for the seconds: leading digits, 0 if none.
fn strtoll(s: &str) -> i64 {
    let b = s.trim_start().as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Validates `input` against the `current` canonical value and returns the new canonical value.
pub fn merge(current: &str, input: &str) -> Result<String, String> {
    let cur = Limits::parse(current).unwrap_or_default();
    cur.apply(input).map(|l| l.render()).map_err(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips() {
        assert_eq!(Limits::parse(DEFAULT).unwrap().render(), DEFAULT);
        let l = Limits::parse(DEFAULT).unwrap();
        assert_eq!(
            l.pubsub,
            ClassLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60
            }
        );
    }

    #[test]
    fn groups_merge_into_the_current_value_like_redis() {
        assert_eq!(
            merge(DEFAULT, "pubsub 1mb 2kb 3").unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2048 3"
        );
        assert_eq!(
            merge(DEFAULT, "replica 10 20 30").unwrap(),
            "normal 0 0 0 slave 10 20 30 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            merge(DEFAULT, "PUBSUB 1 2 3 normal 4 5 6").unwrap(),
            "normal 4 5 6 slave 268435456 67108864 60 pubsub 1 2 3"
        );
        assert_eq!(merge(DEFAULT, "").unwrap(), DEFAULT);
        // strtoll: trailing garbage after the digits is ignored, no digits is 0.
        assert_eq!(
            merge(DEFAULT, "pubsub 1 2 7x").unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1 2 7"
        );
    }

    #[test]
    fn errors_use_redis_wording_and_change_nothing() {
        assert_eq!(merge(DEFAULT, "foo 1 2 3").unwrap_err(), BAD_CLASS);
        assert_eq!(merge(DEFAULT, "master 1 2 3").unwrap_err(), BAD_CLASS);
        assert_eq!(merge(DEFAULT, "pubsub 1 2").unwrap_err(), BAD_ARGC);
        assert_eq!(merge(DEFAULT, "pubsub x 2 3").unwrap_err(), BAD_VALUE);
        assert_eq!(merge(DEFAULT, "normal 1 2 -3").unwrap_err(), BAD_VALUE);
        assert_eq!(
            merge(DEFAULT, "pubsub 1 2 3 foo 1 2 3").unwrap_err(),
            BAD_CLASS
        );
    }
}
