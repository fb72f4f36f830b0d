//! Amounts for the 1:1 search: integer minor units when every amount fits, `Decimal` otherwise.
//!
//! [`Minor`] holds every record's amount as an `i64` count of `10^-scale` units, `scale` being
//! the largest scale of any amount or absolute tolerance, when all of them fit comfortably.
//! [`MinorAmounts`] then decides windows and tolerances with integer arithmetic that is exact
//! and agrees with the `Decimal` rules of [`DecimalAmounts`] (tested against it); where a score
//! needs a ratio of amounts it is computed by the very same `Decimal` code, so scores are
//! identical either way.

use domain::records::{Record, Side};
use rust_decimal::Decimal;

use crate::engine::{allowed, amount_component};
use crate::par;
use crate::rules::CompiledPass;

/// Largest magnitude of an amount in minor units: sums of up to `u32::MAX` of them, and
/// differences, stay far inside `i128` and `Decimal`'s 96 bits.
const LIMIT: i64 = 1 << 62;

/// Every record's amount in minor units (`10^-scale`).
#[derive(Debug, Clone)]
pub(crate) struct Minor {
    pub scale: u32,
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    /// The largest magnitude of any of them.
    max_abs: i64,
}

impl Minor {
    /// `None` when some amount (or absolute tolerance) does not fit: everything then stays
    /// `Decimal`. Each side on its own thread when `threads` > 1.
    pub(crate) fn new(
        left: &[Record],
        right: &[Record],
        passes: &[CompiledPass],
        threads: usize,
    ) -> Option<Self> {
        let sides = [left, right];
        let tolerances = || passes.iter().map(|p| p.tol_absolute.normalize().scale());
        // Amounts of a file nearly always share their number of decimals: try the scale of
        // the first ones in one pass. It is the run's scale when every amount converts at it
        // (none has more decimals); otherwise (or on any other miss, which the general path
        // repeats) the general path finds the largest scale first, in a second pass.
        let guess = sides
            .iter()
            .filter_map(|s| s.first().map(|r| r.amount.scale()))
            .chain(tolerances())
            .max()
            .unwrap_or(0);
        if let Some(minor) = Self::at_scale(sides, guess, threads) {
            return Some(minor);
        }
        let scales = par::batches(
            threads,
            2,
            || (),
            |_, b| sides[b].iter().map(|r| r.amount.scale()).max(),
            &mut || Ok(()),
        )
        .ok()?;
        let scale = scales
            .into_iter()
            .flatten()
            .chain(tolerances())
            .max()
            .unwrap_or(0);
        Self::at_scale(sides, scale, threads)
    }

    /// Both sides in units of `10^-scale`; `None` when an amount does not fit (each side on its
    /// own thread when `threads` > 1).
    fn at_scale(sides: [&[Record]; 2], scale: u32, threads: usize) -> Option<Self> {
        let converted = par::batches(
            threads,
            2,
            || (),
            |_, b| -> Option<(Vec<i64>, i64)> {
                let mut max_abs = 0i64;
                let mut out = Vec::with_capacity(sides[b].len());
                for r in sides[b] {
                    let v = to_minor(r.amount, scale)?;
                    max_abs = max_abs.max(v.abs());
                    out.push(v);
                }
                Some((out, max_abs))
            },
            &mut || Ok(()),
        )
        .ok()?;
        let mut converted = converted.into_iter();
        let (left, ml) = converted.next()??;
        let (right, mr) = converted.next()??;
        Some(Self {
            scale,
            left,
            right,
            max_abs: ml.max(mr),
        })
    }

    pub(crate) fn side(&self, side: Side) -> &[i64] {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

/// `d` as an integer count of `10^-scale` units, when exact and within [`LIMIT`]. A negative
/// zero stays `Decimal` (its sign could show in a sum).
pub(crate) fn to_minor(d: Decimal, scale: u32) -> Option<i64> {
    if d.scale() > scale || (d.is_zero() && d.is_sign_negative()) {
        return None;
    }
    let m = i64::try_from(d.mantissa()).ok()?;
    let v = match scale - d.scale() {
        0 => m,
        up => m.checked_mul(10i64.checked_pow(up)?)?,
    };
    (v.unsigned_abs() < LIMIT.unsigned_abs()).then_some(v)
}

/// How the 1:1 search reads and compares amounts.
pub(crate) trait Amounts: Sync {
    type A: Copy + Ord + Send + Sync + std::fmt::Debug;

    /// The amount of record `idx` of `side`.
    fn amount(&self, side: Side, idx: usize, r: &Record) -> Self::A;

    /// The amounts a partner of a record of amount `a` may have, inclusive (`None`: unbounded):
    /// a superset of those within the tolerance of `a` (it takes the tolerance of `|a|`).
    fn window(&self, a: Self::A) -> (Option<Self::A>, Option<Self::A>);

    /// `Some(amount component of the score)` when `a` and `b` are within the tolerance.
    /// `exact` gives the records' own amounts, for a ratio that must be computed as `Decimal`.
    fn component(
        &self,
        a: Self::A,
        b: Self::A,
        exact: impl FnOnce() -> (Decimal, Decimal),
    ) -> Option<f64>;
}

/// The `Decimal` rules (the reference the integer ones agree with).
pub(crate) struct DecimalAmounts<'p> {
    pub pass: &'p CompiledPass,
}

impl Amounts for DecimalAmounts<'_> {
    type A = Decimal;

    fn amount(&self, _side: Side, _idx: usize, r: &Record) -> Decimal {
        r.amount
    }

    fn window(&self, a: Decimal) -> (Option<Decimal>, Option<Decimal>) {
        // The tolerance of `|a|` itself: a partner's own may only be smaller.
        let width = allowed(self.pass, a, a);
        (a.checked_sub(width), a.checked_add(width))
    }

    fn component(
        &self,
        a: Decimal,
        b: Decimal,
        _exact: impl FnOnce() -> (Decimal, Decimal),
    ) -> Option<f64> {
        amount_component(self.pass, a, b)
    }
}

/// Integer rules for amounts in minor units. With the tolerance `absolute` = `t` units and
/// `percent / 100` = `f / 10^k`, amounts `a`, `b` agree when
/// `|a - b| * 10^k <= max(t * 10^k, f * min(|a|, |b|))`: the `Decimal` rule scaled by
/// `10^(scale + k)`, exact because every product is checked to fit when this is built.
pub(crate) struct MinorAmounts<'a> {
    pass: &'a CompiledPass,
    minor: &'a Minor,
    /// `t`.
    abs: i64,
    /// `t * 10^k`.
    abs_k: i128,
    /// `f` (0: no percent).
    frac: i128,
    /// `10^k`.
    pow: i128,
}

impl<'a> MinorAmounts<'a> {
    /// `None` when the pass's tolerance cannot be applied exactly in integers (the `Decimal`
    /// rules apply then).
    pub(crate) fn new(pass: &'a CompiledPass, minor: &'a Minor) -> Option<Self> {
        let abs = to_minor(pass.tol_absolute, minor.scale)?;
        let (frac, k) = if pass.tol_fraction.is_zero() {
            (0i128, 0u32)
        } else {
            (pass.tol_fraction.mantissa(), pass.tol_fraction.scale())
        };
        if frac < 0 || k + minor.scale > 28 {
            return None;
        }
        let pow = 10i128.checked_pow(k)?;
        let max = i128::from(minor.max_abs);
        // `Decimal` computes `fraction * |amount|` exactly below 96 bits of mantissa.
        if frac.checked_mul(max)? >= 1i128 << 96 {
            return None;
        }
        let abs_k = i128::from(abs).checked_mul(pow)?;
        // Differences scaled by 10^k must fit too.
        (2 * max).checked_mul(pow)?;
        Some(Self {
            pass,
            minor,
            abs,
            abs_k,
            frac,
            pow,
        })
    }

    /// The allowed difference, scaled by `10^k`, for magnitude `m`.
    fn allowed_k(&self, m: i64) -> i128 {
        self.abs_k.max(self.frac * i128::from(m))
    }
}

impl Amounts for MinorAmounts<'_> {
    type A = i64;

    fn amount(&self, side: Side, idx: usize, _r: &Record) -> i64 {
        self.minor.side(side).get(idx).copied().unwrap_or_default()
    }

    fn window(&self, a: i64) -> (Option<i64>, Option<i64>) {
        // Partners are integers: within `w / 10^k` of `a` means within its floor.
        let w = if self.frac == 0 {
            self.abs
        } else {
            i64::try_from(self.allowed_k(a.abs()) / self.pow).unwrap_or(i64::MAX)
        };
        (a.checked_sub(w), a.checked_add(w))
    }

    fn component(&self, a: i64, b: i64, exact: impl FnOnce() -> (Decimal, Decimal)) -> Option<f64> {
        let diff = i128::from(a.abs_diff(b)) * self.pow;
        let allowed = self.allowed_k(a.abs().min(b.abs()));
        if diff > allowed {
            return None;
        }
        // 1 - diff / allowed, at its two ends without dividing (the `Decimal` rule gives
        // exactly 1.0 and 0.0 there); in between, by the `Decimal` rule itself.
        if diff == 0 {
            return Some(1.0);
        }
        if diff == allowed {
            return Some(0.0);
        }
        let (a, b) = exact();
        amount_component(self.pass, a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile;
    use crate::RuleSet;
    use proptest::prelude::*;

    fn pass(abs: &str, pct: &str) -> CompiledPass {
        let json = format!(
            r#"{{"version": 1, "passes": [{{"name": "p", "cardinality": "one_to_one",
                "amount_tolerance": {{"absolute": "{abs}", "percent": "{pct}"}}}}]}}"#
        );
        let rules = RuleSet::from_json_str(&json).unwrap();
        compile(&rules).unwrap().remove(0)
    }

    fn record(amount: Decimal) -> Record {
        Record {
            id: "x".into(),
            booking_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            value_date: None,
            amount,
            currency: domain::money::Currency::parse("EUR").unwrap(),
            reference: None,
            counterparty: None,
            description: None,
        }
    }

    fn arb_amount() -> impl Strategy<Value = Decimal> {
        (-2_000_000i64..2_000_000, 0u32..5).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        /// The integer window holds exactly the amounts the `Decimal` window holds, and the
        /// integer component is the `Decimal` one, bit for bit.
        #[test]
        fn integer_rules_agree_with_decimal(
            a in arb_amount(),
            b in arb_amount(),
            near in 0i64..4,
            abs in prop::sample::select(vec!["0", "0.01", "0.005", "1", "2.5", "1000"]),
            pct in prop::sample::select(vec!["0", "0.5", "1", "0.333", "100", "0.0001234", "12.5"]),
        ) {
            // Often make b close to a, so that tolerances matter.
            let b = if near > 0 { a + Decimal::new(near - 2, 2) } else { b };
            let p = pass(abs, pct);
            let left = vec![record(a)];
            let right = vec![record(b)];
            let Some(minor) = Minor::new(&left, &right, std::slice::from_ref(&p), 1) else {
                return Err(TestCaseError::fail("amounts should fit"));
            };
            let Some(int) = MinorAmounts::new(&p, &minor) else {
                return Err(TestCaseError::fail("tolerance should fit"));
            };
            let dec = DecimalAmounts { pass: &p };
            let (ia, ib) = (minor.left[0], minor.right[0]);
            let ci = int.component(ia, ib, || (a, b));
            let cd = dec.component(a, b, || (a, b));
            prop_assert_eq!(ci.map(f64::to_bits), cd.map(f64::to_bits));
            let (ilo, ihi) = int.window(ia);
            let (dlo, dhi) = dec.window(a);
            let in_int = ilo.is_none_or(|lo| ib >= lo) && ihi.is_none_or(|hi| ib <= hi);
            let in_dec = dlo.is_none_or(|lo| b >= lo) && dhi.is_none_or(|hi| b <= hi);
            prop_assert_eq!(in_int, in_dec);
            // Order is preserved.
            prop_assert_eq!(ia.cmp(&ib), a.cmp(&b));
        }
    }

    proptest! {
        /// The scale is the largest of every amount's and the tolerance's, whether the first
        /// amounts have it or not (the one-pass guess), and each value is its amount exactly.
        #[test]
        fn minor_units_use_the_largest_scale(
            left in prop::collection::vec(arb_amount(), 0..20),
            right in prop::collection::vec(arb_amount(), 0..20),
            abs in prop::sample::select(vec!["0", "0.01", "0.005", "1"]),
            threads in 1usize..3,
        ) {
            let p = pass(abs, "0");
            let l: Vec<Record> = left.iter().copied().map(record).collect();
            let r: Vec<Record> = right.iter().copied().map(record).collect();
            let want = left
                .iter()
                .chain(&right)
                .map(|a| a.scale())
                .chain([p.tol_absolute.normalize().scale()])
                .max()
                .unwrap_or(0);
            let has_negative_zero = left.iter().chain(&right).any(|a| a.is_zero() && a.is_sign_negative());
            let minor = Minor::new(&l, &r, std::slice::from_ref(&p), threads);
            prop_assert_eq!(minor.is_none(), has_negative_zero);
            if let Some(minor) = minor {
                prop_assert_eq!(minor.scale, want);
                let unit = Decimal::new(1, want);
                for (amounts, values) in [(&left, &minor.left), (&right, &minor.right)] {
                    let back: Vec<Decimal> = values.iter().map(|v| Decimal::from(*v) * unit).collect();
                    prop_assert_eq!(&back, amounts);
                }
            }
        }
    }

    #[test]
    fn amounts_that_do_not_fit_stay_decimal() {
        let p = pass("0.01", "0");
        let huge = record(Decimal::MAX);
        let small = record(Decimal::new(1, 2));
        assert!(Minor::new(
            &[huge],
            std::slice::from_ref(&small),
            std::slice::from_ref(&p),
            1
        )
        .is_none());
        let neg_zero = record(-Decimal::new(0, 2));
        assert!(Minor::new(&[neg_zero], &[small], std::slice::from_ref(&p), 2).is_none());
        let tiny = record(Decimal::new(1, 28));
        let big = record(Decimal::new(1_000_000, 0));
        assert!(Minor::new(&[tiny], &[big], &[p], 1).is_none());
    }
}
