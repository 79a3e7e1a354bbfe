//! `resource.Quantity` as the API server stores it: parsed as apimachinery's `ParseQuantity`
//! does and written back in canonical form (`k8s.io/apimachinery/pkg/api/resource`,
//! quantity.go: "Before serializing, Quantity will be put in canonical form ... No precision is
//! lost, no fractional digits will be emitted, the exponent (or suffix) is as large as
//! possible"). `1000m` → `1`, `0.5` → `500m`, `1024Mi` → `1Gi`, `1.5Gi` → `1536Mi`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A value `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    mantissa: i128,
    exponent: i32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// The canonical form of a quantity, or `None` when it does not parse (the server rejects
/// it) or is beyond what this implementation represents exactly (left as written).
pub fn canonical(text: &str) -> Option<String> {
    if text == "0" {
        return Some("0".into());
    }
    let (value, mut format) = parse(text)?;
    let value = round_up_to_nano(value)?;
    if format == Format::BinarySi && value.mantissa != 0 && lt_abs_one(value) {
        format = Format::DecimalSi;
    }
    format_canonical(value, format)
}

fn parse(text: &str) -> Option<(Decimal, Format)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int_len = digits(pos);
    let int_part = &text[pos..pos + int_len];
    pos += int_len;
    let mut frac_part = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let n = digits(pos);
        frac_part = &text[pos..pos + n];
        pos += n;
    }
    if int_part.is_empty() && frac_part.is_empty() {
        // apimachinery accepts "" numerators as 0 only when a suffix follows; "" itself fails.
        if pos >= bytes.len() {
            return None;
        }
    }
    let suffix = &text[pos..];
    let (base2_exp, base10_exp, format) = suffix_value(suffix)?;
    let all_digits = format!("{int_part}{frac_part}");
    let all_digits = all_digits.trim_start_matches('0');
    if all_digits.len() > 36 {
        return None;
    }
    let mut mantissa: i128 = if all_digits.is_empty() {
        0
    } else {
        all_digits.parse().ok()?
    };
    let mut exponent = base10_exp - i32::try_from(frac_part.len()).ok()?;
    if base2_exp > 0 {
        mantissa = mantissa.checked_mul(1i128 << base2_exp)?;
    }
    if negative {
        mantissa = -mantissa;
    }
    if mantissa == 0 {
        exponent = 0;
    }
    Some((Decimal { mantissa, exponent }, format))
}

/// `(binary exponent, decimal exponent, format)` of a suffix.
fn suffix_value(s: &str) -> Option<(u32, i32, Format)> {
    let binary = |e| Some((e, 0, Format::BinarySi));
    let decimal = |e| Some((0, e, Format::DecimalSi));
    match s {
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        _ => {
            let rest = s.strip_prefix(['e', 'E'])?;
            let body = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((0, rest.parse().ok()?, Format::DecimalExponent))
        }
    }
}

/// "This rounds non-zero values up to the minimum representable value" (nano), away from zero.
fn round_up_to_nano(v: Decimal) -> Option<Decimal> {
    if v.exponent >= -9 {
        return Some(v);
    }
    let shift = u32::try_from(-9 - v.exponent).ok()?;
    let div = pow10(shift)?;
    let q = v.mantissa / div;
    let r = v.mantissa % div;
    let mantissa = if r == 0 { q } else { q + v.mantissa.signum() };
    Some(Decimal {
        mantissa,
        exponent: -9,
    })
}

fn lt_abs_one(v: Decimal) -> bool {
    v.exponent < 0
        && pow10(u32::try_from(-v.exponent).unwrap_or(u32::MAX))
            .is_none_or(|p| v.mantissa.abs() < p)
}

/// The integer value, when it is one.
fn as_integer(v: Decimal) -> Option<i128> {
    if v.exponent >= 0 {
        v.mantissa
            .checked_mul(pow10(u32::try_from(v.exponent).ok()?)?)
    } else {
        let p = pow10(u32::try_from(-v.exponent).ok()?)?;
        (v.mantissa % p == 0).then_some(v.mantissa / p)
    }
}

fn format_canonical(v: Decimal, format: Format) -> Option<String> {
    if v.mantissa == 0 {
        return Some("0".into());
    }
    let mut format = format;
    let mut integer = None;
    if format == Format::BinarySi {
        match as_integer(v) {
            Some(i) if i.abs() >= 1024 => integer = Some(i),
            _ => format = Format::DecimalSi,
        }
    }
    if let Some(mut i) = integer {
        let mut power = 0;
        while power < 6 && i % 1024 == 0 {
            i /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
        return Some(format!("{i}{suffix}"));
    }
    let (mut mantissa, mut exponent) = (v.mantissa, v.exponent);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    let down = exponent.rem_euclid(3);
    mantissa = mantissa.checked_mul(pow10(down as u32)?)?;
    exponent -= down;
    let suffix = match format {
        Format::DecimalExponent if exponent == 0 => String::new(),
        Format::DecimalExponent => format!("e{exponent}"),
        _ => match exponent {
            -9 => "n".into(),
            -6 => "u".into(),
            -3 => "m".into(),
            0 => String::new(),
            3 => "k".into(),
            6 => "M".into(),
            9 => "G".into(),
            12 => "T".into(),
            15 => "P".into(),
            18 => "E".into(),
            // Beyond exa: apimachinery's big-number path; left as written.
            _ => return None,
        },
    };
    Some(format!("{mantissa}{suffix}"))
}

/// Whether a string parses as a quantity at all (what the server accepts).
pub fn is_valid(text: &str) -> bool {
    text == "0" || parse(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_apimachinery() {
        // Examples from apimachinery's quantity.go documentation and quantity_test.go.
        for (input, want) in [
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("1.5", "1500m"),
            ("100m", "100m"),
            ("1500", "1500"),
            ("1000", "1k"),
            ("1e3", "1e3"),
            ("1.5e3", "1500"),
            ("1E3", "1e3"),
            ("0.1Ki", "102400m"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("1536", "1536"),
            ("2048Ki", "2Mi"),
            ("0m", "0"),
            ("0Gi", "0"),
            ("-1.5", "-1500m"),
            ("1.5n", "2n"),
            ("0.5Gi", "512Mi"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("123Mi", "123Mi"),
            ("250m", "250m"),
            ("2000m", "2"),
            ("1.", "1"),
            (".5", "500m"),
            ("+1", "1"),
            ("5E", "5E"),
            // A bare suffix is zero to apimachinery's parser.
            ("Mi", "0"),
        ] {
            assert_eq!(canonical(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn malformed_quantities_do_not_parse() {
        for bad in ["", "abc", "1Qi", "1e", "1.2.3", "1 Gi", "1e1.5"] {
            assert!(!is_valid(bad), "{bad}");
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }
}
