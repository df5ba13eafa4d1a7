//! A strict scanner for the usual shape of a request line: one flat JSON object whose values
//! are strings without escapes and unsigned integers, such as
//! `{"id":7,"type":"message","to":"yoda","text":"hi"}`. It borrows every string from the
//! line and builds nothing, which is what makes it cheaper than serde_json's deserializer on
//! the server's hot path.
//!
//! It is a shortcut, never the judge: anything it is not sure of (an escape, a control
//! character, a float, a negative number, `null`, a nested value, a key the caller does not
//! take, a key twice, trailing characters) makes it answer `None`, and the line goes to
//! serde_json, which alone decides what it is. Where it answers, serde_json would have read
//! the same values (the decoder's tests check this over mutated lines).

/// A value of the flat object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar<'a> {
    /// A string without escapes, borrowed from the line.
    Str(&'a str),
    /// A non-negative integer that fits in a `u64`.
    Uint(u64),
}

/// Calls `field` with each key and value of the JSON object `text`, in order. `None` if
/// `text` is not an object of that shape, or as soon as `field` returns false.
pub(crate) fn scan_object<'a>(
    text: &'a str,
    mut field: impl FnMut(&'a str, Scalar<'a>) -> bool,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (key, next) = string(text, i)?;
            i = skip_ws(b, next);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            let (value, next) = match b.get(i)? {
                b'"' => {
                    let (s, next) = string(text, i)?;
                    (Scalar::Str(s), next)
                }
                b'0'..=b'9' => {
                    let (n, next) = uint(b, i)?;
                    (Scalar::Uint(n), next)
                }
                _ => return None,
            };
            if !field(key, value) {
                return None;
            }
            i = skip_ws(b, next);
            match b.get(i)? {
                b',' => i = skip_ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(())
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The string whose opening quote is at `i`, and the index after its closing quote; `None`
/// if it has an escape or a control character (or no end).
fn string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    // The closing quote is the first byte a JSON string would escape, if it has no escapes.
    let len = b[start..].iter().position(|&c| crate::codec::escaped(c))?;
    let end = start + len;
    if b[end] != b'"' {
        return None;
    }
    // Both ends are ASCII quotes, so on character boundaries.
    Some((text.get(start..end)?, end + 1))
}

/// The unsigned integer whose first digit is at `i`, and the index after it; `None` for what
/// JSON or a `u64` does not allow (a leading zero, a fraction or exponent, an overflow).
fn uint(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let s = &b[i..i + digits];
    if digits > 1 && s[0] == b'0' {
        return None;
    }
    let mut n: u64 = 0;
    for &d in s {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    match b.get(i + digits) {
        Some(b'.' | b'e' | b'E') => None,
        _ => Some((n, i + digits)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Option<Vec<(&str, Scalar<'_>)>> {
        let mut out = Vec::new();
        scan_object(text, |k, v| {
            out.push((k, v));
            true
        })?;
        Some(out)
    }

    #[test]
    fn reads_flat_objects_of_plain_strings_and_unsigned_integers() {
        use Scalar::{Str, Uint};
        assert_eq!(scan("{}"), Some(vec![]));
        assert_eq!(
            scan(" {\"id\" : 0 ,\t\"type\":\"x\",\r\n\"to\":\"ünï 漢\"} "),
            Some(vec![
                ("id", Uint(0)),
                ("type", Str("x")),
                ("to", Str("ünï 漢"))
            ])
        );
        assert_eq!(
            scan(r#"{"n":18446744073709551615}"#),
            Some(vec![("n", Uint(u64::MAX))])
        );
    }

    #[test]
    fn leaves_everything_else_to_serde_json() {
        for text in [
            "",
            "[]",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}{}"#,
            r#"{"a":"b\"c"}"#,
            r#"{"a\u0041":1}"#,
            "{\"a\":\"b\u{1}c\"}",
            "{\"a\":\"b\u{7}\"}",
            r#"{"a":01}"#,
            r#"{"a":-1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":null}"#,
            r#"{"a":true}"#,
            r#"{"a":[1]}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":"unterminated}"#,
        ] {
            assert_eq!(scan(text), None, "{text:?}");
        }
        // The caller may refuse a key.
        assert_eq!(scan_object(r#"{"a":1}"#, |_, _| false), None);
    }
}
