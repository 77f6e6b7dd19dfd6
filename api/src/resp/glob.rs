//! Redis's glob-style patterns, as KEYS, SCAN … MATCH and CONFIG GET take them.
//!
//! `*` any run of bytes, `?` one byte, `[abc]` `[^abc]` `[a-z]` a class (a reversed range is
//! swapped), `\x` the byte `x` literally, everywhere else a byte matches itself. An unterminated
//! class ends with the pattern, as in Redis. Case-sensitive.
//!
//! The pattern is compiled once into tokens, and matching backtracks only to the last `*`, so
//! the cost is at most pattern × key length: a hostile pattern like `*a*a*a*a*b` cannot blow up.
//!
//! Like Redis, a pattern with more than [`MAX_NESTED_STARS`] `*` before its end matches nothing:
//! Redis's matcher recurses once per `*` and gives up past that depth, and a client sees the
//! same answer here.

/// The most `*` runs a pattern may have before its last token and still match (Redis's nesting
/// limit in `stringmatchlen`).
pub const MAX_NESTED_STARS: usize = 1000;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    /// More than [`MAX_NESTED_STARS`] non-final `*` runs: matches nothing, as in Redis.
    too_nested: bool,
}

#[derive(Debug, Clone)]
enum Token {
    /// A run of `*`.
    Star,
    /// `?`
    Any,
    Byte(u8),
    Class {
        negate: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Token {
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(c) => *c == b,
            Token::Class { negate, ranges } => {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&b)) != *negate
            }
        }
    }
}

impl Glob {
    pub fn new(pattern: &[u8]) -> Self {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            match pattern[i] {
                b'*' => {
                    if !matches!(tokens.last(), Some(Token::Star)) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'\\' if i + 1 < pattern.len() => {
                    i += 1;
                    tokens.push(Token::Byte(pattern[i]));
                }
                b'[' => {
                    i += 1;
                    let negate = pattern.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while i < pattern.len() && pattern[i] != b']' {
                        if pattern[i] == b'\\' && i + 1 < pattern.len() {
                            i += 1;
                            ranges.push((pattern[i], pattern[i]));
                        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
                            let (a, b) = (pattern[i], pattern[i + 2]);
                            ranges.push((a.min(b), a.max(b)));
                            i += 2;
                        } else {
                            ranges.push((pattern[i], pattern[i]));
                        }
                        i += 1;
                    }
                    tokens.push(Token::Class { negate, ranges });
                }
                b => tokens.push(Token::Byte(b)),
            }
            i += 1;
        }
        let non_final = tokens.len().saturating_sub(1);
        let nested_stars = tokens[..non_final]
            .iter()
            .filter(|t| matches!(t, Token::Star))
            .count();
        Self {
            tokens,
            too_nested: nested_stars > MAX_NESTED_STARS,
        }
    }

    /// True for the pattern `*`, which callers can skip matching for.
    pub fn matches_everything(&self) -> bool {
        matches!(self.tokens.as_slice(), [Token::Star])
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        if self.too_nested {
            return false;
        }
        let tokens = &self.tokens;
        let (mut t, mut s) = (0, 0);
        // Where to resume after the last `*`: the token after it, and the text position it
        // has swallowed up to.
        let mut resume: Option<(usize, usize)> = None;
        while s < text.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    resume = Some((t + 1, s));
                    t += 1;
                }
                Some(token) if token.matches(text[s]) => {
                    t += 1;
                    s += 1;
                }
                _ => match resume {
                    Some((after_star, swallowed)) => {
                        t = after_star;
                        s = swallowed + 1;
                        resume = Some((after_star, swallowed + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[t.min(tokens.len())..]
            .iter()
            .all(|token| matches!(token, Token::Star))
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;
    use proptest::prelude::*;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern.as_bytes()).matches(text.as_bytes())
    }

    #[test]
    fn the_documented_forms() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("[\\]]", "]"));
        assert!(m("foo*", "foo"));
        assert!(m("*foo", "xfoo"));
        assert!(!m("*foo", "foox"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        // An unterminated class ends with the pattern.
        assert!(m("a[bc", "ab"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(m("\\", "\\"));
    }

    #[test]
    fn more_nested_stars_than_redis_allows_match_nothing() {
        let text = "a".repeat(3000);
        assert!(m(&"*?".repeat(1000), &text));
        assert!(!m(&"*?".repeat(1001), &text));
        // A final `*` is not nested: Redis matches it without recursing.
        assert!(m(&("*?".repeat(1000) + "*"), &text));
        // Escaped stars are bytes, not nesting.
        assert!(!m(&"\\*".repeat(1001), &text));
        assert!(m(&"\\*".repeat(1001), &"*".repeat(1001)));
    }

    #[test]
    fn no_blowup_on_many_stars() {
        let pattern = "*a".repeat(50) + "b";
        assert!(!m(&pattern, &"a".repeat(5000)));
    }

    /// A plain recursive matcher for `*`, `?` and literals, to compare against.
    fn model(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => model(&p[1..], s) || (!s.is_empty() && model(p, &s[1..])),
            (Some(b'?'), Some(_)) => model(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => model(&p[1..], &s[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_recursive_model(p in "[ab*?]{0,8}", s in "[ab]{0,10}") {
            prop_assert_eq!(m(&p, &s), model(p.as_bytes(), s.as_bytes()));
        }
    }
}
