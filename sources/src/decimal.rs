//! Exact parsing of amounts written the way people and banks write them: `1234.56`, `1,234.56`,
//! `1.234,56`, `1 234,56`, `-5`, `(5.00)`, `5.00-`. Never goes through a float.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::MappingError;
use crate::text::trim;

/// How amounts are written in a file.
///
/// JSON: `{"decimal_separator": ",", "thousands_separator": "."}`; both keys are optional
/// (defaults: `"."` and none). Negative amounts may always be written with a leading `-`, a
/// trailing `-` (`12.50-`) or in parentheses (`(12.50)`); a leading `+` is accepted too.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecimalFormat {
    /// `.` or `,`.
    #[serde(default = "default_decimal_separator")]
    pub decimal_separator: char,
    /// Optional digit-group separator: `,` `.` space `'` `’` (a space also matches no-break
    /// spaces). When set, groups after the first must have exactly three digits, so a value
    /// written in another convention is reported rather than misread. Values without any
    /// separator are always accepted.
    #[serde(default)]
    pub thousands_separator: Option<char>,
}

fn default_decimal_separator() -> char {
    '.'
}

impl Default for DecimalFormat {
    fn default() -> Self {
        Self {
            decimal_separator: '.',
            thousands_separator: None,
        }
    }
}

impl DecimalFormat {
    /// `1234.56` style.
    pub const POINT: DecimalFormat = DecimalFormat {
        decimal_separator: '.',
        thousands_separator: None,
    };
    /// `1234,56` style.
    pub const COMMA: DecimalFormat = DecimalFormat {
        decimal_separator: ',',
        thousands_separator: None,
    };

    pub fn new(decimal_separator: char, thousands_separator: Option<char>) -> Self {
        Self {
            decimal_separator,
            thousands_separator,
        }
    }

    /// Checks the separators; `path` is the JSON path of this object (e.g. `mapping.decimal`).
    pub fn validate(&self, path: &str) -> Vec<MappingError> {
        let mut errors = Vec::new();
        if !matches!(self.decimal_separator, '.' | ',') {
            errors.push(MappingError::new(
                format!("{path}.decimal_separator"),
                format!(
                    "must be \".\" or \",\", not {:?}",
                    self.decimal_separator.to_string()
                ),
            ));
        }
        if let Some(t) = self.thousands_separator {
            if !matches!(
                t,
                '.' | ',' | ' ' | '\'' | '\u{2019}' | '\u{a0}' | '\u{202f}'
            ) {
                errors.push(MappingError::new(
                    format!("{path}.thousands_separator"),
                    format!(
                        "must be one of \".\", \",\", \" \", \"'\", \"\u{2019}\", not {:?}",
                        t.to_string()
                    ),
                ));
            } else if t == self.decimal_separator {
                errors.push(MappingError::new(
                    format!("{path}.thousands_separator"),
                    "must differ from the decimal separator",
                ));
            }
        }
        errors
    }

    fn is_thousands(&self, c: char) -> bool {
        match self.thousands_separator {
            Some(' ' | '\u{a0}' | '\u{202f}') => matches!(c, ' ' | '\u{a0}' | '\u{202f}'),
            Some(t) => c == t,
            None => false,
        }
    }
}

/// Parses `raw` written in `format` into an exact decimal.
///
/// The error is a sentence quoting the value, e.g. `"12,3x" is not a decimal number`.
pub fn parse_decimal(raw: &str, format: &DecimalFormat) -> Result<Decimal, String> {
    match parse_plain(trim(raw), format) {
        Some(d) => Ok(d),
        None => parse_general(raw, format),
    }
}

/// The fast path for the common plain form: an optional sign, digits and at most one decimal
/// separator (`-1234.56`, `+7`, `.5`, `5.`), 18 digits at most so the mantissa fits an `i64`.
/// `None` for anything else (grouping, parentheses, trailing minus, errors), which
/// [`parse_general`] handles; where both apply they give the same decimal, scale included.
fn parse_plain(body: &str, format: &DecimalFormat) -> Option<Decimal> {
    // The general parser splits at the separator before anything else: only a separator that
    // cannot be mistaken for a digit or sign is safe here, and a digit as thousands separator
    // would turn plain digits into groups.
    let separator = match format.decimal_separator {
        '.' => b'.',
        ',' => b',',
        _ => return None,
    };
    if format
        .thousands_separator
        .is_some_and(|t| t.is_ascii_digit())
    {
        return None;
    }
    let (negative, rest) = match body.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    let mut mantissa: i64 = 0;
    let mut digits = 0;
    let mut scale: Option<u32> = None;
    for &b in rest {
        if b.is_ascii_digit() {
            digits += 1;
            if digits > 18 {
                return None;
            }
            mantissa = mantissa * 10 + i64::from(b - b'0');
            if let Some(s) = scale.as_mut() {
                *s += 1;
            }
        } else if b == separator && scale.is_none() {
            scale = Some(0);
        } else {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    Decimal::try_new(
        if negative { -mantissa } else { mantissa },
        scale.unwrap_or(0),
    )
    .ok()
}

/// The general parser: grouping, parentheses, trailing minus, and the error messages.
fn parse_general(raw: &str, format: &DecimalFormat) -> Result<Decimal, String> {
    let not_a_number = |why: &str| {
        if why.is_empty() {
            format!("\"{raw}\" is not a decimal number")
        } else {
            format!("\"{raw}\" is not a decimal number ({why})")
        }
    };
    let mut body = raw.trim();
    if body.is_empty() {
        return Err("the amount is empty".to_string());
    }
    let mut negative = false;
    if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
        negative = true;
        body = inner.trim();
    }
    if let Some(rest) = body.strip_suffix('-') {
        if negative {
            return Err(not_a_number("more than one minus sign"));
        }
        negative = true;
        body = rest.trim_end();
    }
    if let Some(rest) = body.strip_prefix('-') {
        if negative {
            return Err(not_a_number("more than one minus sign"));
        }
        negative = true;
        body = rest;
    } else if let Some(rest) = body.strip_prefix('+') {
        body = rest;
    }

    let (int_part, frac_part) = match body.split_once(format.decimal_separator) {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut digits = String::with_capacity(body.len() + 2);
    if negative {
        digits.push('-');
    }
    // Integer part, with optional digit grouping.
    if int_part.chars().any(|c| format.is_thousands(c)) {
        let groups: Vec<&str> = int_part.split(|c| format.is_thousands(c)).collect();
        for (i, g) in groups.iter().enumerate() {
            let ok_len = if i == 0 {
                (1..=3).contains(&g.len())
            } else {
                g.len() == 3
            };
            if !ok_len || !g.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number("misplaced thousands separator"));
            }
            digits.push_str(g);
        }
    } else {
        if let Some(c) = int_part.chars().find(|c| !c.is_ascii_digit()) {
            return Err(not_a_number(&unexpected(c)));
        }
        digits.push_str(int_part);
    }
    if let Some(frac) = frac_part {
        if let Some(c) = frac.chars().find(|c| !c.is_ascii_digit()) {
            return Err(not_a_number(&unexpected(c)));
        }
        if int_part.is_empty() && frac.is_empty() {
            return Err(not_a_number("no digits"));
        }
        if int_part.is_empty() {
            digits.push('0');
        }
        if !frac.is_empty() {
            digits.push('.');
            digits.push_str(frac);
        }
    } else if int_part.is_empty() {
        return Err(not_a_number("no digits"));
    }
    Decimal::from_str_exact(&digits).map_err(|_| not_a_number("too many digits"))
}

fn unexpected(c: char) -> String {
    if c.is_whitespace() {
        "unexpected space".to_string()
    } else {
        format!("unexpected \"{c}\"")
    }
}

/// Converts an `f64` that a spreadsheet stored (XLSX keeps numbers as IEEE doubles) into an exact
/// decimal: the shortest decimal text that reads back as the same double (Rust's `Display` for
/// `f64` produces exactly that, without exponent) parsed as a [`Decimal`]. So a cell showing
/// `0.1` gives exactly `0.1`, not `0.1000000000000000055511151231257827`. Fails for NaN,
/// infinities and magnitudes beyond `Decimal`'s 28 digits.
pub fn decimal_from_f64(value: f64) -> Result<Decimal, String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a finite number"));
    }
    let text = format!("{value}");
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_str_exact(&text))
        .map_err(|_| format!("{text} does not fit an exact decimal (28 digits at most)"))
}

/// Shortest exact text of a spreadsheet number (`12345` for 12345.0, `0.1` for 0.1).
pub(crate) fn f64_text(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn plain_point_and_comma() {
        assert_eq!(
            parse_decimal("1234.56", &DecimalFormat::POINT),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_decimal("1234,56", &DecimalFormat::COMMA),
            Ok(d("1234.56"))
        );
        assert_eq!(
            parse_decimal(" -0.5 ", &DecimalFormat::POINT),
            Ok(d("-0.5"))
        );
        assert_eq!(parse_decimal("+7", &DecimalFormat::POINT), Ok(d("7")));
        assert_eq!(parse_decimal(".5", &DecimalFormat::POINT), Ok(d("0.5")));
        assert_eq!(parse_decimal("5.", &DecimalFormat::POINT), Ok(d("5")));
    }

    #[test]
    fn grouped() {
        let eu = DecimalFormat::new(',', Some('.'));
        assert_eq!(parse_decimal("1.234,56", &eu), Ok(d("1234.56")));
        assert_eq!(parse_decimal("1.234.567,8", &eu), Ok(d("1234567.8")));
        assert_eq!(parse_decimal("1234,56", &eu), Ok(d("1234.56")));
        let us = DecimalFormat::new('.', Some(','));
        assert_eq!(parse_decimal("1,234.56", &us), Ok(d("1234.56")));
        let fr = DecimalFormat::new(',', Some(' '));
        assert_eq!(parse_decimal("1 234,56", &fr), Ok(d("1234.56")));
        assert_eq!(parse_decimal("1\u{a0}234,56", &fr), Ok(d("1234.56")));
        assert_eq!(
            parse_decimal("1\u{202f}234\u{202f}567,00", &fr),
            Ok(d("1234567.00"))
        );
        let ch = DecimalFormat::new('.', Some('\''));
        assert_eq!(parse_decimal("1'234.50", &ch), Ok(d("1234.50")));
    }

    #[test]
    fn negatives_in_all_styles() {
        let f = DecimalFormat::new(',', Some('.'));
        assert_eq!(parse_decimal("-1.234,56", &f), Ok(d("-1234.56")));
        assert_eq!(parse_decimal("1.234,56-", &f), Ok(d("-1234.56")));
        assert_eq!(parse_decimal("(1.234,56)", &f), Ok(d("-1234.56")));
        assert!(parse_decimal("(-5)", &f).is_err());
        assert!(parse_decimal("-5-", &f).is_err());
    }

    #[test]
    fn rejects_with_quoted_value() {
        let err = parse_decimal("12,3x", &DecimalFormat::COMMA).unwrap_err();
        assert!(
            err.starts_with("\"12,3x\" is not a decimal number"),
            "{err}"
        );
        // Wrong convention: refuse rather than misread.
        assert!(parse_decimal("1.234,56", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal("1,234.56", &DecimalFormat::new(',', Some('.'))).is_err());
        assert!(parse_decimal("12.5", &DecimalFormat::new(',', Some('.'))).is_err());
        assert!(parse_decimal("1,2345.00", &DecimalFormat::new('.', Some(','))).is_err());
        assert!(parse_decimal("1e5", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal("-", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal(".", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal("", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal("1.2.3", &DecimalFormat::POINT).is_err());
        assert!(parse_decimal("99999999999999999999999999999999", &DecimalFormat::POINT).is_err());
    }

    #[test]
    fn validation_paths() {
        let errs = DecimalFormat::new(';', Some(';')).validate("mapping.decimal");
        assert_eq!(errs[0].path, "mapping.decimal.decimal_separator");
        let errs = DecimalFormat::new(',', Some(',')).validate("mapping.decimal");
        assert_eq!(errs[0].path, "mapping.decimal.thousands_separator");
        assert!(DecimalFormat::new(',', Some('.')).validate("x").is_empty());
    }

    #[test]
    fn fast_path_takes_the_plain_forms() {
        for (text, format) in [
            ("1234.56", DecimalFormat::POINT),
            ("-0.50", DecimalFormat::POINT),
            ("+7", DecimalFormat::POINT),
            (".5", DecimalFormat::POINT),
            ("5.", DecimalFormat::POINT),
            ("-0.00", DecimalFormat::POINT),
            ("999999999999999999", DecimalFormat::POINT),
            ("1234,56", DecimalFormat::new(',', Some('.'))),
            ("1234.56", DecimalFormat::new('.', Some(','))),
        ] {
            let fast = parse_plain(text, &format).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                parse_general(text, &format).map(|d| d.serialize()),
                Ok(fast.serialize()),
                "{text}"
            );
        }
        for (text, format) in [
            ("1,234.56", DecimalFormat::new('.', Some(','))),
            ("(5.00)", DecimalFormat::POINT),
            ("5.00-", DecimalFormat::POINT),
            ("1.2.3", DecimalFormat::POINT),
            ("1234,56", DecimalFormat::POINT),
            ("-", DecimalFormat::POINT),
            (".", DecimalFormat::POINT),
            ("", DecimalFormat::POINT),
            ("--5", DecimalFormat::POINT),
            ("1000000000000000000", DecimalFormat::POINT),
            ("1525", DecimalFormat::new('5', None)),
            ("1234", DecimalFormat::new('.', Some('2'))),
        ] {
            assert_eq!(parse_plain(text, &format), None, "{text}");
        }
        // Zero never keeps a minus sign, as with the general parser.
        assert!(!parse_decimal("-0.00", &DecimalFormat::POINT)
            .unwrap()
            .is_sign_negative());
    }

    #[test]
    fn floats_convert_by_shortest_representation() {
        assert_eq!(decimal_from_f64(0.1), Ok(d("0.1")));
        assert_eq!(decimal_from_f64(1234.56), Ok(d("1234.56")));
        assert_eq!(decimal_from_f64(-12.3), Ok(d("-12.3")));
        assert_eq!(decimal_from_f64(100.0), Ok(d("100")));
        assert_eq!(decimal_from_f64(0.1 + 0.2), Ok(d("0.30000000000000004")));
        assert!(decimal_from_f64(f64::NAN).is_err());
        assert!(decimal_from_f64(1e40).is_err());
    }

    /// Writes `value` the way a file in `format` would, in one of the negative styles.
    fn write(value: Decimal, format: &DecimalFormat, neg_style: u8) -> String {
        let abs = value.abs().to_string();
        let (int, frac) = match abs.split_once('.') {
            Some((i, f)) => (i.to_string(), Some(f.to_string())),
            None => (abs.clone(), None),
        };
        let int = match format.thousands_separator {
            Some(t) => {
                let chars: Vec<char> = int.chars().collect();
                let mut out = String::new();
                for (i, c) in chars.iter().enumerate() {
                    if i > 0 && (chars.len() - i).is_multiple_of(3) {
                        out.push(t);
                    }
                    out.push(*c);
                }
                out
            }
            None => int,
        };
        let mut body = int;
        if let Some(f) = frac {
            body.push(format.decimal_separator);
            body.push_str(&f);
        }
        if value.is_sign_negative() && !value.is_zero() {
            match neg_style % 3 {
                0 => format!("-{body}"),
                1 => format!("{body}-"),
                _ => format!("({body})"),
            }
        } else {
            body
        }
    }

    fn formats() -> Vec<DecimalFormat> {
        vec![
            DecimalFormat::POINT,
            DecimalFormat::COMMA,
            DecimalFormat::new('.', Some(',')),
            DecimalFormat::new(',', Some('.')),
            DecimalFormat::new(',', Some(' ')),
            DecimalFormat::new('.', Some('\'')),
            DecimalFormat::new(',', Some('\u{a0}')),
        ]
    }

    proptest! {
        #[test]
        fn written_decimals_parse_back_exactly(
            mantissa in any::<i64>(),
            scale in 0u32..=10,
            which in 0usize..7,
            neg_style in 0u8..3,
        ) {
            let value = Decimal::new(mantissa, scale);
            let format = formats()[which];
            let text = write(value, &format, neg_style);
            let parsed = parse_decimal(&text, &format);
            prop_assert_eq!(parsed, Ok(value), "text {:?}", text);
        }

        /// The fast path agrees with the general parser, to the scale and sign of zero, and
        /// `parse_decimal` as a whole with the general parser alone.
        #[test]
        fn fast_path_agrees_with_the_general_parser(
            s in prop_oneof![
                "[-+]?[0-9]{0,20}([.,][0-9]{0,20})?",
                "[ (]?[-+]?[0-9.,' \u{a0}]{0,24}[-)]? ?",
                "\\PC{0,12}",
            ],
            which in 0usize..7,
        ) {
            let format = formats()[which];
            let general = parse_general(&s, &format);
            if let Some(fast) = parse_plain(s.trim(), &format) {
                prop_assert_eq!(
                    general.clone().map(|d| d.serialize()),
                    Ok(fast.serialize()),
                    "{:?}", s
                );
            }
            prop_assert_eq!(
                parse_decimal(&s, &format).map(|d| d.serialize()),
                general.map(|d| d.serialize())
            );
        }

        #[test]
        fn never_panics_on_junk(s in ".{0,24}") {
            for f in formats() {
                let _ = parse_decimal(&s, &f);
            }
        }
    }
}
