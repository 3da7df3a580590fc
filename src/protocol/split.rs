//! Splitting a line into arguments the way Redis's `sdssplitargs` does.
//!
//! Used for inline commands (what telnet and `redis-cli` in some modes send) and for the lines of
//! a config file: whitespace separates arguments, double quotes allow `\n`, `\xHH` and other
//! escapes, single quotes allow `\'`. A closing quote must be followed by whitespace or the end.
//!
//! Redis splits a C string, so a NUL byte ends the line (what follows it is ignored), and
//! "whitespace" is C's `isspace`, which includes the vertical tab that Rust's
//! `is_ascii_whitespace` leaves out.

use crate::util::{c_str, is_c_space as is_space};

/// Splits `line` into arguments; `None` means unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = c_str(line).len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false; // inside "double quotes"
        let mut insq = false; // inside 'single quotes'
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if insq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn splits_plain_and_quoted_arguments() {
        assert_eq!(split_args(b"set a b").unwrap(), s(&["set", "a", "b"]));
        assert_eq!(
            split_args(b"set \"a b\" 'c d'").unwrap(),
            s(&["set", "a b", "c d"])
        );
        assert_eq!(split_args(b"x \"\\x41\\n\"").unwrap(), s(&["x", "A\n"]));
        assert_eq!(split_args(b"   ").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn a_nul_byte_ends_the_line_as_in_redis() {
        // Once an endless loop: the NUL stopped an argument without being consumed.
        assert_eq!(split_args(b"echo a\0b c").unwrap(), s(&["echo", "a"]));
        assert_eq!(split_args(b"\0set").unwrap(), Vec::<Vec<u8>>::new());
        assert!(split_args(b"get \"k\0\"").is_none());
    }

    #[test]
    fn vertical_tab_and_form_feed_separate_arguments() {
        assert_eq!(
            split_args(b"a\x0bb\x0c c").unwrap(),
            s(&["a\x0bb\x0c", "c"])
        );
        assert_eq!(split_args(b"\x0b\x0ca b").unwrap(), s(&["a", "b"]));
    }

    #[test]
    fn rejects_unbalanced_quotes() {
        assert!(split_args(b"set \"a").is_none());
        assert!(split_args(b"set 'a").is_none());
        assert!(split_args(b"set \"a\"b").is_none());
    }
}
