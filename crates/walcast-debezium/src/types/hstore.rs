//! `hstore`: its text output (`"k"=>"v", "k2"=>NULL`) parsed into pairs and written as a JSON
//! object (`hstore.handling.mode=map`) or as a JSON string holding that object (`json`), with
//! the keys in the order Debezium writes them (a `java.util.HashMap`'s iteration order).
//!
//! In: the column's text. Out: JSON appended to the buffer.

use crate::config::HstoreMode;
use crate::error::ValueError;
use crate::json;

/// hstore pairs: key and optional value, unescaped.
type HstorePairs = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Parses hstore's text output `"k"=>"v", "k2"=>NULL` into (key, value) pairs.
fn parse_hstore(text: &[u8]) -> Result<HstorePairs, ValueError> {
    fn quoted(t: &[u8], i: &mut usize) -> Result<Vec<u8>, ValueError> {
        if t.get(*i) != Some(&b'"') {
            return Err(ValueError::Hstore);
        }
        *i += 1;
        let mut s = Vec::new();
        loop {
            match t.get(*i) {
                None => return Err(ValueError::Hstore),
                Some(b'"') => {
                    *i += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    s.push(*t.get(*i + 1).ok_or(ValueError::Hstore)?);
                    *i += 2;
                }
                Some(&c) => {
                    s.push(c);
                    *i += 1;
                }
            }
        }
    }
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while text.get(*i).is_some_and(|c| c.is_ascii_whitespace()) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    while i < text.len() {
        let k = quoted(text, &mut i)?;
        skip_ws(&mut i);
        if text.get(i..i + 2) != Some(b"=>") {
            return Err(ValueError::Hstore);
        }
        i += 2;
        skip_ws(&mut i);
        let v = if text.get(i..i + 4) == Some(b"NULL") {
            i += 4;
            None
        } else {
            Some(quoted(text, &mut i)?)
        };
        pairs.push((k, v));
        skip_ws(&mut i);
        match text.get(i) {
            None => break,
            Some(b',') => {
                i += 1;
                skip_ws(&mut i);
            }
            Some(_) => return Err(ValueError::Hstore),
        }
    }
    Ok(pairs)
}

/// The iteration order of a `java.util.HashMap<String,String>` filled with these keys in this
/// order (PgJDBC builds one; Debezium writes it out in its iteration order): bucket by the spread
/// `String.hashCode()`, insertion order within a bucket.
fn java_hashmap_order(keys: &[&[u8]]) -> Vec<usize> {
    let mut cap = 16usize;
    while keys.len() > cap * 3 / 4 {
        cap *= 2;
    }
    let mut idx: Vec<(usize, usize)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let s = String::from_utf8_lossy(k);
            let mut h: i32 = 0;
            for u in s.encode_utf16() {
                h = h.wrapping_mul(31).wrapping_add(i32::from(u));
            }
            let h = h as u32;
            let spread = h ^ (h >> 16);
            ((spread as usize) & (cap - 1), i)
        })
        .collect();
    idx.sort();
    idx.into_iter().map(|(_, i)| i).collect()
}

pub(super) fn write_hstore(
    text: &[u8],
    mode: HstoreMode,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let pairs = parse_hstore(text)?;
    let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| k.as_slice()).collect();
    let order = java_hashmap_order(&keys);
    let mut obj = Vec::with_capacity(text.len() + 8);
    obj.push(b'{');
    for (n, &i) in order.iter().enumerate() {
        if n > 0 {
            obj.push(b',');
        }
        let (k, v) = &pairs[i];
        json::write_bytes_as_str(&mut obj, k);
        obj.push(b':');
        match v {
            Some(v) => json::write_bytes_as_str(&mut obj, v),
            None => obj.extend_from_slice(b"null"),
        }
    }
    obj.push(b'}');
    match mode {
        HstoreMode::Map => out.extend_from_slice(&obj),
        HstoreMode::Json => json::write_bytes_as_str(out, &obj),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::types::testing::{base, cfg, conv};

    #[test]
    fn hstore() {
        let mut h = base("hstore");
        h.schema = "public".into();
        let c = cfg(&[]);
        assert_eq!(
            conv(
                &h,
                -1,
                &c,
                r#""a"=>"1", "b"=>"x y", "c\"q"=>NULL, "d\\e"=>"""#
            ),
            r#""{\"a\":\"1\",\"b\":\"x y\",\"c\\\"q\":null,\"d\\\\e\":\"\"}""#
        );
        let m = cfg(&[("hstore.handling.mode", "map")]);
        assert_eq!(
            conv(&h, -1, &m, r#""ünï"=>"😀", "k,=>"=>"v=>,""#),
            r#"{"k,=>":"v=>,","ünï":"\uD83D\uDE00"}"#
        );
        assert_eq!(conv(&h, -1, &m, ""), "{}");
    }
}
