//! Counts and exact sums per currency, side and status.
//!
//! With amounts in minor units ([`Minor`]) the sums are `i128`, turned at the end into the very
//! `Decimal` the `Decimal` fold would have given, scale included: `Decimal` addition keeps the
//! larger scale of two non-zero operands, but returns the other operand unchanged when one of
//! them is zero, so the scale is tracked along the same fold, in the same (input) order. Each
//! side is one fold; the two sides can run on two threads.

use domain::money::Currency;
use domain::records::{Record, Side};
use rust_decimal::Decimal;

use crate::amounts::Minor;
use crate::engine::{MATCHED, SUGGESTED};
use crate::outcome::{CurrencySummary, SideSummary};

/// The `Decimal` tally: the reference, and the path when amounts are not in minor units.
pub(crate) fn summarise_decimal(
    left: &[Record],
    right: &[Record],
    status_left: &[u8],
    status_right: &[u8],
) -> Vec<CurrencySummary> {
    let mut out: Vec<CurrencySummary> = Vec::new();
    let mut tally = |recs: &[Record], status: &[u8], side: Side| {
        let mut last = usize::MAX;
        for (r, s) in recs.iter().zip(status) {
            last = slot(&mut out, r.currency, last, |c| CurrencySummary {
                currency: c,
                left: SideSummary::default(),
                right: SideSummary::default(),
            });
            let entry = &mut out[last];
            let t = match side {
                Side::Left => &mut entry.left,
                Side::Right => &mut entry.right,
            };
            t.records += 1;
            t.amount = t.amount.saturating_add(r.amount);
            let (count, amount) = match *s {
                MATCHED => (&mut t.matched, &mut t.matched_amount),
                SUGGESTED => (&mut t.suggested, &mut t.suggested_amount),
                _ => (&mut t.unmatched, &mut t.unmatched_amount),
            };
            *count += 1;
            *amount = amount.saturating_add(r.amount);
        }
    };
    tally(left, status_left, Side::Left);
    tally(right, status_right, Side::Right);
    out.sort_by_key(|s| s.currency);
    out
}

/// The index of `currency` in `out` (added by `new` if missing), trying `last` first: records
/// come in long runs of few currencies.
fn slot<T>(
    out: &mut Vec<T>,
    currency: Currency,
    last: usize,
    new: impl FnOnce(Currency) -> T,
) -> usize
where
    T: HasCurrency,
{
    if out.get(last).is_some_and(|t| t.currency() == currency) {
        return last;
    }
    if let Some(i) = out.iter().position(|t| t.currency() == currency) {
        return i;
    }
    out.push(new(currency));
    out.len() - 1
}

trait HasCurrency {
    fn currency(&self) -> Currency;
}

impl HasCurrency for CurrencySummary {
    fn currency(&self) -> Currency {
        self.currency
    }
}

/// An exact sum in minor units, with the scale its `Decimal` fold would have.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    units: i128,
    scale: u32,
    count: u64,
}

impl Sum {
    /// `Decimal`'s `sum + term`: a zero sum becomes the term as it is; a zero term leaves the
    /// sum as it is; otherwise the larger scale (no rounding within [`Minor`]'s limits).
    fn add(&mut self, units: i64, scale: u32) {
        if self.units == 0 {
            self.units = i128::from(units);
            self.scale = scale;
        } else if units != 0 {
            self.units += i128::from(units);
            self.scale = self.scale.max(scale);
        }
        self.count += 1;
    }

    fn decimal(&self, minor_scale: u32) -> Option<Decimal> {
        if self.count == 0 {
            return Some(Decimal::ZERO);
        }
        // Every term in the sum is a multiple of 10^(minor_scale - scale): the division is exact.
        let units = self.units / 10i128.checked_pow(minor_scale.checked_sub(self.scale)?)?;
        Decimal::try_from_i128_with_scale(units, self.scale).ok()
    }
}

/// Sums of one side of one currency: all, matched, suggested, unmatched.
#[derive(Debug, Clone, Copy, Default)]
struct SideSums([Sum; 4]);

#[derive(Debug, Clone)]
struct CurrencySums {
    currency: Currency,
    sides: [SideSums; 2],
}

impl HasCurrency for CurrencySums {
    fn currency(&self) -> Currency {
        self.currency
    }
}

/// Integer sums of one side's records.
pub(crate) struct Partial(Vec<CurrencySums>);

/// Tallies all the records of `side` (amounts `units`), in order.
pub(crate) fn tally_minor(recs: &[Record], units: &[i64], status: &[u8], side: Side) -> Partial {
    let mut out: Vec<CurrencySums> = Vec::new();
    let mut last = usize::MAX;
    let s = side_index(side);
    for ((r, &u), st) in recs.iter().zip(units).zip(status) {
        last = slot(&mut out, r.currency, last, |c| CurrencySums {
            currency: c,
            sides: [SideSums::default(); 2],
        });
        let scale = r.amount.scale();
        let sums = &mut out[last].sides[s].0;
        sums[0].add(u, scale);
        let k = match *st {
            MATCHED => 1,
            SUGGESTED => 2,
            _ => 3,
        };
        sums[k].add(u, scale);
    }
    Partial(out)
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

/// The summary from the two sides' tallies. `None` if a sum does not fit a `Decimal` (cannot
/// happen within [`Minor`]'s limits; the caller falls back).
pub(crate) fn combine_minor(
    left: Partial,
    right: Partial,
    minor: &Minor,
) -> Option<Vec<CurrencySummary>> {
    let mut all: Vec<CurrencySums> = left.0;
    for cs in right.0 {
        let i = slot(&mut all, cs.currency, usize::MAX, |c| CurrencySums {
            currency: c,
            sides: [SideSums::default(); 2],
        });
        all[i].sides[1] = cs.sides[1];
    }
    all.sort_by_key(|c| c.currency);
    let side = |s: &SideSums| -> Option<SideSummary> {
        let [all, matched, suggested, unmatched] = &s.0;
        Some(SideSummary {
            records: all.count,
            amount: all.decimal(minor.scale)?,
            matched: matched.count,
            matched_amount: matched.decimal(minor.scale)?,
            suggested: suggested.count,
            suggested_amount: suggested.decimal(minor.scale)?,
            unmatched: unmatched.count,
            unmatched_amount: unmatched.decimal(minor.scale)?,
        })
    };
    all.iter()
        .map(|c| {
            Some(CurrencySummary {
                currency: c.currency,
                left: side(&c.sides[0])?,
                right: side(&c.sides[1])?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(amount: Decimal, currency: &str) -> Record {
        Record {
            id: "x".into(),
            booking_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            value_date: None,
            amount,
            currency: Currency::parse(currency).unwrap(),
            reference: None,
            counterparty: None,
            description: None,
        }
    }

    fn both(left: &[Record], right: &[Record], sl: &[u8], sr: &[u8]) -> (String, String) {
        let want = serde_json::to_string(&summarise_decimal(left, right, sl, sr)).unwrap();
        let minor = Minor::new(left, right, &[], 1).unwrap();
        let got = combine_minor(
            tally_minor(left, &minor.left, sl, Side::Left),
            tally_minor(right, &minor.right, sr, Side::Right),
            &minor,
        )
        .unwrap();
        (serde_json::to_string(&got).unwrap(), want)
    }

    #[test]
    fn sums_keep_the_scale_decimal_gives_them() {
        let d = |m: i64, s: u32| Decimal::new(m, s);
        // 5.00 - 5.00 = 0.00, then 0.00 + 3 is 3 (a zero operand gives way); 0.0 alone stays.
        let left = [
            record(d(500, 2), "EUR"),
            record(d(-500, 2), "EUR"),
            record(d(3, 0), "EUR"),
        ];
        let right = [record(d(0, 1), "USD")];
        let (got, want) = both(&left, &right, &[0, 1, 2], &[0]);
        assert_eq!(got, want);
        assert!(want.contains(r#""amount":"3""#), "{want}");
        assert!(want.contains(r#""amount":"0.0""#), "{want}");
    }

    proptest! {
        #[test]
        fn integer_tally_is_the_decimal_tally(
            amounts in prop::collection::vec((-3i64..=3, 0u32..4, 0u8..3, prop::bool::ANY), 0..40),
        ) {
            let recs: Vec<Record> = amounts
                .iter()
                .map(|&(m, s, _, usd)| record(Decimal::new(m * 10i64.pow(s) / 2, s), if usd { "USD" } else { "EUR" }))
                .collect();
            let status: Vec<u8> = amounts.iter().map(|a| a.2).collect();
            let half = recs.len() / 2;
            let (got, want) = both(&recs[..half], &recs[half..], &status[..half], &status[half..]);
            prop_assert_eq!(got, want);
        }
    }
}
