//! Arrays: a one-dimensional array literal (`{a,"b c",NULL}`, optionally with bounds
//! `[l:u]={...}`) split into elements, each written with the element type's [`Repr`], with
//! Debezium's rules for NULL elements of enum arrays, NaN in numeric arrays and nested
//! (multi-dimensional) arrays.
//!
//! In: the array's text and its element representation. Out: a JSON array (or `null`) appended
//! to the buffer.

use super::repr::Repr;
use crate::error::ValueError;
use crate::numeric;

/// One element of an array literal.
enum Elem<'a> {
    Null,
    /// Unquoted or quoted without escapes.
    Borrowed(&'a [u8]),
    /// Quoted with backslash escapes removed.
    Owned(Vec<u8>),
    /// A nested array (multi-dimensional arrays).
    Nested,
}

/// Splits a one-dimensional array literal `{a,"b c",NULL}` (optionally `[l:u]={...}`).
fn for_each_element<'a>(
    text: &'a [u8],
    mut f: impl FnMut(Elem<'a>) -> Result<(), ValueError>,
) -> Result<(), ValueError> {
    let mut t = text;
    if t.first() == Some(&b'[') {
        let eq = t.iter().position(|&c| c == b'=').ok_or(ValueError::Array)?;
        t = &t[eq + 1..];
    }
    let inner = t
        .strip_prefix(b"{")
        .and_then(|t| t.strip_suffix(b"}"))
        .ok_or(ValueError::Array)?;
    if inner.is_empty() {
        return Ok(());
    }
    let mut i = 0;
    loop {
        match inner.get(i) {
            Some(b'"') => {
                i += 1;
                let start = i;
                let mut owned: Option<Vec<u8>> = None;
                loop {
                    match inner.get(i) {
                        None => return Err(ValueError::Array),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let o = owned.get_or_insert_with(|| inner[start..i].to_vec());
                            let c = *inner.get(i + 1).ok_or(ValueError::Array)?;
                            o.push(c);
                            i += 2;
                        }
                        Some(&c) => {
                            if let Some(o) = owned.as_mut() {
                                o.push(c);
                            }
                            i += 1;
                        }
                    }
                }
                let elem = match owned {
                    Some(o) => Elem::Owned(o),
                    None => Elem::Borrowed(&inner[start..i]),
                };
                i += 1;
                f(elem)?;
            }
            Some(b'{') => {
                let mut depth = 0usize;
                let mut in_quotes = false;
                while let Some(&c) = inner.get(i) {
                    match c {
                        b'\\' if in_quotes => i += 1,
                        b'"' => in_quotes = !in_quotes,
                        b'{' if !in_quotes => depth += 1,
                        b'}' if !in_quotes => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if depth != 0 {
                    return Err(ValueError::Array);
                }
                f(Elem::Nested)?;
            }
            Some(_) => {
                let start = i;
                while let Some(&c) = inner.get(i) {
                    if c == b',' {
                        break;
                    }
                    i += 1;
                }
                let raw = &inner[start..i];
                if raw.eq_ignore_ascii_case(b"NULL") {
                    f(Elem::Null)?;
                } else {
                    f(Elem::Borrowed(raw))?;
                }
            }
            None => return Err(ValueError::Array),
        }
        match inner.get(i) {
            None => return Ok(()),
            Some(b',') => i += 1,
            Some(_) => return Err(ValueError::Array),
        }
    }
}

pub(super) fn write_array(
    text: &[u8],
    element: &Repr,
    required_items: bool,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let start = out.len();
    let mut nullify = false;
    out.push(b'[');
    let mut first = true;
    let res = for_each_element(text, |e| {
        if nullify {
            return Ok(());
        }
        if !first {
            out.push(b',');
        }
        first = false;
        match e {
            Elem::Null => {
                if required_items {
                    nullify = true;
                }
                out.extend_from_slice(b"null");
            }
            // Debezium maps each top-level element of a multi-dimensional array on its own and
            // gets null for the nested ones; the schema has no room for nesting anyway.
            Elem::Nested => out.extend_from_slice(b"null"),
            Elem::Borrowed(v) => write_element(element, v, out, &mut nullify)?,
            Elem::Owned(v) => write_element(element, &v, out, &mut nullify)?,
        }
        Ok(())
    });
    if let Err(e) = res {
        out.truncate(start);
        return Err(e);
    }
    if nullify {
        out.truncate(start);
        out.extend_from_slice(b"null");
    } else {
        out.push(b']');
    }
    Ok(())
}

fn write_element(
    element: &Repr,
    v: &[u8],
    out: &mut Vec<u8>,
    nullify: &mut bool,
) -> Result<(), ValueError> {
    match element {
        // Debezium turns a numeric array with NaN or infinities into null in every mode.
        Repr::DecimalBytes { .. }
        | Repr::VariableScaleDecimal
        | Repr::DecimalString
        | Repr::DecimalDouble => {
            if let Err(_special) = numeric::parse(v)? {
                *nullify = true;
                return Ok(());
            }
            element.write(v, out)
        }
        _ => element.write(v, out),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use walcast_pgoutput::{PgType, PgTypeKind};

    use crate::types::repr::repr_of;
    use crate::types::testing::{arr, base, cfg, conv};

    #[test]
    fn arrays() {
        let c = cfg(&[]);
        let t = arr(base("text"));
        assert_eq!(
            conv(
                &t,
                -1,
                &c,
                r#"{NULL,"NULL","",a b,"q\"uote","back\\slash","com,ma","{brace}"}"#
            ),
            r#"[null,"NULL","","a b","q\"uote","back\\slash","com,ma","{brace}"]"#
        );
        assert_eq!(conv(&arr(base("int4")), -1, &c, "[0:1]={5,6}"), "[5,6]");
        assert_eq!(
            conv(&arr(base("int4")), -1, &c, "{{1,2},{3,4}}"),
            "[null,null]"
        );
        assert_eq!(conv(&arr(base("int4")), -1, &c, "{}"), "[]");
        let e = PgType {
            oid: 0,
            schema: "public".into(),
            name: "color".into(),
            kind: PgTypeKind::Enum {
                labels: vec!["red".into(), "green".into()],
            },
        };
        assert_eq!(conv(&arr(e.clone()), -1, &c, "{NULL,green}"), "null");
        assert_eq!(conv(&arr(e), -1, &c, "{red,green}"), r#"["red","green"]"#);
        assert_eq!(
            conv(&arr(base("bytea")), -1, &c, r#"{"\\x0102",NULL}"#),
            r#"["AQI=",null]"#
        );
    }

    proptest::proptest! {
        #[test]
        fn array_like_text_never_panics(s in r#"[\[\]{}",\\a1 NUL=:-]{0,40}"#) {
            let c = cfg(&[]);
            let _ = repr_of(&arr(base("text")), -1, &c).unwrap().write(s.as_bytes(), &mut Vec::new());
            let _ = repr_of(&arr(base("numeric")), -1, &c).unwrap().write(s.as_bytes(), &mut Vec::new());
        }
    }
}
