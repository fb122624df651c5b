//! Binary values: `bytea` (PostgreSQL's `\x` hex output, or the legacy escape format) written in
//! the connector's `binary.handling.mode`, and bit strings (`bit(n)`, `varbit`) written as
//! `io.debezium.data.Bits` bytes.
//!
//! In: the column's text. Out: a JSON string appended to the buffer; bytea is decoded and
//! re-encoded chunk by chunk, so a large value is never held twice.

use base64::Engine as _;

use crate::config::BinaryMode;
use crate::error::ValueError;
use crate::json;

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes PostgreSQL's bytea text output (`\x` hex, or the legacy escape format) chunk by chunk
/// into `sink`, each chunk a multiple of 3 bytes except the last, so base64 can be streamed.
fn decode_bytea(text: &[u8], mut sink: impl FnMut(&[u8], bool)) -> Result<(), ValueError> {
    let mut chunk = [0u8; 768];
    let mut n = 0;
    if let Some(hex) = text.strip_prefix(b"\\x") {
        if hex.len() % 2 != 0 {
            return Err(ValueError::Bytea);
        }
        for pair in hex.chunks_exact(2) {
            let (Some(h), Some(l)) = (hex_val(pair[0]), hex_val(pair[1])) else {
                return Err(ValueError::Bytea);
            };
            chunk[n] = (h << 4) | l;
            n += 1;
            if n == chunk.len() {
                sink(&chunk, false);
                n = 0;
            }
        }
    } else {
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            let b = if c == b'\\' {
                match text.get(i + 1) {
                    Some(b'\\') => {
                        i += 2;
                        b'\\'
                    }
                    Some(_) => {
                        let oct = text.get(i + 1..i + 4).ok_or(ValueError::Bytea)?;
                        if !oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                            return Err(ValueError::Bytea);
                        }
                        i += 4;
                        let v = u32::from(oct[0] - b'0') * 64
                            + u32::from(oct[1] - b'0') * 8
                            + u32::from(oct[2] - b'0');
                        u8::try_from(v).map_err(|_| ValueError::Bytea)?
                    }
                    None => return Err(ValueError::Bytea),
                }
            } else {
                i += 1;
                c
            };
            chunk[n] = b;
            n += 1;
            if n == chunk.len() {
                sink(&chunk, false);
                n = 0;
            }
        }
    }
    sink(&chunk[..n], true);
    Ok(())
}

pub(super) fn write_bytea(
    text: &[u8],
    mode: BinaryMode,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    out.push(b'"');
    let body_start = out.len();
    let engine = match mode {
        BinaryMode::Base64UrlSafe => &base64::engine::general_purpose::URL_SAFE,
        _ => &base64::engine::general_purpose::STANDARD,
    };
    let res = decode_bytea(text, |chunk, _last| match mode {
        BinaryMode::Hex => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in chunk {
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xF) as usize]);
            }
        }
        _ => {
            let start = out.len();
            let len = base64::encoded_len(chunk.len(), true).unwrap_or(0);
            out.resize(start + len, 0);
            let n = engine.encode_slice(chunk, &mut out[start..]).unwrap_or(0);
            out.truncate(start + n);
        }
    });
    if res.is_err() {
        out.truncate(body_start - 1);
        return res;
    }
    out.push(b'"');
    Ok(())
}

/// A bit string as `io.debezium.data.Bits`: the bits read as a big-endian number, written as
/// little-endian bytes without trailing zero bytes (`java.util.BitSet.toByteArray()`).
pub(super) fn write_bits(text: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    if !text.iter().all(|&c| c == b'0' || c == b'1') {
        return Err(ValueError::Bits);
    }
    let nbytes = text.len().div_ceil(8);
    let mut small = [0u8; 64];
    let mut large = Vec::new();
    let bytes: &mut [u8] = if nbytes <= small.len() {
        &mut small[..nbytes]
    } else {
        large.resize(nbytes, 0);
        &mut large
    };
    for (i, &c) in text.iter().rev().enumerate() {
        if c == b'1' {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    let mut len = bytes.len();
    while len > 0 && bytes[len - 1] == 0 {
        len -= 1;
    }
    json::write_base64(out, &bytes[..len]);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;

    use crate::types::testing::{base, cfg, conv};

    #[test]
    fn bit_strings_and_bytea() {
        let c = cfg(&[]);
        assert_eq!(conv(&base("bit"), 1, &c, "1"), "true");
        assert_eq!(conv(&base("bit"), 10, &c, "1010101010"), r#""qgI=""#);
        assert_eq!(
            conv(&base("varbit"), -1, &c, "1111111100000000111"),
            r#""B/gH""#
        );
        assert_eq!(conv(&base("bit"), 10, &c, "0000000000"), r#""""#);
        assert_eq!(conv(&base("bytea"), -1, &c, "\\x0102ff"), r#""AQL/""#);
        assert_eq!(conv(&base("bytea"), -1, &c, "\\x"), r#""""#);
    }

    #[test]
    fn binary_modes() {
        let b = base("bytea");
        for (mode, expected) in [
            ("base64", r#""+/8+PwA=""#),
            ("base64-url-safe", r#""-_8-PwA=""#),
            ("hex", r#""fbff3e3f00""#),
            ("bytes", r#""+/8+PwA=""#),
        ] {
            assert_eq!(
                conv(
                    &b,
                    -1,
                    &cfg(&[("binary.handling.mode", mode)]),
                    "\\xfbff3e3f00"
                ),
                expected
            );
        }
        // Long values cross the 768-byte chunk boundary.
        let data: Vec<u8> = (0..2000u32).map(|i| (i * 7) as u8).collect();
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        let got = conv(&b, -1, &cfg(&[]), &format!("\\x{hex}"));
        assert_eq!(
            got,
            format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(&data)
            )
        );
        // Escape format.
        assert_eq!(
            conv(&b, -1, &cfg(&[]), "a\\\\b\\001"),
            format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(b"a\\b\x01")
            )
        );
    }
}
