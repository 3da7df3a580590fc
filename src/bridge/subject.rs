//! NATS subjects for change events, and the checks on subjects and patterns from the config.
//!
//! A change goes to `<prefix>.<db>.<event>.<key>` (a keyspace-wide event such as `flushall`,
//! which has no key, to `<prefix>.<db>.<event>`). A subject token is printable ASCII without
//! `.`, `*` and `>`, so [`token`] percent-encodes every other byte: `.` `*` `>` `%`, bytes
//! below `!` (space, tabs, control characters), DEL and every non-ASCII byte become `%XX`
//! (upper-case hex), everything else stays as it is. The encoding is reversible
//! ([`untoken`]) and keeps different keys on different subjects, so `user:1.name` is
//! `eddy.changes.0.set.user:1%2Ename`, subscribable as such or with `eddy.changes.0.set.user:1*`.
//!
//! Subjects stay short: a key whose encoded form is longer than [`MAX_KEY_TOKEN`] bytes is
//! cut there (never inside a `%XX`) and followed by `~` and the first 16 hex digits of the
//! key's SHA-256, so long keys still get distinct, stable subjects. The payload always
//! carries the exact key.

use sha2::{Digest, Sha256};

/// Longest key token before it is cut and suffixed with a hash.
pub const MAX_KEY_TOKEN: usize = 200;

fn plain(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>' | b'%')
}

/// `bytes` as one subject token, percent-encoded (see the module docs).
pub fn token(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if plain(b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The key token: [`token`], cut and hashed past [`MAX_KEY_TOKEN`] bytes.
pub fn key_token(key: &[u8]) -> String {
    let mut s = token(key);
    if s.len() <= MAX_KEY_TOKEN {
        return s;
    }
    let mut cut = MAX_KEY_TOKEN;
    // Never split a `%XX`.
    if let Some(p) = s[cut - 2..cut].find('%') {
        cut = cut - 2 + p;
    }
    s.truncate(cut);
    let h = Sha256::digest(key);
    s.push('~');
    s.push_str(&crate::util::hex(&h[..8]));
    s
}

/// Decodes a [`token`] (not a cut key token); None if it is not one.
pub fn untoken(t: &str) -> Option<Vec<u8>> {
    let b = t.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = t.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The subject of a change.
pub fn change_subject(prefix: &str, db: u32, event: &str, key: &[u8]) -> String {
    let mut s = format!("{prefix}.{db}.{}", token(event.as_bytes()));
    if !key.is_empty() {
        s.push('.');
        s.push_str(&key_token(key));
    }
    s
}

/// Is `s` a subject Eddy may publish to: non-empty tokens of printable ASCII, no wildcards?
pub fn valid_subject(s: &str) -> bool {
    valid(s, false)
}

/// Is `s` a subject or a subscription pattern (`*` as a whole token, `>` as the last one)?
pub fn valid_pattern(s: &str) -> bool {
    valid(s, true)
}

fn valid(s: &str, wildcards: bool) -> bool {
    if s.is_empty() || s.len() > 1024 {
        return false;
    }
    let tokens: Vec<&str> = s.split('.').collect();
    let n = tokens.len();
    tokens.iter().enumerate().all(|(i, t)| {
        if wildcards && (*t == "*" || (*t == ">" && i == n - 1)) {
            return true;
        }
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_escape_what_subjects_cannot_hold_and_decode_back() {
        assert_eq!(token(b"user:1"), "user:1");
        assert_eq!(token(b"a.b*c>d e%"), "a%2Eb%2Ac%3Ed%20e%25");
        assert_eq!(token("é\t\x7f".as_bytes()), "%C3%A9%09%7F");
        for k in [&b"a.b*c>d e%"[..], b"", b"\x00\xff", "ключ".as_bytes()] {
            assert_eq!(untoken(&token(k)).as_deref(), Some(k));
            assert!(k.is_empty() || valid_subject(&format!("p.{}", token(k))));
        }
        assert_eq!(untoken("%4"), None);
        assert_eq!(untoken("%zz"), None);
    }

    #[test]
    fn change_subjects_and_long_keys() {
        assert_eq!(
            change_subject("eddy.changes", 0, "set", b"user:1.name"),
            "eddy.changes.0.set.user:1%2Ename"
        );
        assert_eq!(
            change_subject("eddy.changes", 3, "flushall", b""),
            "eddy.changes.3.flushall"
        );
        let long = vec![b'.'; 1000];
        let t = key_token(&long);
        assert!(t.len() <= MAX_KEY_TOKEN + 17, "{}", t.len());
        assert!(!t.contains("%2~") && !t.contains("%~"), "{t}");
        assert!(valid_subject(&format!("p.{t}")));
        let mut other = long.clone();
        other.push(b'x');
        assert_ne!(key_token(&other), t);
        assert_eq!(key_token(&long), t);
    }

    #[test]
    fn subject_and_pattern_checks() {
        assert!(valid_subject("eddy.changes"));
        assert!(!valid_subject("eddy..changes"));
        assert!(!valid_subject("eddy.*"));
        assert!(!valid_subject("a b"));
        assert!(!valid_subject(""));
        assert!(valid_pattern("orders.*.new"));
        assert!(valid_pattern("orders.>"));
        assert!(!valid_pattern("orders.>.x"));
        assert!(!valid_pattern("orders.a*"));
    }
}
