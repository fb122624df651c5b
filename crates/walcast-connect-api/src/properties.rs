//! Java `.properties` parsing, byte-for-byte the way `java.util.Properties.load` reads a file,
//! because users hand walcast the same `worker.properties` and connector files they give
//! `connect-standalone.sh`.
//!
//! In: the file's text. Out: `(key, value, line)` entries in file order (later duplicates win
//! when collected into a map, as in Java). The only malformed input Java rejects is a bad
//! `\uXXXX` escape; we report it with the line number where its logical line starts.

use std::collections::BTreeMap;

/// A properties file that Java would also refuse to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PropertiesError {
    /// 1-based line where the offending logical line starts.
    pub line: usize,
    pub message: String,
}

/// One `key=value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// 1-based line where the entry starts (for error messages that point at the file).
    pub line: usize,
}

/// Decode a file's bytes: UTF-8 when valid, otherwise ISO-8859-1 like Java's
/// `Properties.load(InputStream)`, so a Latin-1 file written for Connect still loads.
pub fn decode_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parse properties text into entries, in file order.
pub fn parse(text: &str) -> Result<Vec<Entry>, PropertiesError> {
    let mut entries = Vec::new();
    // The logical line being assembled: (line it started on, text so far).
    let mut logical: Option<(usize, String)> = None;
    for (idx, raw) in natural_lines(text).enumerate() {
        let line_no = idx + 1;
        let trimmed = raw.trim_start_matches(is_ws);
        let mut current = match logical.take() {
            Some(pending) => pending,
            None => {
                // Blank lines and comments only count at the start of a logical line; a
                // continuation line starting with `#` is part of the value, as in Java.
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                (line_no, String::new())
            }
        };
        if ends_with_odd_backslashes(trimmed) {
            current.1.push_str(&trimmed[..trimmed.len() - 1]);
            logical = Some(current);
        } else {
            current.1.push_str(trimmed);
            entries.push(split_entry(current.0, &current.1)?);
        }
    }
    if let Some((line, text)) = logical {
        entries.push(split_entry(line, &text)?);
    }
    Ok(entries)
}

/// Parse properties text into a map (last occurrence of a key wins, as in Java).
pub fn parse_map(text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    Ok(parse(text)?.into_iter().map(|e| (e.key, e.value)).collect())
}

/// Java's whitespace inside properties: space, tab and form feed.
fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Natural lines end with `\n`, `\r` or `\r\n`.
fn natural_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            Some(pos) => {
                let line = &rest[..pos];
                let skip = if rest[pos..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[pos + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Split a logical line into key and value exactly like `Properties.load`: the key ends at the
/// first unescaped `=`, `:` or whitespace; whitespace and at most one `=`/`:` separate it from
/// the value.
fn split_entry(line: usize, logical: &str) -> Result<Entry, PropertiesError> {
    let chars: Vec<char> = logical.chars().collect();
    let len = chars.len();
    let mut key_len = 0;
    let mut value_start = len;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < len {
        let c = chars[key_len];
        if (c == '=' || c == ':') && !preceding_backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        } else if is_ws(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < len {
        let c = chars[value_start];
        if !is_ws(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(&chars[..key_len]).map_err(|message| PropertiesError { line, message })?;
    let value = unescape(&chars[value_start.min(len)..])
        .map_err(|message| PropertiesError { line, message })?;
    Ok(Entry { key, value, line })
}

/// Java's `loadConvert`: `\t \n \r \f`, `\uXXXX`, and `\x` for any other `x` means `x`.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.get(i) else {
            // A lone trailing backslash (a continuation at end of file) adds nothing.
            break;
        };
        i += 1;
        match next {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'u' => {
                let hex: String = chars
                    .get(i..i + 4)
                    .map(|s| s.iter().collect())
                    .unwrap_or_default();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        format!("malformed \\uXXXX escape: \\u{hex} (needs exactly 4 hex digits)")
                    })?;
                i += 4;
                // Surrogate pairs arrive as two escapes; combine them like Java's UTF-16 would.
                if (0xD800..0xDC00).contains(&code) {
                    let low: Option<u32> = (chars.get(i) == Some(&'\\')
                        && chars.get(i + 1) == Some(&'u'))
                    .then(|| {
                        chars.get(i + 2..i + 6).and_then(|s| {
                            u32::from_str_radix(&s.iter().collect::<String>(), 16).ok()
                        })
                    })
                    .flatten()
                    .filter(|low| (0xDC00..0xE000).contains(low));
                    if let Some(low) = low {
                        i += 6;
                        let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        out.push(char::from_u32(combined).unwrap_or('\u{FFFD}'));
                        continue;
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> BTreeMap<String, String> {
        parse_map(text).expect("valid properties")
    }

    #[test]
    fn separators_equals_colon_and_whitespace() {
        let m = map("a=1\nb: 2\nc 3\nd\t=\t4\ne :5\nf\ng=\n");
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "2");
        assert_eq!(m["c"], "3");
        assert_eq!(m["d"], "4");
        assert_eq!(m["e"], "5");
        assert_eq!(m["f"], "");
        assert_eq!(m["g"], "");
    }

    #[test]
    fn comments_blank_lines_and_leading_whitespace() {
        let m = map("# comment\n! also comment\n\n   \n   key = value  \n  #notkey=1\n");
        assert_eq!(m.len(), 1);
        // Trailing whitespace in the value is kept, as Java does.
        assert_eq!(m["key"], "value  ");
    }

    #[test]
    fn line_continuation_skips_leading_whitespace_of_next_line() {
        let m = map("list=a,\\\n     b,\\\n     c\nnext=1\n");
        assert_eq!(m["list"], "a,b,c");
        assert_eq!(m["next"], "1");
    }

    #[test]
    fn continuation_line_starting_with_hash_is_value_not_comment() {
        let m = map("k=a\\\n#b\n");
        assert_eq!(m["k"], "a#b");
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        let m = map("path=c:\\\\\nother=x\n");
        assert_eq!(m["path"], "c:\\");
        assert_eq!(m["other"], "x");
    }

    #[test]
    fn comment_ending_in_backslash_does_not_continue() {
        let m = map("# comment \\\nkey=v\n");
        assert_eq!(m["key"], "v");
    }

    #[test]
    fn escapes_in_keys_and_values() {
        let m = map("my\\ key\\=x=tab\\there\\nnl \\u00e9\\u0041 \\q\n");
        assert_eq!(m["my key=x"], "tab\there\nnl éA q");
    }

    #[test]
    fn surrogate_pair_escape() {
        let m = map("emoji=\\ud83d\\ude00\n");
        assert_eq!(m["emoji"], "😀");
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let m = map("a=1\r\nb=2\rc=3");
        assert_eq!(
            (m["a"].as_str(), m["b"].as_str(), m["c"].as_str()),
            ("1", "2", "3")
        );
    }

    #[test]
    fn continuation_at_end_of_file() {
        let m = map("a=1\\");
        assert_eq!(m["a"], "1");
    }

    #[test]
    fn last_duplicate_wins() {
        assert_eq!(map("a=1\na=2\n")["a"], "2");
    }

    #[test]
    fn malformed_unicode_escape_reports_line() {
        let err = parse("ok=1\n\n# c\nbad=\\u12G4\n").expect_err("bad escape must fail");
        assert_eq!(err.line, 4);
        assert!(err.message.contains("\\uXXXX"), "{err}");
        let err = parse("a=1\nb=x\\\n  \\u12\n").expect_err("short escape must fail");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn entries_carry_their_start_line() {
        let entries = parse("\n# x\na=1\nb=2\\\n 3\nc=4").expect("valid");
        let lines: Vec<usize> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode_bytes(b"k=caf\xe9"), "k=café");
        assert_eq!(decode_bytes("k=café".as_bytes()), "k=café");
    }
}
