//! The cursor parser handlers use for their arguments: options are matched case-insensitively,
//! numbers are parsed with Redis's strict rules, and every failure maps to Redis's error text.

use crate::error::{CmdError, CmdResult, NOT_FLOAT, NOT_INTEGER, SYNTAX};
use crate::protocol::resp::Args;
use crate::util::num::{parse_f64, parse_i64};

/// Walks a command's arguments from a starting index.
pub struct Cursor<'a> {
    args: Args<'a>,
    i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(args: Args<'a>, start: usize) -> Self {
        Cursor { args, i: start }
    }

    pub fn has_more(&self) -> bool {
        self.i < self.args.len()
    }

    pub fn remaining(&self) -> usize {
        self.args.len().saturating_sub(self.i)
    }

    pub fn peek(&self) -> Option<&'a [u8]> {
        (self.i < self.args.len()).then(|| self.args.get(self.i))
    }

    pub fn next_arg(&mut self) -> Option<&'a [u8]> {
        let v = self.peek()?;
        self.i += 1;
        Some(v)
    }

    /// The next argument, or a syntax error if there is none.
    pub fn value(&mut self) -> CmdResult<&'a [u8]> {
        self.next_arg().ok_or_else(|| CmdError::from(SYNTAX))
    }

    /// Consumes the next argument if it equals `word` (case-insensitively).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }

    pub fn i64(&mut self) -> CmdResult<i64> {
        int(self.value()?)
    }

    pub fn f64(&mut self) -> CmdResult<f64> {
        float(self.value()?)
    }
}

/// Is `a` equal to `word`, ignoring ASCII case?
pub fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

pub fn int(a: &[u8]) -> CmdResult<i64> {
    parse_i64(a).ok_or_else(|| NOT_INTEGER.into())
}

pub fn float(a: &[u8]) -> CmdResult<f64> {
    parse_f64(a).ok_or_else(|| NOT_FLOAT.into())
}

/// A non-negative integer; `err` both when `a` is not an integer and when it is negative, as
/// Redis's `getPositiveLongFromObjectOrReply` with a message.
pub fn non_negative(a: &[u8], err: &'static str) -> CmdResult<usize> {
    match parse_i64(a) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(err.into()),
    }
}

/// A C `int`, as Redis's `getIntFromObjectOrReply`: `msg`, when given, is the error both for a
/// non-integer and for a value out of the `int` range; otherwise Redis's two default errors.
pub fn c_int(a: &[u8], msg: Option<&'static str>) -> CmdResult<i32> {
    let fail = |default: CmdError| msg.map_or(default, CmdError::from);
    let n = parse_i64(a).ok_or_else(|| fail(NOT_INTEGER.into()))?;
    i32::try_from(n).map_err(|_| {
        fail(CmdError::from(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ))
    })
}

/// A non-negative count, with Redis's "value is out of range, must be positive" error.
pub fn count(a: &[u8]) -> CmdResult<usize> {
    non_negative(a, crate::error::COUNT_POSITIVE)
}
