//! `numeric` and `money` text values as Connect decimals: the unscaled value as the minimal
//! big-endian two's-complement bytes Java's `BigInteger.toByteArray()` produces (what
//! `org.apache.kafka.connect.data.Decimal` carries), with its scale.
//!
//! Values up to 38 digits (every `numeric(p,s)` with p <= 38, and `money`) are converted in an
//! `i128` without allocating; longer ones go through a small base-2^32 big integer. Floating-point
//! text is read here too ([`parse_float`]).

/// What a numeric text value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    NaN,
    PosInfinity,
    NegInfinity,
}

/// A parsed finite decimal, borrowing its digits from the input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal<'a> {
    pub negative: bool,
    /// Integer part digits (ASCII, may be empty or have leading zeros).
    pub int_digits: &'a [u8],
    /// Fraction digits (ASCII, may be empty).
    pub frac_digits: &'a [u8],
}

/// Why a numeric text value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumericError {
    #[error("not a decimal number")]
    Syntax,
    #[error("more fractional digits than the column's scale")]
    ScaleTooLarge,
}

/// Parses PostgreSQL's `numeric` output: `[-]digits[.digits]`, `NaN`, `Infinity`, `-Infinity`.
pub fn parse(text: &[u8]) -> Result<Result<Decimal<'_>, Special>, NumericError> {
    match text {
        b"NaN" => return Ok(Err(Special::NaN)),
        b"Infinity" => return Ok(Err(Special::PosInfinity)),
        b"-Infinity" => return Ok(Err(Special::NegInfinity)),
        _ => {}
    }
    let (negative, rest) = match text.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, text),
    };
    let (int_digits, frac_digits) = match rest.iter().position(|&c| c == b'.') {
        Some(p) => (&rest[..p], &rest[p + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if (int_digits.is_empty() && frac_digits.is_empty())
        || !int_digits.iter().all(u8::is_ascii_digit)
        || !frac_digits.iter().all(u8::is_ascii_digit)
    {
        return Err(NumericError::Syntax);
    }
    Ok(Ok(Decimal {
        negative,
        int_digits,
        frac_digits,
    }))
}

/// Parses PostgreSQL's `money` output (`$1,234.56`, `-$1.00`, `($1.00)` depending on
/// `lc_monetary`): digits, the first `.` as decimal point, a `-` or parentheses for the sign;
/// currency symbols, group separators and spaces are skipped. The result's digits are collected
/// into `buf` (at most 40 bytes are needed for money's range).
pub fn parse_money<'b>(text: &[u8], buf: &'b mut [u8; 48]) -> Result<Decimal<'b>, NumericError> {
    let mut negative = false;
    let mut n = 0usize;
    let mut point: Option<usize> = None;
    for &c in text {
        match c {
            b'0'..=b'9' => {
                if n >= buf.len() {
                    return Err(NumericError::Syntax);
                }
                buf[n] = c;
                n += 1;
            }
            b'-' | b'(' => negative = true,
            b'.' if point.is_none() => point = Some(n),
            _ => {}
        }
    }
    if n == 0 {
        return Err(NumericError::Syntax);
    }
    let p = point.unwrap_or(n);
    let (i, f) = buf[..n].split_at(p);
    Ok(Decimal {
        negative,
        int_digits: i,
        frac_digits: f,
    })
}

impl Decimal<'_> {
    /// Fraction digits without trailing zeros (the scale `VariableScaleDecimal` reports).
    pub fn trimmed_frac(&self) -> &[u8] {
        let mut f = self.frac_digits;
        while let Some((b'0', rest)) = f.split_last() {
            f = rest;
        }
        f
    }

    fn is_zero(&self) -> bool {
        self.int_digits.iter().all(|&c| c == b'0') && self.frac_digits.iter().all(|&c| c == b'0')
    }
}

/// Appends the minimal two's-complement big-endian bytes of the decimal's unscaled value at
/// `scale` (fraction digits padded with zeros; more fraction digits than `scale` is an error
/// unless the extra ones are zeros).
pub fn unscaled_bytes(
    d: &Decimal<'_>,
    scale: usize,
    out: &mut Vec<u8>,
) -> Result<(), NumericError> {
    let mut frac = d.frac_digits;
    if frac.len() > scale {
        let (keep, extra) = frac.split_at(scale);
        if !extra.iter().all(|&c| c == b'0') {
            return Err(NumericError::ScaleTooLarge);
        }
        frac = keep;
    }
    let pad = scale - frac.len();
    let int = strip_leading_zeros(d.int_digits);
    let total = int.len() + frac.len() + pad;
    if total <= 38 {
        let mut v: i128 = 0;
        for &c in int.iter().chain(frac.iter()) {
            v = v * 10 + i128::from(c - b'0');
        }
        for _ in 0..pad {
            v *= 10;
        }
        if d.negative {
            v = -v;
        }
        push_i128(v, out);
        return Ok(());
    }
    big_to_bytes(
        int.iter()
            .chain(frac.iter())
            .copied()
            .chain(std::iter::repeat_n(b'0', pad)),
        d.negative && !d.is_zero(),
        out,
    );
    Ok(())
}

fn strip_leading_zeros(mut s: &[u8]) -> &[u8] {
    while let Some((b'0', rest)) = s.split_first() {
        s = rest;
    }
    s
}

/// Minimal two's-complement big-endian bytes of `v` (`BigInteger.valueOf(v).toByteArray()`).
pub fn push_i128(v: i128, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let b = bytes[start];
        let next_high = bytes[start + 1] & 0x80;
        if (b == 0x00 && next_high == 0) || (b == 0xFF && next_high != 0) {
            start += 1;
        } else {
            break;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Converts a long decimal digit string to two's-complement bytes through base-2^32 limbs.
fn big_to_bytes(digits: impl Iterator<Item = u8>, negative: bool, out: &mut Vec<u8>) {
    // Little-endian u32 limbs.
    let mut limbs: Vec<u32> = Vec::new();
    let mut chunk: u64 = 0;
    let mut chunk_len = 0u32;
    let flush = |limbs: &mut Vec<u32>, chunk: u64, len: u32| {
        let mul = 10u64.pow(len);
        let mut carry = chunk;
        for l in limbs.iter_mut() {
            let v = u64::from(*l) * mul + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        while carry > 0 {
            limbs.push(carry as u32);
            carry >>= 32;
        }
    };
    for c in digits {
        chunk = chunk * 10 + u64::from(c - b'0');
        chunk_len += 1;
        if chunk_len == 9 {
            flush(&mut limbs, chunk, 9);
            chunk = 0;
            chunk_len = 0;
        }
    }
    if chunk_len > 0 {
        flush(&mut limbs, chunk, chunk_len);
    }
    if negative {
        // Two's complement: invert and add one.
        let mut carry = 1u64;
        for l in limbs.iter_mut() {
            let v = u64::from(!*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
    }
    let fill: u8 = if negative { 0xFF } else { 0x00 };
    let mut be: Vec<u8> = Vec::with_capacity(limbs.len() * 4 + 1);
    be.push(fill);
    for l in limbs.iter().rev() {
        be.extend_from_slice(&l.to_be_bytes());
    }
    let mut start = 0;
    while start + 1 < be.len() {
        let b = be[start];
        let next_high = be[start + 1] & 0x80;
        if (b == 0x00 && next_high == 0) || (b == 0xFF && next_high != 0) {
            start += 1;
        } else {
            break;
        }
    }
    out.extend_from_slice(&be[start..]);
}

/// A `float4`/`float8` (or geometric coordinate) text value as Rust parses it, which accepts
/// PostgreSQL's `NaN`, `Infinity` and `-Infinity` spellings; `None` when it is not a number.
pub fn parse_float<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    std::str::from_utf8(text).ok()?.parse::<T>().ok()
}

/// The value as the nearest `f64` (`BigDecimal.doubleValue()`), for `decimal.handling.mode=double`.
pub fn to_f64(d: &Decimal<'_>) -> f64 {
    fn fill(d: &Decimal<'_>, buf: &mut [u8]) -> usize {
        let mut n = 0;
        if d.negative {
            buf[0] = b'-';
            n = 1;
        }
        buf[n] = b'0';
        n += 1;
        buf[n..n + d.int_digits.len()].copy_from_slice(d.int_digits);
        n += d.int_digits.len();
        buf[n] = b'.';
        n += 1;
        buf[n..n + d.frac_digits.len()].copy_from_slice(d.frac_digits);
        n += d.frac_digits.len();
        buf[n] = b'0';
        n + 1
    }
    fn parse_f64(b: &[u8]) -> f64 {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    }
    let needed = 4 + d.int_digits.len() + d.frac_digits.len();
    let mut buf = [0u8; 96];
    if needed <= buf.len() {
        let n = fill(d, &mut buf);
        parse_f64(&buf[..n])
    } else {
        let mut v = vec![0u8; needed];
        let n = fill(d, &mut v);
        parse_f64(&v[..n])
    }
}

/// Writes the decimal as a plain string with exactly `scale` fraction digits (money in
/// `decimal.handling.mode=string`).
pub fn write_plain_with_scale(d: &Decimal<'_>, scale: usize, out: &mut Vec<u8>) {
    if d.negative && !d.is_zero() {
        out.push(b'-');
    }
    let int = strip_leading_zeros(d.int_digits);
    if int.is_empty() {
        out.push(b'0');
    } else {
        out.extend_from_slice(int);
    }
    if scale > 0 {
        out.push(b'.');
        let f = &d.frac_digits[..d.frac_digits.len().min(scale)];
        out.extend_from_slice(f);
        for _ in f.len()..scale {
            out.push(b'0');
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(text: &str, scale: usize) -> String {
        let d = parse(text.as_bytes()).unwrap().unwrap();
        let mut out = Vec::new();
        unscaled_bytes(&d, scale, &mut out).unwrap();
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    #[test]
    fn unscaled_bytes_match_fixture() {
        // types_numeric fixture, precise mode.
        assert_eq!(b64("12345678.91", 2), "SZYC0w==");
        assert_eq!(b64("12345", 0), "MDk=");
        assert_eq!(b64("1234567890.0123456789", 10), "AKtUqYyo5NUV");
        assert_eq!(b64("-0.01", 2), "/w==");
        assert_eq!(b64("-99999", 0), "/nlh");
        assert_eq!(b64("-1.0000000000", 10), "/av0HAA=");
        assert_eq!(b64("99999999.99", 2), "AlQL4/8=");
        assert_eq!(
            b64("9999999999999999999999999999.9999999999", 10),
            "SztMqFqGxHoJiiI//////w=="
        );
        assert_eq!(b64("0", 2), "AA==");
        assert_eq!(b64("0.00", 2), "AA==");
        assert_eq!(b64("128", 0), "AIA=");
        assert_eq!(b64("-128", 0), "gA==");
        assert_eq!(b64("-255", 0), "/wE=");
        assert_eq!(b64("2.55", 2), "AP8=");
        assert_eq!(b64("-32768.0000000000", 10), "/tX6DgAAAA==");
        // VariableScaleDecimal value of 1e100 (scale 0).
        assert_eq!(
            b64(&format!("1{}", "0".repeat(100)), 0),
            "EkmtJZTDfOsLJ4TEzgvzis5AjiEafKqyQwioLo8QAAAAAAAAAAAAAAAA"
        );
        assert_eq!(b64("100000000000000000000", 0), "BWvHXi1jEAAA");
        assert_eq!(b64("99999999999999999999.99999", 5), "CEWVFhQBSEn///8=");
    }

    #[test]
    fn big_negative_values() {
        // -(10^40): check against i128 arithmetic on a value that still fits.
        let mut a = Vec::new();
        big_to_bytes(
            b"170141183460469231731687303715884105727".iter().copied(),
            true,
            &mut a,
        );
        let mut b = Vec::new();
        push_i128(-i128::MAX, &mut b);
        assert_eq!(a, b);
        let mut a = Vec::new();
        big_to_bytes(b"1".iter().copied(), true, &mut a);
        assert_eq!(a, vec![0xFF]);
        let mut a = Vec::new();
        big_to_bytes(b"128".iter().copied(), true, &mut a);
        assert_eq!(a, vec![0x80]);
        let mut a = Vec::new();
        big_to_bytes(b"129".iter().copied(), true, &mut a);
        assert_eq!(a, vec![0xFF, 0x7F]);
    }

    #[test]
    fn money_text() {
        let mut buf = [0u8; 48];
        let d = parse_money(b"-$92,233,720,368,547,758.08", &mut buf).unwrap();
        let mut out = Vec::new();
        unscaled_bytes(&d, 2, &mut out).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(out),
            "gAAAAAAAAAA="
        );
        let mut buf = [0u8; 48];
        let d = parse_money(b"($1.28)", &mut buf).unwrap();
        let mut out = Vec::new();
        write_plain_with_scale(&d, 2, &mut out);
        assert_eq!(out, b"-1.28");
        let mut buf = [0u8; 48];
        assert!(parse_money(b"$", &mut buf).is_err());
    }

    #[test]
    fn specials_and_errors() {
        assert_eq!(parse(b"NaN").unwrap(), Err(Special::NaN));
        assert_eq!(parse(b"-Infinity").unwrap(), Err(Special::NegInfinity));
        assert!(parse(b"").is_err());
        assert!(parse(b"1.2.3").is_err());
        assert!(parse(b"-").is_err());
        let d = parse(b"1.234").unwrap().unwrap();
        assert_eq!(
            unscaled_bytes(&d, 2, &mut Vec::new()),
            Err(NumericError::ScaleTooLarge)
        );
    }

    #[test]
    fn doubles() {
        assert_eq!(
            to_f64(&parse(b"12345678.91").unwrap().unwrap()),
            12345678.91
        );
        assert_eq!(to_f64(&parse(b"-0.000001").unwrap().unwrap()), -0.000001);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in proptest::collection::vec(proptest::num::u8::ANY, 0..64), scale in 0usize..40) {
            if let Ok(Ok(d)) = parse(&s) {
                let _ = unscaled_bytes(&d, scale, &mut Vec::new());
                let _ = to_f64(&d);
            }
            let mut buf = [0u8; 48];
            let _ = parse_money(&s, &mut buf);
        }

        #[test]
        fn i128_roundtrip(v in proptest::num::i64::ANY) {
            let text = v.to_string();
            let d = parse(text.as_bytes()).unwrap().unwrap();
            let mut out = Vec::new();
            unscaled_bytes(&d, 0, &mut out).unwrap();
            // Sign-extend back.
            let mut acc: i128 = if out[0] & 0x80 != 0 { -1 } else { 0 };
            for b in &out { acc = (acc << 8) | i128::from(*b); }
            proptest::prop_assert_eq!(acc, i128::from(v));
        }

        #[test]
        fn big_path_matches_small_path(digits in "[1-9][0-9]{0,36}", neg in proptest::bool::ANY) {
            let mut a = Vec::new();
            big_to_bytes(digits.bytes(), neg, &mut a);
            let mut v: i128 = digits.parse().unwrap();
            if neg { v = -v; }
            let mut b = Vec::new();
            push_i128(v, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }
}
