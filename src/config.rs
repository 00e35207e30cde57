//! Options of a log and their validation.

use std::time::Duration;

use crate::completion::AsyncLimits;
use crate::error::{Error, Result};
use crate::segment::format::{FOOTER_LEN, HEADER_LEN, RECORD_ALIGN, RECORD_HEADER_LEN};

/// When appended records are made durable (written and `fdatasync`ed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushPolicy {
    /// `append` returns only after its record is on stable storage. Concurrent appenders
    /// share `fdatasync` calls (group commit).
    Sync,
    /// `append` returns at once; a background worker writes and syncs as fast as it can.
    Async,
    /// Sync in the background once this many records are waiting.
    Batched { records: u32 },
    /// Sync in the background on a timer, whether or not more appends arrive.
    Periodic { interval: Duration },
    /// Whichever of `Batched` and `Periodic` comes first.
    BatchedOrPeriodic { records: u32, interval: Duration },
}

/// Which records readers (cursors, `read`) may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Records are visible once fully written to the file (the page cache), possibly
    /// before they are durable. A crash may take back a visible record that was never
    /// synced.
    Written,
    /// Records are visible only once durable.
    Durable,
}

/// Options for [`crate::Log::open`]. The log copies them; later changes have no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Size of each segment file in bytes (pre-allocated).
    pub segment_size: u64,
    /// Largest payload accepted by `append`, in bytes. `None` (the default) derives it
    /// from the segment size: see [`Options::record_limit`]. `Some(n)` sets it to `n`,
    /// which must fit in one segment ([`Options::validate`] checks it).
    pub max_record_size: Option<u64>,
    /// Durability policy.
    pub flush: FlushPolicy,
    /// Create the next segment in the background once the active one is this full
    /// (percent, 1..=100). 0 disables background pre-allocation: the next segment is
    /// created when the active one rolls.
    pub preallocate_at_percent: u8,
    /// Reader visibility.
    pub visibility: Visibility,
    /// Bytes of the active segment that a background task keeps written with zeros (and
    /// synced) ahead of the writer, so that syncs overwrite written blocks instead of
    /// converting pre-allocated ones: cheaper syncs at the price of writing each segment
    /// twice. 0 turns it off. Rounded up to whole 4 KiB pages.
    pub zero_ahead: u64,
    /// Which sealed segments the log removes on its own. Default: keep everything.
    pub retention: Retention,
    /// When sealed segments are compressed (the warm tier).
    pub tiering: Tiering,
    /// The bound on asynchronous appends in flight ([`crate::Log::append_async`],
    /// [`crate::Log::append_notify`]) and what an append past it does.
    pub async_limits: AsyncLimits,
    /// Whether the log records its latency and size distributions (HDR histograms; see
    /// [`crate::MetricsSnapshot`]). On by default; off, no clock is read for them and
    /// their fields stay 0.
    pub histograms: bool,
}

/// Bounds on what a log keeps. Whole sealed segments go, oldest first, never the active
/// one, so a log may hold up to one segment more than a bound says. Removal runs in the
/// background after each roll (and on a timer for `max_age`), and on demand with
/// [`crate::Log::enforce_retention`]. `None` everywhere (the default) keeps all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many bytes of segment files (their full size on disk, the active
    /// segment included). At least one segment's size.
    pub max_bytes: Option<u64>,
    /// Keep at most this many segments, the active one included (at least 1).
    pub max_segments: Option<u64>,
    /// Remove a sealed segment once it was sealed longer ago than this: all its records
    /// are older. At least 1 ms.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Whether any bound is set.
    pub fn is_bounded(&self) -> bool {
        self.max_bytes.is_some() || self.max_segments.is_some() || self.max_age.is_some()
    }

    fn validate(&self, segment_size: u64) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidArgument(format!("retention: {what}")));
        match *self {
            Retention {
                max_bytes: Some(n), ..
            } if n < segment_size => bad(format!(
                "max_bytes {n} is below one segment ({segment_size} bytes)"
            )),
            Retention {
                max_segments: Some(0),
                ..
            } => bad("max_segments must be at least 1".into()),
            Retention {
                max_age: Some(age), ..
            } if age < Duration::from_millis(1) => bad("max_age must be at least 1 ms".into()),
            _ => Ok(()),
        }
    }
}

/// When and how sealed segments move to the warm tier: compressed, in the zstd seekable
/// format, frames cut on record boundaries (docs/FORMAT.md, "Warm segments"). A segment is
/// compressed in the background once either threshold says so; with neither set (the
/// default) only [`crate::Log::compress_now`] compresses. Never the active segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiering {
    /// Compress a sealed segment once at least this many segments are newer than it (the
    /// active one included). At least 1.
    pub compress_after_segments: Option<u64>,
    /// Compress a sealed segment once it was sealed longer ago than this. At least 1 ms.
    pub compress_after_age: Option<Duration>,
    /// zstd level (zstd's range: negative levels are its fast modes, up to 22).
    pub compression_level: i32,
    /// Target decompressed size of a frame, 4 KiB to 64 MiB: a read of one record from a
    /// compressed segment decompresses (and from the archive, downloads) one frame. A
    /// record larger than this gets a frame of its own.
    pub frame_size: u64,
    /// Archive a sealed segment (compressing it first if it is not) once at least this
    /// many segments are newer than it (the active one included), when the log's manager
    /// has an archive. At least 1; `None` (the default): never in the background.
    pub archive_after_segments: Option<u64>,
}

pub const DEFAULT_FRAME_SIZE: u64 = 256 * 1024;

impl Default for Tiering {
    fn default() -> Self {
        Tiering {
            compress_after_segments: None,
            compress_after_age: None,
            compression_level: 3,
            frame_size: DEFAULT_FRAME_SIZE,
            archive_after_segments: None,
        }
    }
}

impl Tiering {
    /// Whether segments are compressed or archived in the background.
    pub fn compresses(&self) -> bool {
        self.compress_after_segments.is_some()
            || self.compress_after_age.is_some()
            || self.archive_after_segments.is_some()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidArgument(format!("tiering: {what}")));
        let levels = zstd::compression_level_range();
        if !levels.contains(&self.compression_level) {
            return bad(format!(
                "compression_level {} is outside zstd's {}..={}",
                self.compression_level,
                levels.start(),
                levels.end()
            ));
        }
        if !(4096..=64 << 20).contains(&self.frame_size) {
            return bad(format!(
                "frame_size {} is outside 4096..=67108864",
                self.frame_size
            ));
        }
        if self.compress_after_segments == Some(0) || self.archive_after_segments == Some(0) {
            return bad(
                "compress_after_segments and archive_after_segments must be at least 1".into(),
            );
        }
        if self
            .compress_after_age
            .is_some_and(|a| a < Duration::from_millis(1))
        {
            return bad("compress_after_age must be at least 1 ms".into());
        }
        Ok(())
    }
}

pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Offsets inside a segment are kept as `u32`.
pub const MAX_SEGMENT_SIZE: u64 = u32::MAX as u64 + 1 - 4096;
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// The maximum record size when it is not set and segments are large enough (see
/// [`Options::record_limit`]).
pub const DEFAULT_MAX_RECORD_SIZE: u64 = 16 << 20;
/// What a segment holding a single record spends besides the payload: the segment header,
/// the footer and the record's header.
const SEGMENT_OVERHEAD: u64 = HEADER_LEN + FOOTER_LEN + RECORD_HEADER_LEN;
pub const DEFAULT_PREALLOCATE_AT_PERCENT: u8 = 50;
pub const DEFAULT_ZERO_AHEAD: u64 = 4 << 20;
/// Larger windows only cost more zeroing at once, and more zeros for recovery to read.
pub const MAX_ZERO_AHEAD: u64 = 1 << 30;

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_record_size: None,
            flush: FlushPolicy::Sync,
            preallocate_at_percent: DEFAULT_PREALLOCATE_AT_PERCENT,
            visibility: Visibility::Written,
            zero_ahead: DEFAULT_ZERO_AHEAD,
            retention: Retention::default(),
            tiering: Tiering::default(),
            async_limits: AsyncLimits::default(),
            histograms: true,
        }
    }
}

/// The largest payload a segment of `segment_size` bytes can hold: the segment size less
/// the segment header, the footer and the record header (160 bytes), rounded down to the
/// 8-byte alignment of records (a no-op when the segment size is a multiple of 8).
pub fn largest_record_in(segment_size: u64) -> u64 {
    segment_size.saturating_sub(SEGMENT_OVERHEAD) / RECORD_ALIGN * RECORD_ALIGN
}

impl Options {
    /// The largest payload `append` accepts: `max_record_size` when it is set, otherwise
    /// `min(DEFAULT_MAX_RECORD_SIZE, largest_record_in(segment_size))`, so that small
    /// segments work without lowering the record size by hand.
    pub fn record_limit(&self) -> u64 {
        self.max_record_size
            .unwrap_or_else(|| DEFAULT_MAX_RECORD_SIZE.min(largest_record_in(self.segment_size)))
    }

    /// Checks every field and their combination; `Log::open` calls it.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err(Error::InvalidArgument(format!(
                "segment_size {} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}",
                self.segment_size
            )));
        }
        let room = largest_record_in(self.segment_size);
        if let Some(max) = self.max_record_size.filter(|&max| max > room) {
            return Err(Error::InvalidArgument(format!(
                "max_record_size {max} does not fit in a segment of {} bytes: a record may \
                 be at most segment_size - {SEGMENT_OVERHEAD} (segment header, footer and \
                 record header), rounded down to a multiple of {RECORD_ALIGN}, here {room}; \
                 lower it, raise the segment size, or leave it unset to derive it",
                self.segment_size
            )));
        }
        if self.preallocate_at_percent > 100 {
            return Err(Error::InvalidArgument(format!(
                "preallocate_at_percent {} is above 100",
                self.preallocate_at_percent
            )));
        }
        if self.zero_ahead > MAX_ZERO_AHEAD {
            return Err(Error::InvalidArgument(format!(
                "zero_ahead {} is above {MAX_ZERO_AHEAD}",
                self.zero_ahead
            )));
        }
        self.retention.validate(self.segment_size)?;
        self.tiering.validate()?;
        self.async_limits.validate()?;
        self.flush.validate()
    }
}

impl FlushPolicy {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(format!("flush policy: {what}")));
        match *self {
            FlushPolicy::Sync | FlushPolicy::Async => Ok(()),
            FlushPolicy::Batched { records: 0 } => bad("batch size must be at least 1"),
            FlushPolicy::Batched { .. } => Ok(()),
            FlushPolicy::Periodic { interval } if interval.is_zero() => {
                bad("interval must be at least 1 ms")
            }
            FlushPolicy::Periodic { .. } => Ok(()),
            FlushPolicy::BatchedOrPeriodic { records, interval } => {
                if records == 0 {
                    bad("batch size must be at least 1")
                } else if interval.is_zero() {
                    bad("interval must be at least 1 ms")
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Records that may wait before a background sync is due (`None`: no count trigger).
    pub(crate) fn batch_records(&self) -> Option<u64> {
        match *self {
            FlushPolicy::Batched { records } | FlushPolicy::BatchedOrPeriodic { records, .. } => {
                Some(u64::from(records))
            }
            FlushPolicy::Async => Some(1),
            _ => None,
        }
    }

    /// Timer period of background syncs (`None`: no timer).
    pub(crate) fn interval(&self) -> Option<Duration> {
        match *self {
            FlushPolicy::Periodic { interval }
            | FlushPolicy::BatchedOrPeriodic { interval, .. } => Some(interval),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::default().validate().unwrap();
    }

    #[test]
    fn rejects_out_of_range_values() {
        let o = Options {
            segment_size: 100,
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        let o = Options {
            segment_size: 1 << 20,
            max_record_size: Some(1 << 20),
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        let o = Options {
            preallocate_at_percent: 101,
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        let o = Options {
            zero_ahead: MAX_ZERO_AHEAD + 1,
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        let o = Options {
            flush: FlushPolicy::Batched { records: 0 },
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
        let o = Options {
            flush: FlushPolicy::Periodic {
                interval: Duration::ZERO,
            },
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn the_record_limit_is_derived_from_the_segment_size_unless_set() {
        let with = |segment_size, max_record_size| Options {
            segment_size,
            max_record_size,
            ..Options::default()
        };
        assert_eq!(Options::default().max_record_size, None);
        assert_eq!(Options::default().record_limit(), DEFAULT_MAX_RECORD_SIZE);
        // Segments up to 16 MiB + 160: the segment less its overhead.
        assert_eq!(with(1 << 20, None).record_limit(), (1 << 20) - 160);
        assert_eq!(with(MIN_SEGMENT_SIZE, None).record_limit(), 4096 - 160);
        assert_eq!(with((16 << 20) + 160, None).record_limit(), 16 << 20);
        assert_eq!(with((16 << 20) + 168, None).record_limit(), 16 << 20);
        assert_eq!(with(MAX_SEGMENT_SIZE, None).record_limit(), 16 << 20);
        // Records are 8-byte aligned: an odd segment size rounds down.
        assert_eq!(with(4100, None).record_limit(), 4096 - 160);
        assert_eq!(largest_record_in(4103), 4096 - 160);
        assert_eq!(largest_record_in(4104), 4104 - 160);
        assert_eq!(largest_record_in(0), 0);
        for segment_size in [MIN_SEGMENT_SIZE, 4100, 1 << 20, DEFAULT_SEGMENT_SIZE] {
            with(segment_size, None).validate().unwrap();
        }
        // Set: used as is, and checked against the same rule.
        assert_eq!(with(1 << 20, Some(1000)).record_limit(), 1000);
        assert_eq!(with(1 << 20, Some(32 << 20)).record_limit(), 32 << 20);
        with(1 << 20, Some((1 << 20) - 160)).validate().unwrap();
        with(4100, Some(4096 - 160)).validate().unwrap();
        for o in [
            with(1 << 20, Some((1 << 20) - 159)),
            with(4100, Some(4100 - 160)),
            with(DEFAULT_SEGMENT_SIZE, Some(u64::MAX)),
        ] {
            match o.validate() {
                Err(Error::InvalidArgument(m)) => {
                    assert!(m.contains("at most segment_size - 160"), "{m}");
                    let room = largest_record_in(o.segment_size);
                    assert!(m.contains(&format!("here {room}")), "{m}");
                }
                other => panic!("{o:?}: {other:?}"),
            }
        }
    }
}
