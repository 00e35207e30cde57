//! Latency and size distributions: HDR histograms (2 significant digits: every value is
//! kept within 1 %), recorded into stripes so that threads recording at once rarely meet
//! on a lock or a cache line, merged when a snapshot is taken. A stripe's histogram is
//! allocated on its first value: an idle log costs no histogram memory.

use std::sync::Mutex;

use hdrhistogram::Histogram;

use super::thread_shard;
use crate::sync::{lock, Padded};

/// Stripes per recorder: a thread records into stripe `thread_shard() % STRIPES`.
const STRIPES: usize = 4;

/// One distribution of a log (or of a manager's archive client).
#[derive(Default)]
pub(crate) struct Recorder {
    stripes: [Padded<Mutex<Option<Stripe>>>; STRIPES],
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recorder").field(&self.summary()).finish()
    }
}

struct Stripe {
    hist: Histogram<u64>,
    /// The exact sum, least and greatest of the values (the histogram keeps them within
    /// 1 % only).
    sum: u64,
    min: u64,
    max: u64,
}

/// What a snapshot reports of a distribution. All 0 when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Recorder {
    pub fn record(&self, value: u64) {
        let mut stripe = lock(&self.stripes[thread_shard() % STRIPES]);
        let stripe = stripe.get_or_insert_with(|| Stripe {
            // Auto-resizing from 1..2: only as many buckets as the largest value needs.
            hist: Histogram::new(2).expect("2 significant digits are valid"),
            sum: 0,
            min: u64::MAX,
            max: 0,
        });
        // `record` grows the histogram to fit (`saturating_record` would clamp instead).
        if stripe.hist.record(value).is_err() {
            stripe.hist.saturating_record(value);
        }
        stripe.sum = stripe.sum.saturating_add(value);
        stripe.min = stripe.min.min(value);
        stripe.max = stripe.max.max(value);
    }

    /// The stripes merged. Percentiles are the histogram's (within 1 %); count, sum, min
    /// and max are exact.
    pub fn summary(&self) -> Summary {
        let mut merged: Option<Histogram<u64>> = None;
        let (mut sum, mut min, mut max) = (0u64, u64::MAX, 0u64);
        for stripe in &self.stripes {
            if let Some(s) = lock(stripe).as_ref() {
                sum = sum.saturating_add(s.sum);
                (min, max) = (min.min(s.min), max.max(s.max));
                match &mut merged {
                    None => merged = Some(s.hist.clone()),
                    // Auto-resizing histograms take any other's values.
                    Some(m) => m.add(&s.hist).expect("auto-resizing histograms merge"),
                }
            }
        }
        match merged {
            Some(h) if !h.is_empty() => Summary {
                count: h.len(),
                sum,
                min,
                // A percentile is never reported beyond the extremes it lies between.
                p50: h.value_at_quantile(0.5).clamp(min, max),
                p90: h.value_at_quantile(0.9).clamp(min, max),
                p99: h.value_at_quantile(0.99).clamp(min, max),
                p999: h.value_at_quantile(0.999).clamp(min, max),
                max,
            },
            _ => Summary::default(),
        }
    }

    /// Forgets every value (and frees the histograms).
    pub fn reset(&self) {
        for stripe in &self.stripes {
            *lock(stripe) = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_recorder_reports_zeros() {
        assert_eq!(Recorder::default().summary(), Summary::default());
    }

    /// Values recorded from several threads are all counted; percentiles lie within 1 %
    /// of the exact ones; count, sum, min and max are exact; reset forgets everything.
    #[test]
    fn stripes_merge_into_exact_counts_and_close_percentiles() {
        let rec = std::sync::Arc::new(Recorder::default());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for v in 1..=10_000u64 {
                        if v % 8 == t {
                            rec.record(v * 1000);
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let s = rec.summary();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.sum, (1..=10_000u64).sum::<u64>() * 1000);
        assert_eq!((s.min, s.max), (1000, 10_000_000));
        let close = |got: u64, exact: u64| got.abs_diff(exact) * 100 <= exact;
        assert!(close(s.p50, 5_000_000), "{s:?}");
        assert!(close(s.p90, 9_000_000), "{s:?}");
        assert!(close(s.p99, 9_900_000), "{s:?}");
        assert!(close(s.p999, 9_990_000), "{s:?}");
        rec.reset();
        assert_eq!(rec.summary(), Summary::default());
    }
}
