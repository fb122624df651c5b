//! Topic and schema names. Debezium's default topic naming strategy joins prefix, schema and
//! table with `topic.delimiter` and replaces every character Kafka does not allow in a topic name
//! (anything but `[A-Za-z0-9._-]`) with `_`, one per UTF-16 unit as Java iterates strings. The
//! Key/Value/Envelope schema names are built from that topic name and then adjusted only when
//! `schema.name.adjustment.mode` asks for it.

use crate::config::NameAdjustmentMode;

fn push_replacement(out: &mut String, c: char) {
    // Java counts UTF-16 units: a character outside the BMP is two of them.
    out.push('_');
    if (c as u32) > 0xFFFF {
        out.push('_');
    }
}

/// Replaces characters not valid in a Kafka topic name.
pub fn sanitize_topic(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
            out.push(c);
        } else {
            push_replacement(&mut out, c);
        }
    }
    out
}

/// `<prefix><d><schema><d><table>`, sanitized.
pub fn topic_name(prefix: &str, delimiter: &str, schema: &str, table: &str) -> String {
    sanitize_topic(&format!("{prefix}{delimiter}{schema}{delimiter}{table}"))
}

fn adjust(name: &str, mode: NameAdjustmentMode, allow_dots: bool) -> String {
    if mode == NameAdjustmentMode::None {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let valid = c.is_ascii_alphabetic()
            || c == '_'
            || (i > 0 && (c.is_ascii_digit() || (allow_dots && c == '.')));
        if valid {
            out.push(c);
        } else if mode == NameAdjustmentMode::AvroUnicode {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("_u{u:04x}"));
            }
        } else {
            push_replacement(&mut out, c);
        }
    }
    out
}

/// A record schema name (`<topic>.Key`...) under `schema.name.adjustment.mode`.
pub fn adjust_schema_name(name: &str, mode: NameAdjustmentMode) -> String {
    adjust(name, mode, true)
}

/// A field name under `field.name.adjustment.mode`.
pub fn adjust_field_name(name: &str, mode: NameAdjustmentMode) -> String {
    adjust(name, mode, false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn topics_match_names_fixture() {
        assert_eq!(
            topic_name("dbserver1", ".", "My-Schema", "Order Lines"),
            "dbserver1.My-Schema.Order_Lines"
        );
        assert_eq!(
            topic_name("dbserver1", ".", "public", "ünïcode"),
            "dbserver1.public._n_code"
        );
        assert_eq!(
            topic_name("dbserver1", ".", "public", "dot.table"),
            "dbserver1.public.dot.table"
        );
        assert_eq!(
            topic_name("dbserver1", ".", "public", "2024_data"),
            "dbserver1.public.2024_data"
        );
        assert_eq!(topic_name("p", ".", "s", "a😀b"), "p.s.a__b");
    }

    #[test]
    fn adjustment_modes() {
        assert_eq!(
            adjust_schema_name("db.My-Schema.t.Key", NameAdjustmentMode::None),
            "db.My-Schema.t.Key"
        );
        assert_eq!(
            adjust_schema_name("db.My-Schema.t.Key", NameAdjustmentMode::Avro),
            "db.My_Schema.t.Key"
        );
        assert_eq!(adjust_field_name("1st", NameAdjustmentMode::Avro), "_st");
        assert_eq!(
            adjust_field_name("a-b", NameAdjustmentMode::AvroUnicode),
            "a_u002db"
        );
    }
}
