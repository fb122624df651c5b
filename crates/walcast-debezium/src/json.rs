//! Low-level JSON output, byte-compatible with what Kafka Connect's `JsonConverter` (Jackson)
//! writes: strings escaped the way Jackson escapes them (control characters as upper-case
//! `\u00XX`, characters outside the Basic Multilingual Plane as a UTF-16 surrogate pair of
//! escapes), floating-point numbers laid out like Java's `Double.toString`/`Float.toString`
//! (`1.0E-7`, `100.0`), non-finite numbers quoted (`"NaN"`), bytes as standard base64.
//!
//! Everything appends to a caller-provided `Vec<u8>` and allocates nothing else, because this runs
//! once per column per row on the hot path.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// For each byte: 0 = copy as is, 1 = needs attention (quote, backslash, control character, or
/// the lead byte of a 4-byte UTF-8 sequence which Jackson writes as a surrogate pair).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    let mut i = 0xF0;
    while i < 0x100 {
        t[i] = 1;
        i += 1;
    }
    t
};

/// Appends `s` as a quoted JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s.as_bytes());
    out.push(b'"');
}

/// Appends `bytes` (which should be UTF-8) as a quoted JSON string. Invalid UTF-8 is replaced by
/// U+FFFD, as Java's decoding of the column value would.
#[inline]
pub fn write_bytes_as_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    match std::str::from_utf8(bytes) {
        Ok(_) => write_str_body(out, bytes),
        Err(_) => {
            let lossy = String::from_utf8_lossy(bytes);
            write_str_body(out, lossy.as_bytes());
        }
    }
    out.push(b'"');
}

/// Appends the escaped body of a JSON string (no quotes). `bytes` must be valid UTF-8.
pub fn write_str_body(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if ESCAPE[b as usize] == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            0x00..=0x1F => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX_UPPER[(b >> 4) as usize]);
                out.push(HEX_UPPER[(b & 0xF) as usize]);
            }
            _ => {
                // A 4-byte UTF-8 sequence: a code point above U+FFFF, which Jackson's UTF-8
                // generator writes as two `\uXXXX` escapes (a UTF-16 surrogate pair).
                let cp = bytes.get(i..i + 4).and_then(|s| {
                    let c = std::str::from_utf8(s).ok()?.chars().next()?;
                    Some(c as u32)
                });
                match cp {
                    Some(cp) if cp > 0xFFFF => {
                        let v = cp - 0x10000;
                        write_u16_escape(out, 0xD800 + (v >> 10) as u16);
                        write_u16_escape(out, 0xDC00 + (v & 0x3FF) as u16);
                        i += 4;
                        start = i;
                        continue;
                    }
                    _ => out.push(b),
                }
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn write_u16_escape(out: &mut Vec<u8>, u: u16) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX_UPPER[((u >> shift) & 0xF) as usize]);
    }
}

/// Appends an integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// Appends an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// Appends a Connect `float64` the way Jackson writes a Java `double`.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        let mut b = ryu::Buffer::new();
        java_layout(out, b.format_finite(v).as_bytes());
    }
}

/// Appends a Connect `float32` the way Jackson writes a Java `float`.
pub fn write_f32(out: &mut Vec<u8>, v: f32) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        let mut b = ryu::Buffer::new();
        java_layout(out, b.format_finite(v).as_bytes());
    }
}

/// Re-lays out ryu's shortest representation (`1e-7`, `0.001`, `1.5e300`, `100.0`) in Java's
/// `Double.toString` form: plain decimal with at least one fractional digit when
/// 10^-3 <= |v| < 10^7, otherwise `d.dddE[-]n`.
fn java_layout(out: &mut Vec<u8>, ryu_out: &[u8]) {
    let (neg, s) = match ryu_out.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, ryu_out),
    };
    let (mantissa, exp) = match s.iter().position(|&c| c == b'e') {
        Some(p) => (&s[..p], parse_small_int(&s[p + 1..])),
        None => (s, 0),
    };
    // Significant digits and the position of the decimal point relative to them.
    let mut digits = [0u8; 24];
    let mut n = 0usize;
    let mut point: i32 = 0;
    let mut seen_point = false;
    let mut leading = true;
    for &c in mantissa {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if leading && c == b'0' {
            if seen_point {
                point -= 1;
            }
            continue;
        }
        leading = false;
        if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
        if !seen_point {
            point += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    if neg {
        out.push(b'-');
    }
    if n == 0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    let point = point + exp;
    let sci = point - 1;
    let digits = &digits[..n];
    if (-3..7).contains(&sci) {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-point) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        } else if point as usize >= n {
            out.extend_from_slice(digits);
            for _ in 0..(point as usize - n) {
                out.push(b'0');
            }
            out.extend_from_slice(b".0");
        } else {
            let p = point as usize;
            out.extend_from_slice(&digits[..p]);
            out.push(b'.');
            out.extend_from_slice(&digits[p..]);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if n > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        write_i64(out, i64::from(sci));
    }
}

fn parse_small_int(s: &[u8]) -> i32 {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let mut v: i32 = 0;
    for &c in digits {
        v = v
            .saturating_mul(10)
            .saturating_add(i32::from(c.wrapping_sub(b'0')));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Appends `data` as a quoted base64 string with the given engine, encoding straight into `out`.
pub fn write_base64_with(out: &mut Vec<u8>, data: &[u8], engine: &impl base64::Engine) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = engine.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// Appends `data` as a quoted standard (padded) base64 string, which is how `JsonConverter`
/// writes Connect `bytes`.
#[inline]
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    write_base64_with(out, data, &base64::engine::general_purpose::STANDARD);
}

/// Appends `s` as a JSON object key followed by a colon.
pub fn write_key(out: &mut Vec<u8>, s: &str) {
    write_str(out, s);
    out.push(b':');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn f64s(v: f64) -> String {
        let mut o = Vec::new();
        write_f64(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    fn f32s(v: f32) -> String {
        let mut o = Vec::new();
        write_f32(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn doubles_are_laid_out_like_java() {
        // Values from the types_numeric fixture.
        assert_eq!(f64s(1.5), "1.5");
        assert_eq!(f64s(1e-300), "1.0E-300");
        assert_eq!(f64s(1.7976931348623157e308), "1.7976931348623157E308");
        assert_eq!(f64s(-0.0), "-0.0");
        assert_eq!(f64s(0.0), "0.0");
        assert_eq!(f64s(0.1), "0.1");
        assert_eq!(f64s(1e-7), "1.0E-7");
        assert_eq!(f64s(12345678.0), "1.2345678E7");
        assert_eq!(f64s(1e7), "1.0E7");
        assert_eq!(f64s(1e-4), "1.0E-4");
        assert_eq!(f64s(0.001), "0.001");
        assert_eq!(f64s(9007199254740993.0), "9.007199254740992E15");
        assert_eq!(f64s(100.0), "100.0");
        assert_eq!(f64s(1234567.0), "1234567.0");
        assert_eq!(f64s(-2.5), "-2.5");
        assert_eq!(f64s(123.456), "123.456");
        assert_eq!(f64s(f64::NAN), "\"NaN\"");
        assert_eq!(f64s(f64::INFINITY), "\"Infinity\"");
        assert_eq!(f64s(f64::NEG_INFINITY), "\"-Infinity\"");
    }

    #[test]
    fn floats_are_laid_out_like_java() {
        assert_eq!(f32s(-3.4028235e38), "-3.4028235E38");
        assert_eq!(f32s(0.1), "0.1");
        assert_eq!(f32s(1e-7), "1.0E-7");
        assert_eq!(f32s(1234567.0), "1234567.0");
        assert_eq!(f32s(16777216.0), "1.6777216E7");
        assert_eq!(f32s(100.0), "100.0");
        assert_eq!(f32s(0.001), "0.001");
        assert_eq!(f32s(-0.0), "-0.0");
    }

    #[test]
    fn strings_are_escaped_like_jackson() {
        let mut o = Vec::new();
        write_str(
            &mut o,
            "quote \" backslash \\ newline \n tab \t cr \r bell \x07 unit \x1f del \x7f",
        );
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\"quote \\\" backslash \\\\ newline \\n tab \\t cr \\r bell \\u0007 unit \\u001F del \x7f\""
        );
        let mut o = Vec::new();
        write_str(&mut o, "é 中文 😀 \u{2028}/");
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "\"é 中文 \\uD83D\\uDE00 \u{2028}/\""
        );
    }

    #[test]
    fn bytes_are_base64() {
        let mut o = Vec::new();
        write_base64(&mut o, &[0x04, 0xD2]);
        assert_eq!(o, b"\"BNI=\"");
        let mut o = Vec::new();
        write_base64(&mut o, &[]);
        assert_eq!(o, b"\"\"");
    }

    proptest::proptest! {
        #[test]
        fn escaped_strings_parse_back(s in ".*") {
            let mut o = Vec::new();
            write_str(&mut o, &s);
            let back: String = serde_json::from_slice(&o).unwrap();
            proptest::prop_assert_eq!(back, s);
        }

        #[test]
        fn doubles_parse_back(v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let mut o = Vec::new();
            write_f64(&mut o, v);
            let back: f64 = std::str::from_utf8(&o).unwrap().parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), v.to_bits());
        }

        #[test]
        fn floats_parse_back(v in proptest::num::f32::NORMAL | proptest::num::f32::SUBNORMAL) {
            let mut o = Vec::new();
            write_f32(&mut o, v);
            let back: f32 = std::str::from_utf8(&o).unwrap().parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), v.to_bits());
        }
    }
}
