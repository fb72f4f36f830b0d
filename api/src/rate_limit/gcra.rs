//! The generic cell rate algorithm (GCRA): per key, a theoretical arrival time. A request is
//! allowed when it does not arrive earlier than its burst allows; each allowed request moves the
//! time one emission interval on. Pure: the caller passes the clock.

use std::time::Duration;

/// `limit` requests per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Quota {
    /// The time one request "costs".
    pub fn interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }

    /// How far ahead of now the arrival time may run (burst − 1 intervals).
    fn tolerance(&self) -> Duration {
        self.interval() * self.burst.max(1).saturating_sub(1)
    }

    /// Parses `100/min`, `10/s`, `5000/h`, with an optional `,burst=20` (default: the limit).
    pub fn parse(raw: &str) -> Result<Quota, String> {
        let bad = || format!("`{raw}` is not a rate such as `100/min,burst=20`");
        let mut parts = raw.split(',').map(str::trim);
        let rate = parts.next().ok_or_else(bad)?;
        let (limit, unit) = rate.split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let mut burst = limit;
        for part in parts {
            let value = part.strip_prefix("burst=").ok_or_else(bad)?;
            burst = value.parse().map_err(|_| bad())?;
        }
        if limit == 0 || burst == 0 {
            return Err(format!(
                "`{raw}`: the limit and the burst must be at least 1"
            ));
        }
        Ok(Quota {
            limit,
            period,
            burst,
        })
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `remaining` more requests would be allowed right now; the bucket is full again
    /// after `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Refused; the next request is allowed after `retry_after`.
    Refused { retry_after: Duration },
}

/// Decides a request at `now` (time since any fixed origin) for a key whose theoretical arrival
/// time is `tat` (None: never seen). Answers the decision and the key's new arrival time.
pub fn decide(quota: &Quota, tat: Option<Duration>, now: Duration) -> (Decision, Duration) {
    let interval = quota.interval();
    let tolerance = quota.tolerance();
    let tat = tat.unwrap_or(now).max(now);
    if tat > now + tolerance {
        let retry_after = tat - tolerance - now;
        return (Decision::Refused { retry_after }, tat);
    }
    let next = tat + interval;
    let used = next - now;
    let room = tolerance + interval;
    let remaining = ((room.saturating_sub(used)).as_nanos() / interval.as_nanos().max(1)) as u32;
    (
        Decision::Allowed {
            remaining,
            reset: used,
        },
        next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32, secs: u64, burst: u32) -> Quota {
        Quota {
            limit,
            period: Duration::from_secs(secs),
            burst,
        }
    }

    /// Runs requests at the given times; answers how many were allowed.
    fn allowed_at(q: &Quota, times: &[Duration]) -> usize {
        let mut tat = None;
        let mut allowed = 0;
        for &t in times {
            let (d, next) = decide(q, tat, t);
            tat = Some(next);
            if matches!(d, Decision::Allowed { .. }) {
                allowed += 1;
            }
        }
        allowed
    }

    #[test]
    fn a_burst_is_allowed_at_once_and_then_one_per_interval() {
        let q = quota(100, 60, 20);
        let mut tat = None;
        for i in 0..20 {
            let (d, next) = decide(&q, tat, Duration::ZERO);
            tat = Some(next);
            match d {
                Decision::Allowed { remaining, .. } => assert_eq!(remaining, 19 - i),
                other => panic!("request {i} refused: {other:?}"),
            }
        }
        let (refused, same) = decide(&q, tat, Duration::ZERO);
        assert_eq!(
            refused,
            Decision::Refused {
                retry_after: Duration::from_millis(600)
            }
        );
        assert_eq!(Some(same), tat, "a refusal costs nothing");
        let (later, _) = decide(&q, tat, Duration::from_millis(600));
        assert!(
            matches!(later, Decision::Allowed { remaining: 0, .. }),
            "{later:?}"
        );
    }

    #[test]
    fn over_a_long_time_the_rate_holds() {
        let q = quota(100, 60, 20);
        // One request every 100 ms for 10 minutes: 6,000 asked, 1,000 + the burst allowed.
        let times: Vec<Duration> = (0..6000).map(|i| Duration::from_millis(100 * i)).collect();
        let allowed = allowed_at(&q, &times);
        assert!((1000..=1020).contains(&allowed), "{allowed}");
        // Slower than the rate: all allowed.
        let slow: Vec<Duration> = (0..500).map(|i| Duration::from_millis(700 * i)).collect();
        assert_eq!(allowed_at(&q, &slow), 500);
    }

    #[test]
    fn reset_is_the_time_until_the_bucket_is_full() {
        let q = quota(60, 60, 10);
        let (d, _) = decide(&q, None, Duration::from_secs(5));
        assert_eq!(
            d,
            Decision::Allowed {
                remaining: 9,
                reset: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn quotas_parse_and_bad_ones_are_refused() {
        assert_eq!(Quota::parse("100/min,burst=20"), Ok(quota(100, 60, 20)));
        assert_eq!(Quota::parse("10/s"), Ok(quota(10, 1, 10)));
        assert_eq!(
            Quota::parse(" 5000/h , burst=500 "),
            Ok(quota(5000, 3600, 500))
        );
        for bad in [
            "",
            "100",
            "100/day",
            "0/min",
            "x/min",
            "10/min,bursts=3",
            "10/min,burst=0",
        ] {
            assert!(Quota::parse(bad).is_err(), "{bad:?}");
        }
    }
}
