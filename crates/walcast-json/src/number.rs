//! Decimal numbers: a JSON number's exact text, and decimal text to the unscaled
//! two's-complement bytes of Connect's `Decimal`.

use serde_json::Number;

/// The decimal text of a JSON number (no exponent: Rust's `f64` Display never uses one).
pub(crate) fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64().map(|f| f.to_string()).unwrap_or_default()
    }
}

/// Decimal text (`-12.50`) to the minimal big-endian two's-complement bytes of its unscaled
/// value at `scale` (Java's `BigInteger.toByteArray`); `None` when not exact or not a number.
pub(crate) fn unscaled_bytes(text: &str, scale: i32) -> Option<Vec<u8>> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    // Move the decimal point: the digits are the unscaled value at scale `frac.len()`.
    let have = i64::try_from(frac.len()).ok()?;
    let want = i64::from(scale);
    if want >= have {
        let extra = usize::try_from(want - have).ok()?;
        if extra > 1000 {
            return None;
        }
        digits.extend(std::iter::repeat_n(0, extra));
    } else {
        let drop = usize::try_from(have - want).ok()?;
        if drop > digits.len() {
            if digits.iter().any(|&d| d != 0) {
                return None;
            }
            digits.clear();
        } else {
            let cut = digits.len() - drop;
            if digits[cut..].iter().any(|&d| d != 0) {
                return None;
            }
            digits.truncate(cut);
        }
    }
    // Decimal digits to a big-endian magnitude.
    let mut mag: Vec<u8> = Vec::new();
    for d in digits {
        let mut carry = u32::from(d);
        for b in mag.iter_mut().rev() {
            let cur = u32::from(*b) * 10 + carry;
            *b = (cur & 0xFF) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xFF) as u8);
            carry >>= 8;
        }
    }
    while mag.first() == Some(&0) {
        mag.remove(0);
    }
    if mag.is_empty() {
        return Some(vec![0]);
    }
    if !negative {
        if mag[0] & 0x80 != 0 {
            mag.insert(0, 0);
        }
        return Some(mag);
    }
    // Two's complement of the magnitude.
    let mut v: Vec<u8> = mag.iter().map(|b| !b).collect();
    for b in v.iter_mut().rev() {
        let (r, carry) = b.overflowing_add(1);
        *b = r;
        if !carry {
            break;
        }
    }
    if v[0] & 0x80 == 0 {
        v.insert(0, 0xFF);
    }
    // Minimal form: drop redundant leading 0xFF bytes.
    while v.len() > 1 && v[0] == 0xFF && v[1] & 0x80 != 0 {
        v.remove(0);
    }
    Some(v)
}
