//! Geometric types: `point` as Debezium's `io.debezium.data.geometry.Point` struct (x, y and its
//! WKB), and the text of the other geometric types (`line`, `box`, `polygon`...), which Debezium
//! includes as unknown types only, re-rendered the way PgJDBC's objects print themselves.
//!
//! In: the column's text. Out: JSON (the Point struct) or bytes appended to the buffer.

use crate::error::ValueError;
use crate::json;
use crate::numeric::parse_float;

/// `(x,y)` as Debezium's Point struct with its WKB.
pub(super) fn write_point(text: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
    let inner = text
        .strip_prefix(b"(")
        .and_then(|t| t.strip_suffix(b")"))
        .ok_or(ValueError::Point)?;
    let comma = inner
        .iter()
        .position(|&c| c == b',')
        .ok_or(ValueError::Point)?;
    let x: f64 = parse_float(&inner[..comma]).ok_or(ValueError::Point)?;
    let y: f64 = parse_float(&inner[comma + 1..]).ok_or(ValueError::Point)?;
    let mut wkb = [0u8; 21];
    wkb[0] = 1;
    wkb[1..5].copy_from_slice(&1u32.to_le_bytes());
    wkb[5..13].copy_from_slice(&x.to_le_bytes());
    wkb[13..21].copy_from_slice(&y.to_le_bytes());
    out.extend_from_slice(b"{\"x\":");
    json::write_f64(out, x);
    out.extend_from_slice(b",\"y\":");
    json::write_f64(out, y);
    out.extend_from_slice(b",\"wkb\":");
    json::write_base64(out, &wkb);
    out.extend_from_slice(b",\"srid\":null}");
    Ok(())
}

/// Geometric text with every number printed as a Java double (`{1,-1,0}` -> `{1.0,-1.0,0.0}`),
/// which is how PgJDBC's `PGline`, `PGbox`... objects print themselves in Debezium.
pub(super) fn rerender_geometric(text: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_digit() || c == b'-' || c == b'.' || c == b'+' {
            let start = i;
            while i < text.len()
                && (text[i].is_ascii_digit() || matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E'))
            {
                i += 1;
            }
            match parse_float::<f64>(&text[start..i]) {
                Some(v) => json::write_f64(out, v),
                None => out.extend_from_slice(&text[start..i]),
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::types::repr::repr_of;
    use crate::types::testing::{base, cfg, conv};

    #[test]
    fn points_and_geometric_text() {
        let c = cfg(&[]);
        assert_eq!(
            conv(&base("point"), -1, &c, "(1.5,-2)"),
            r#"{"x":1.5,"y":-2.0,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAADA","srid":null}"#
        );
        // Other geometric types are unknown types: left out unless include.unknown.datatypes,
        // and then their text with every number printed as a Java double.
        assert!(repr_of(&base("box"), -1, &c).is_none());
        let u = cfg(&[("include.unknown.datatypes", "true")]);
        assert_eq!(
            conv(&base("line"), -1, &u, "{1,-1,0}"),
            r#""ezEuMCwtMS4wLDAuMH0=""#
        );
    }
}
