//! Opening a log: the directory locked, the catalogue read, recovery (interrupted moves
//! settled, the torn tail cut), the active segment picked or created, the catalogue
//! reconciled before the first append, the segment set built from what recovery found
//! (each segment in its tier), the background tasks started.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use crate::catalog::Catalog;
use crate::config::Options;
use crate::durability::FlusherSignal;
use crate::error::{Error, Result};
use crate::fsio;
use crate::runtime::{self, Runtime};
use crate::segment::file::{create_segment_file, prepare_segment};
use crate::segment::format::{RecordChain, HEADER_LEN};
use crate::segment::layout::Layout;
use crate::segment::recovery::{self, RecoveredSegment, RecoveryReport, SegmentKind};
use crate::segment::set::{KnownSegment, SegmentSet, Warm};
use crate::sync::{InFlight, TaskSignal};
use crate::tier::cold::Cold;
use crate::tier::shared::Tiers;

use super::entries::{self, CatalogLink};
use super::view::View;
use super::writer::Writer;
use super::{archiving, create_log_dir, zero, Background, Inner, Log};

impl Log {
    /// Opens the log in `dir` with its background work on `runtime`, recorded in `catalog`
    /// under the given name (`None`: a catalogue of its own in `dir`, the log named "").
    pub(crate) fn open_on(
        dir: &Path,
        options: Options,
        runtime: Arc<Runtime>,
        tiers: Arc<Tiers>,
        catalog: Option<(Arc<Catalog>, String)>,
    ) -> Result<Log> {
        options.validate()?;
        runtime::ensure_outside()?;
        let layout = Layout::new(dir);
        create_log_dir(dir)?;
        let lock_file = fsio::lock_exclusive(&layout.lock_file(), dir)?;
        let mut report = RecoveryReport::default();
        // Its name under a manager; its directory when opened alone.
        let label = match &catalog {
            Some((_, name)) => name.clone(),
            None => dir.display().to_string(),
        };
        let (link, known) = match catalog {
            Some((shared, name)) => {
                CatalogLink::open(shared, name, &options, &layout, &mut report)?
            }
            None => entries::open_own_catalog(&layout, &options, &mut report)?,
        };
        let mut recovered = recovery::recover(&layout, &known.entries)?;
        recovered.report.deletions_finished = report.deletions_finished;
        recovered.report.catalog_damage = report.catalog_damage;
        let next_id = recovered.next_id;
        let mut created = 0;

        // Keep appending to the unsealed tail unless it is empty and of another size than
        // configured now; otherwise start a fresh segment.
        let tail = recovered.segments.last().and_then(|s| s.file.clone());
        let reuse = match (recovered.active_write_offset, tail) {
            (Some(off), Some(seg))
                if off > HEADER_LEN || seg.capacity() == options.segment_size =>
            {
                Some((seg, off))
            }
            (Some(_), Some(seg)) => {
                fsio::remove_file(seg.path())?;
                fsio::fsync_dir(dir)?;
                recovered.segments.pop();
                recovered.active_write_offset = None;
                None
            }
            _ => None,
        };
        let (active, write_offset) = match reuse {
            Some(tail) => tail,
            None => {
                let tmp = layout.next_segment_tmp();
                let file = create_segment_file(&tmp, options.segment_size, 0)?;
                let path = layout.segment(next_id);
                let seg = prepare_segment(file, &tmp, path, next_id, options.segment_size)?;
                fsio::fsync_dir(dir)?;
                created = 1;
                let seg = Arc::new(seg);
                recovered.segments.push(RecoveredSegment {
                    base_id: next_id,
                    path: seg.path().to_path_buf(),
                    footer: None,
                    file: Some(seg.clone()),
                    kind: SegmentKind::Plain,
                });
                recovered.active_write_offset = Some(HEADER_LEN);
                recovered.tail_payload = 0;
                (seg, HEADER_LEN)
            }
        };
        // The files are settled: record them (before the first append).
        let extents = entries::extents(&recovered, &known)?;
        link.reconcile(&known, &extents, &mut recovered.report)?;
        let tail_extent = extents.last().expect("the active segment is there");

        let durable = next_id - 1;
        let uid = link.uid();
        let mut segments = Vec::with_capacity(recovered.segments.len());
        for (s, x) in recovered.segments.into_iter().zip(&extents) {
            let first_pos = x.first_byte_pos;
            let footer = || {
                s.footer
                    .expect("segments known from the catalogue are sealed")
            };
            segments.push(match (s.file, s.kind) {
                (Some(file), _) => KnownSegment::Open { file, first_pos },
                (None, SegmentKind::Compressed) => KnownSegment::Compressed {
                    warm: Arc::new(Warm::new(
                        s.path.clone(),
                        footer(),
                        link.tier_loader(s.base_id),
                    )),
                    first_pos,
                },
                (None, SegmentKind::Archived) => {
                    let archive = tiers.archive().ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "segment {} of the log is archived: open the log through a \
                             manager with its archive (ManagerOptions::archive)",
                            s.base_id
                        ))
                    })?;
                    KnownSegment::Archived {
                        cold: Arc::new(Cold::new(
                            archive.clone(),
                            archive.key(uid, s.base_id),
                            footer(),
                            link.tier_loader(s.base_id),
                        )),
                        first_pos,
                    }
                }
                (None, SegmentKind::Plain) => KnownSegment::Sealed {
                    path: s.path.clone(),
                    base_id: s.base_id,
                    capacity: x.capacity,
                    footer: footer(),
                    first_pos,
                },
            });
        }
        let view = Arc::new(View::new(
            options.visibility,
            SegmentSet::new(segments, tiers.clone()),
            durable,
        ));
        crate::metrics::Metrics::add(&view.metrics.segments_created, created);
        view.metrics.hist.set_on(options.histograms);
        view.commit.pending.set_timed(options.histograms);
        let zero = zero::ZeroWindow::new(&options, zero::page_up(write_offset));
        let mut writer = Writer::new(active, write_offset, next_id, zero);
        writer.active_first_pos = tail_extent.first_byte_pos;
        writer.active_payload = tail_extent.payload_bytes;
        let handle = runtime.handle().clone();
        let inner = Arc::new_cyclic(|weak_self| Inner {
            layout,
            catalog: link,
            writer: Mutex::new(writer),
            io: Mutex::new(Vec::new()),
            in_flight: InFlight::default(),
            zero_fence: AtomicU64::new(u64::MAX),
            chain: Mutex::new((write_offset == HEADER_LEN).then(RecordChain::default)),
            sync_lock: Mutex::new(()),
            round_demand: AtomicU64::new(0),
            last_sync_ns: AtomicU64::new(0),
            durable_bytes: AtomicU64::new(0),
            opened_durable: durable,
            label,
            sync_driver: AtomicBool::new(false),
            view,
            recovery: recovered.report,
            signal: Arc::new(FlusherSignal::default()),
            zeroer: Arc::new(TaskSignal::default()),
            retention: Arc::new(TaskSignal::default()),
            retention_lock: Mutex::new(()),
            tiers,
            backlog: archiving::Backlog::default(),
            runtime: handle,
            background: Mutex::new(Background {
                runtime: Some(runtime),
                flusher: None,
                zeroer: None,
                retention: None,
                lock_file: Some(lock_file),
            }),
            weak_self: weak_self.clone(),
            options,
        });
        inner.start_background();
        Ok(Log { inner })
    }
}
