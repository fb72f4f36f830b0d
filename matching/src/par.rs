//! Independent batches of work on a few scoped threads, with results in batch order so that
//! nothing downstream can depend on how many threads ran or how they interleaved.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::engine::Stop;

/// Runs `work(state, b)` for every batch `b` in `0..batches` on up to `threads` threads (the
/// calling thread is one of them; each thread has its own `state` from `init`, for scratch
/// buffers) and returns the results in batch order. Batches are handed out in increasing order.
///
/// Only the calling thread calls `between` (the progress callback need not be `Sync`), after
/// each of its batches; an `Err` from it makes every thread stop before its next batch and is
/// returned.
pub(crate) fn batches<S, R: Send>(
    threads: usize,
    batches: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) -> R + Sync,
    between: &mut dyn FnMut() -> Result<(), Stop>,
) -> Result<Vec<R>, Stop> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let b = next.fetch_add(1, Ordering::Relaxed);
        (b < batches).then_some(b)
    };
    let helper = || {
        let mut state = init();
        let mut done = Vec::new();
        while let Some(b) = take() {
            done.push((b, work(&mut state, b)));
        }
        done
    };
    let helpers = threads.clamp(1, batches.max(1)) - 1;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..helpers).map(|_| s.spawn(helper)).collect();
        let mut state = init();
        let mut done = Vec::with_capacity(batches);
        let mut result = Ok(());
        while let Some(b) = take() {
            done.push((b, work(&mut state, b)));
            if let Err(e) = between() {
                stop.store(true, Ordering::Relaxed);
                result = Err(e);
                break;
            }
        }
        for h in handles {
            done.extend(joined(h));
        }
        result?;
        done.sort_unstable_by_key(|(b, _)| *b);
        Ok(done.into_iter().map(|(_, r)| r).collect())
    })
}

/// Appends `make(state, i)` for every `i` in `0..n`, in order, to `out`, on up to `threads`
/// threads, each with its own `state` from `init`: every thread writes its share straight into
/// `out`'s spare capacity (nothing is copied after).
///
/// Only the calling thread calls `between`, every `every` items, with its estimate of the items
/// made; an `Err` from it stops every thread within `every` items and is returned, `out` then
/// as it was (the items already made are dropped).
pub(crate) fn extend_in_order<S, T: Send>(
    threads: usize,
    n: usize,
    every: usize,
    out: &mut Vec<T>,
    init: impl Fn() -> S + Sync,
    make: impl Fn(&mut S, usize) -> T + Sync,
    between: &mut dyn FnMut(usize) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let threads = threads.clamp(1, n.max(1));
    let every = every.max(1);
    let stop = AtomicBool::new(false);
    let len = out.len();
    out.reserve(n);
    // How many slots of each share were written (a prefix of it).
    let (result, written) = std::thread::scope(|s| {
        let (init, make, stop) = (&init, &make, &stop);
        let mut shares = shares(&mut out.spare_capacity_mut()[..n], threads).into_iter();
        let first = shares.next().unwrap_or_default();
        let handles: Vec<_> = shares
            .enumerate()
            .map(|(k, share)| {
                s.spawn(move || {
                    let range = chunk(n, threads, k + 1);
                    let mut state = init();
                    let mut written = 0;
                    for (slot, i) in share.iter_mut().zip(range) {
                        if i % every == 0 && stop.load(Ordering::Relaxed) {
                            break;
                        }
                        slot.write(make(&mut state, i));
                        written += 1;
                    }
                    written
                })
            })
            .collect();
        let mut result = Ok(());
        let mut state = init();
        let mut written = vec![0];
        for (slot, i) in first.iter_mut().zip(chunk(n, threads, 0)) {
            slot.write(make(&mut state, i));
            written[0] += 1;
            if (i + 1) % every == 0 {
                // The others go at about the same pace.
                if let Err(e) = between((i + 1) * threads) {
                    stop.store(true, Ordering::Relaxed);
                    result = Err(e);
                    break;
                }
            }
        }
        for h in handles {
            // On a panic what was written leaks (never read, never dropped).
            written.push(joined(h));
        }
        (result, written)
    });
    // Each share's written slots are a prefix of it, so all `n` written means every share full.
    let complete = written.iter().sum::<usize>() == n;
    if result.is_ok() && complete {
        // SAFETY: every share was written in full, and the shares tile the first `n` slots of
        // the spare capacity: slots `len..len + n` are initialised.
        unsafe { out.set_len(len + n) };
    } else {
        let spare = shares(&mut out.spare_capacity_mut()[..n], threads);
        for (share, w) in spare.into_iter().zip(written) {
            for slot in &mut share[..w] {
                // SAFETY: the first `w` slots of this share were written, and are dropped once
                // (the vector's length never covers them).
                unsafe { slot.assume_init_drop() };
            }
        }
    }
    // Threads stop early only after a stop.
    assert!(
        result.is_err() || complete,
        "extend_in_order: a share was left unwritten"
    );
    result
}

/// The result of a scoped thread; its panic, if it panicked, goes on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `slots` cut into `threads` consecutive shares, share `t` as long as `chunk(len, threads, t)`.
fn shares<T>(mut slots: &mut [T], threads: usize) -> Vec<&mut [T]> {
    let n = slots.len();
    (0..threads)
        .map(|t| {
            let (share, rest) = std::mem::take(&mut slots).split_at_mut(chunk(n, threads, t).len());
            slots = rest;
            share
        })
        .collect()
}

/// The `i`-th of `n` nearly equal consecutive ranges of `0..len`.
pub(crate) fn chunk(len: usize, n: usize, i: usize) -> std::ops::Range<usize> {
    let n = n.max(1);
    (len * i / n)..(len * (i + 1) / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_batch_order_whatever_the_threads() {
        for threads in 1..4 {
            let out = batches(threads, 50, || 0u32, |_, b| b * 2, &mut || Ok(())).unwrap();
            assert_eq!(out, (0..50).map(|b| b * 2).collect::<Vec<_>>());
        }
        let out = batches(2, 0, || (), |_, b| b, &mut || Ok(())).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn an_error_between_batches_stops_the_run() {
        // Batches take a millisecond each, so that the calling thread gets some whatever the
        // scheduling (with instant batches a helper could run all of them first, and `between`
        // would never be called).
        for threads in 1..3 {
            let ran = AtomicUsize::new(0);
            let mut calls = 0;
            let out = batches(
                threads,
                1000,
                || (),
                |_, b| {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    ran.fetch_add(1, Ordering::Relaxed);
                    b
                },
                &mut || {
                    calls += 1;
                    if calls == 3 {
                        Err(Stop)
                    } else {
                        Ok(())
                    }
                },
            );
            assert_eq!(out, Err(Stop));
            assert_eq!(calls, 3);
            // Each thread stops before its next batch.
            assert!(ran.load(Ordering::Relaxed) < 100, "{threads} threads");
        }
    }

    #[test]
    fn extends_in_order_whatever_the_threads() {
        for threads in 1..4 {
            for n in [0, 1, 7, 100] {
                let mut out = vec![usize::MAX];
                extend_in_order(threads, n, 3, &mut out, || (), |_, i| i, &mut |_| Ok(())).unwrap();
                let want: Vec<usize> = std::iter::once(usize::MAX).chain(0..n).collect();
                assert_eq!(out, want);
            }
        }
        let mut out = Vec::new();
        let res = extend_in_order(2, 100, 10, &mut out, || (), |_, i| i, &mut |_| Err(Stop));
        assert_eq!(res, Err(Stop));
    }

    #[test]
    fn a_stop_drops_what_was_made_and_leaves_out_as_it_was() {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        struct Counted(usize);
        impl Drop for Counted {
            fn drop(&mut self) {
                LIVE.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let made = |i| {
            LIVE.fetch_add(1, Ordering::SeqCst);
            Counted(i)
        };
        for threads in 1..4 {
            let mut out = vec![made(usize::MAX)];
            let mut calls = 0;
            let res = extend_in_order(
                threads,
                1000,
                10,
                &mut out,
                || (),
                |_, i| made(i),
                &mut |_| {
                    calls += 1;
                    if calls == 3 {
                        Err(Stop)
                    } else {
                        Ok(())
                    }
                },
            );
            assert_eq!(res, Err(Stop));
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].0, usize::MAX);
            drop(out);
            assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{threads} threads");
        }
    }

    #[test]
    fn chunks_cover_the_range() {
        let parts: Vec<_> = (0..3).map(|i| chunk(10, 3, i)).collect();
        assert_eq!(parts, vec![0..3, 3..6, 6..10]);
    }
}
