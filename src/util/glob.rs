//! Glob-style matching with Redis's `stringmatchlen` rules: `*`, `?`, `[abc]`, `[^a]`, `[a-z]`,
//! and `\` escapes. Iterative with single-star backtracking, so no pattern a client sends can
//! recurse deeply or take more than O(pattern × string) steps.

/// Does `s` match the glob `pat`?
pub fn glob_match(pat: &[u8], s: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after the star, string index).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let mut matched = false;
        let mut next_p = p;
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && pat[p] == b'*' {
                        p += 1;
                    }
                    if p == pat.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    matched = true;
                    next_p = p + 1;
                }
                b'[' => {
                    if let Some((ok, end)) = class_match(pat, p, s[i], nocase) {
                        matched = ok;
                        next_p = end;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    matched = eq(pat[p + 1], s[i]);
                    next_p = p + 2;
                }
                c => {
                    matched = eq(c, s[i]);
                    next_p = p + 1;
                }
            }
        }
        if matched {
            p = next_p;
            i += 1;
        } else if let Some((sp, si)) = star {
            p = sp;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// Matches `c` against the class starting at `pat[start] == b'['`; returns (matched, index after
/// the class). An unterminated class runs to the end of the pattern, as in Redis.
fn class_match(pat: &[u8], start: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut p = start + 1;
    let not = p < pat.len() && pat[p] == b'^';
    if not {
        p += 1;
    }
    let low = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = low(c);
    let mut hit = false;
    loop {
        if p >= pat.len() {
            break;
        }
        if pat[p] == b'\\' && p + 1 < pat.len() {
            p += 1;
            if low(pat[p]) == c {
                hit = true;
            }
        } else if pat[p] == b']' {
            break;
        } else if p + 2 < pat.len() && pat[p + 1] == b'-' {
            let (mut a, mut b) = (low(pat[p]), low(pat[p + 2]));
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            p += 2;
            if c >= a && c <= b {
                hit = true;
            }
        } else if low(pat[p]) == c {
            hit = true;
        }
        p += 1;
    }
    let end = if p < pat.len() { p + 1 } else { p };
    Some((hit != not, end))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn matches_like_redis() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[ae]llo", b"hillo", false));
        assert!(glob_match(b"h[^e]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"h\\*llo", b"h*llo", false));
        assert!(!glob_match(b"h\\*llo", b"hello", false));
        assert!(glob_match(b"user:*:name", b"user:42:name", false));
        assert!(!glob_match(b"a*b", b"aaac", false));
        assert!(glob_match(b"HELLO", b"hello", true));
        assert!(glob_match(b"", b"", false));
        assert!(!glob_match(b"", b"x", false));
    }

    /// Edge cases checked against redis-server 7.0.15 (PUBSUB CHANNELS with these patterns).
    #[test]
    fn edge_cases_match_redis_stringmatchlen() {
        let m = |p: &[u8], s: &[u8]| glob_match(p, s, false);
        // An unterminated class runs to the end of the pattern.
        assert!(!m(b"a[", b"a["));
        assert!(m(b"a[b", b"ab"));
        assert!(!m(b"a[b", b"a[b"));
        assert!(m(b"[a-c", b"b"));
        assert!(m(b"a[^b", b"ac"));
        assert!(!m(b"a[^b", b"ab"));
        // A trailing backslash is a literal backslash; elsewhere it escapes.
        assert!(m(b"a\\", b"a\\"));
        assert!(m(b"\\a", b"a"));
        assert!(m(b"a\\b", b"ab"));
        assert!(!m(b"*\\*", b"x*y"));
        // Escapes and brackets inside classes.
        assert!(m(b"[\\]]", b"]"));
        assert!(!m(b"[]a]", b"a"));
        assert!(!m(b"[]a]", b"]"));
        assert!(m(b"[\\-]", b"-"));
        assert!(m(b"[[]", b"["));
        assert!(m(b"x[*]y", b"x*y"));
        // `[^]` is an empty negated class: any one character.
        assert!(m(b"[^]", b"z"));
        assert!(!m(b"[^]", b"zz"));
        // `!` is not negation; ranges may be reversed; `-` at the end is literal.
        assert!(m(b"[!a]", b"a"));
        assert!(!m(b"[!a]", b"b"));
        assert!(m(b"[z-a]", b"c"));
        assert!(m(b"[a-]", b"a"));
        assert!(!m(b"[a-]", b"-"));
        assert!(m(b"[a-c-z]", b"-"));
        assert!(!m(b"[a-c-z]", b"d"));
        assert!(!m(b"*[", b"a["));
        assert!(m(b"[^a-c]*", b"x-y"));
        assert!(!m(b"[^a-c]*", b"abc"));
        assert!(!m(b"[A-Z]", b"a"));
    }

    #[test]
    fn pathological_patterns_finish() {
        let s = vec![b'a'; 5000];
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*b", &s, false));
    }
}
