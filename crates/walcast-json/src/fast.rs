//! The common payload in one pass over its text, without serde: what Debezium and Connect
//! write for rows of plain columns (objects with every field in schema order; strings, escapes
//! included; integers; booleans; nulls; base64 bytes), with the envelope fields a sink does not
//! build checked as JSON and skipped. Anything else (a float, an array or map, a field out of
//! order, missing or unknown, an escaped surrogate, a null that a default replaces or that a
//! required field may not hold, a number out of range, any syntax error) gives `None`, and the
//! payload is read by `seed` as before, which reads it the same way or says what is wrong. So
//! this never decides a value that `seed` would read differently (the tests compare the two).
//!
//! In: the payload text (already checked as UTF-8), its schema and the envelope fields to
//! build. Out: the value, or `None`.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;

use walcast_connect_api::{SchemaRef, SchemaType, Struct, Value};

/// Nesting deeper than this goes the general way.
const MAX_DEPTH: usize = 64;

/// The payload per `schema` (a struct), or `None` when it is not of the common form.
pub(crate) fn read(schema: &SchemaRef, text: &str, keep: Option<&[&str]>) -> Option<Value> {
    if schema.kind != SchemaType::Struct {
        return None;
    }
    let mut r = Reader {
        text,
        b: text.as_bytes(),
        at: 0,
    };
    let v = r.structure(schema, keep, 0)?;
    r.ws();
    (r.at == r.b.len()).then_some(v)
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// JSON whitespace (as serde_json reads it: space, tab, newline, carriage return).
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// `"name":` exactly (a key with an escape is not of the common form).
    fn key(&mut self, name: &str) -> Option<()> {
        self.eat(b'"')?;
        let end = self.at + name.len();
        if self.b.get(self.at..end)? != name.as_bytes() || self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        self.eat(b':')
    }

    /// An object with exactly `schema`'s fields, in order. With `keep`, the other fields are
    /// checked and read as nulls.
    fn structure(
        &mut self,
        schema: &SchemaRef,
        keep: Option<&[&str]>,
        depth: usize,
    ) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        let mut values = Vec::with_capacity(schema.fields.len());
        for (i, f) in schema.fields.iter().enumerate() {
            if i > 0 {
                self.eat(b',')?;
            }
            self.key(&f.name)?;
            if keep.is_some_and(|k| !k.contains(&f.name.as_str())) {
                self.skip(depth + 1)?;
                values.push(Value::Null);
            } else {
                values.push(self.value(&f.schema, depth + 1)?);
            }
        }
        self.eat(b'}')?;
        Some(Value::Struct(Struct {
            schema: Arc::clone(schema),
            values,
        }))
    }

    fn value(&mut self, schema: &SchemaRef, depth: usize) -> Option<Value> {
        self.ws();
        match (self.peek()?, schema.kind) {
            (b'n', _) => {
                self.literal(b"null")?;
                // A default replaces a null (seed's rule); a required field's null is an error.
                (schema.optional && schema.default.is_none()).then_some(Value::Null)
            }
            (b'"', SchemaType::String) => Some(Value::String(self.string()?.into_owned())),
            // Bytes and Decimals as base64 (seed's rule for every bytes schema).
            (b'"', SchemaType::Bytes) => {
                let text = self.string()?;
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .ok()
                    .map(Value::Bytes)
            }
            (b't', SchemaType::Boolean) => self.literal(b"true").map(|()| Value::Boolean(true)),
            (b'f', SchemaType::Boolean) => self.literal(b"false").map(|()| Value::Boolean(false)),
            (b'-' | b'0'..=b'9', SchemaType::Int8) => {
                Some(Value::Int8(i8::try_from(self.integer()?).ok()?))
            }
            (b'-' | b'0'..=b'9', SchemaType::Int16) => {
                Some(Value::Int16(i16::try_from(self.integer()?).ok()?))
            }
            (b'-' | b'0'..=b'9', SchemaType::Int32) => {
                Some(Value::Int32(i32::try_from(self.integer()?).ok()?))
            }
            (b'-' | b'0'..=b'9', SchemaType::Int64) => Some(Value::Int64(self.integer()?)),
            (b'{', SchemaType::Struct) => self.structure(schema, None, depth),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.b.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A string's text, borrowed when it has no escapes. Control characters, and escapes of
    /// surrogates (which serde_json pairs up or refuses), are not of the common form.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.at += 1;
        let start = self.at;
        loop {
            match *self.b.get(self.at)? {
                b'"' => break,
                b'\\' => return self.escaped(start),
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        // Between two ASCII quotes of UTF-8 text: a slice on character boundaries.
        let s = self.text.get(start..self.at)?;
        self.at += 1;
        Some(Cow::Borrowed(s))
    }

    /// The rest of a string from its first escape at `self.at`; `start` is its first byte.
    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let mut out = String::from(self.text.get(start..self.at)?);
        loop {
            let run = self.at;
            while !matches!(*self.b.get(self.at)?, b'"' | b'\\' | 0..=0x1f) {
                self.at += 1;
            }
            out.push_str(self.text.get(run..self.at)?);
            match self.b[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let c = match *self.b.get(self.at + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.text.get(self.at + 2..self.at + 6)?;
                            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                                return None;
                            }
                            // A surrogate has no `char`: None.
                            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                            self.at += 4;
                            c
                        }
                        _ => return None,
                    };
                    out.push(c);
                    self.at += 2;
                }
                _ => return None,
            }
        }
    }

    /// An integer token that fits an `i64`: `-`, then `0` or digits without a leading zero,
    /// with no fraction or exponent, and not `-0`.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut n: i64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            let d = i64::from(c - b'0');
            n = n
                .checked_mul(10)?
                .checked_add(if negative { -d } else { d })?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        // serde_json reads `-0` as the float -0.0.
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) || (negative && n == 0) {
            return None;
        }
        Some(n)
    }

    /// Any JSON value, checked (at least as strictly as serde_json) and not built.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'"' => self.skip_string(),
            b'-' | b'0'..=b'9' => self.skip_number(),
            b'[' => {
                self.at += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.at += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.skip_string()?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// A string, escapes checked: `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` and `\u` with four
    /// hex digits (a surrogate escape, paired or not, goes the general way).
    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            match *self.b.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                0..=0x1f => return None,
                b'\\' => match *self.b.get(self.at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                    b'u' => {
                        let hex = self.b.get(self.at + 2..self.at + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit)
                            || matches!(hex[0], b'd' | b'D')
                                && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                        {
                            return None;
                        }
                        self.at += 6;
                    }
                    _ => return None,
                },
                _ => self.at += 1,
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |r: &mut Self| {
            let start = r.at;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.at += 1;
            }
            r.at - start
        };
        let start = self.at;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[start] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::seed::read_payload_general;
    use walcast_connect_api::Schema;

    /// Every `schema`/`payload` pair of the captured Debezium fixtures (keys and values).
    fn fixtures() -> Vec<(SchemaRef, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path().join("expected.jsonl");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for line in text.lines() {
                let Ok(j) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                for part in ["key", "value"] {
                    let (Some(schema), Some(payload)) =
                        (j[part].get("schema"), j[part].get("payload"))
                    else {
                        continue;
                    };
                    let Ok(schema) = crate::schema_from_json(schema) else {
                        continue;
                    };
                    out.push((Arc::new(schema), payload.to_string()));
                }
            }
        }
        out
    }

    /// Whatever this reads, the general way reads the same.
    fn check(schema: &SchemaRef, text: &str, keep: Option<&[&str]>) -> bool {
        match read(schema, text, keep) {
            Some(v) => {
                let general = read_payload_general(Some(schema), text.as_bytes(), keep);
                assert_eq!(general.as_ref(), Ok(&v), "{text}");
                true
            }
            None => false,
        }
    }

    const KEEP: &[&str] = &["before", "after", "op"];

    #[test]
    fn same_as_seed_on_captured_events() {
        let all = fixtures();
        assert!(all.len() > 500, "{} fixtures", all.len());
        let mut read_here = 0;
        for (schema, text) in &all {
            for keep in [None, Some(KEEP)] {
                read_here += usize::from(check(schema, text, keep));
            }
        }
        // Most captured events are of the common form.
        assert!(read_here > all.len(), "{read_here} of {}", 2 * all.len());
    }

    /// Captured events with bytes changed, inserted or removed at random: each either reads
    /// here exactly as the general way reads it, or goes the general way.
    #[test]
    fn same_as_seed_on_damaged_events() {
        let all = fixtures();
        let alphabet = b"{}[]\",:0123456789-+.eEntrufalsx\\/ \t\nu\x01\xc3\xa9";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut read_here, mut tried) = (0, 0);
        for (schema, text) in all.iter().step_by(3) {
            for _ in 0..40 {
                let mut b = text.as_bytes().to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % (b.len() as u64 + 1)) as usize;
                    let c = alphabet[(next() % alphabet.len() as u64) as usize];
                    match next() % 3 {
                        0 if at < b.len() => b[at] = c,
                        1 if at < b.len() => {
                            b.remove(at);
                        }
                        _ => b.insert(at, c),
                    }
                }
                let Ok(text) = String::from_utf8(b) else {
                    continue;
                };
                for keep in [None, Some(KEEP)] {
                    tried += 1;
                    read_here += usize::from(check(schema, &text, keep));
                }
            }
        }
        assert!(read_here > tried / 40, "{read_here} of {tried}");
    }

    /// Every kind of field against tricky tokens, required, optional and with a default.
    #[test]
    fn same_as_seed_on_every_token_and_kind() {
        use walcast_connect_api::{logical, Field};
        let tokens = [
            "0",
            "-0",
            "-1",
            "01",
            "1.0",
            "1e2",
            "-",
            "127",
            "128",
            "-128",
            "-129",
            "32768",
            "2147483648",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "1E400",
            "true",
            "false",
            "null",
            "tru",
            r#""x""#,
            r#""\u0000""#,
            r#""\ud800""#,
            r#""\ud83d\ude00""#,
            r#""\x""#,
            r#""\u12""#,
            r#""AAE=""#,
            r#""AAE""#,
            r#""""#,
            r#""NaN""#,
            "[]",
            "{}",
            r#"{"a":1}"#,
            " 1 ",
        ];
        let kinds = [
            SchemaType::Int8,
            SchemaType::Int16,
            SchemaType::Int32,
            SchemaType::Int64,
            SchemaType::Float32,
            SchemaType::Float64,
            SchemaType::Boolean,
            SchemaType::String,
            SchemaType::Bytes,
        ];
        let mut read_here = 0;
        for kind in kinds {
            let mut variants = vec![Schema::primitive(kind), Schema::optional(kind)];
            let mut with_default = Schema::optional(kind);
            with_default.default = Some(Value::Null);
            variants.push(with_default);
            if kind == SchemaType::Bytes {
                variants.push(
                    Schema::optional(kind)
                        .named(logical::DECIMAL)
                        .with_parameter("scale", "2"),
                );
            }
            for field in variants {
                let schema: SchemaRef = Arc::new(Schema::structure(
                    Some("t.Value".into()),
                    vec![Field::new("f", field)],
                ));
                for t in tokens {
                    read_here += usize::from(check(&schema, &format!("{{\"f\":{t}}}"), None));
                }
            }
        }
        assert!(read_here > 50, "{read_here}");
    }

    #[test]
    fn values_of_the_common_form() {
        let schema: SchemaRef = Arc::new(Schema::structure(
            Some("t.Value".into()),
            vec![
                walcast_connect_api::Field::new("i", Schema::primitive(SchemaType::Int8)),
                walcast_connect_api::Field::new("l", Schema::primitive(SchemaType::Int64)),
                walcast_connect_api::Field::new("b", Schema::optional(SchemaType::Boolean)),
                walcast_connect_api::Field::new("s", Schema::optional(SchemaType::String)),
            ],
        ));
        let v = read(
            &schema,
            " {\"i\": -128, \"l\":9223372036854775807,\"b\":null, \"s\":\"é\"} ",
            None,
        )
        .unwrap();
        let Value::Struct(st) = v else { panic!() };
        assert_eq!(
            st.values,
            [
                Value::Int8(-128),
                Value::Int64(i64::MAX),
                Value::Null,
                Value::String("é".into())
            ]
        );
        // Escapes, as serde_json reads them.
        let text = r#"{"i":1,"l":-7,"b":false,"s":"a\"b\\c\/\u00e9\t\u0001é"}"#;
        assert!(check(&schema, text, None));
        let Some(Value::Struct(st)) = read(&schema, text, None) else {
            panic!()
        };
        assert_eq!(st.values[3], Value::String("a\"b\\c/é\t\u{1}é".into()));
        // Not of the common form: out of range, a fraction, a surrogate escape, fields out of
        // order, a required null, leading zeros, trailing text, an unknown field.
        for text in [
            r#"{"i":128,"l":1,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1.0,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":-0,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"b":true,"s":"\ud83d\ude00"}"#,
            r#"{"l":1,"i":1,"b":true,"s":"x"}"#,
            r#"{"i":null,"l":1,"b":true,"s":"x"}"#,
            r#"{"i":01,"l":1,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"b":true,"s":"x"} x"#,
            r#"{"i":1,"l":1,"b":true,"s":"x","t":1}"#,
        ] {
            assert_eq!(read(&schema, text, None), None, "{text}");
        }
    }
}
