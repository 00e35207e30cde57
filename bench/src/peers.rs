//! The peer engines, each driven at the durability closest to aof's policy of the cell.
//!
//! | aof policy    | raft-engine 0.4                     | okaywal 0.3                            | walrus-rust 0.2                 |
//! |---------------|-------------------------------------|----------------------------------------|---------------------------------|
//! | Sync          | `write(batch, sync = true)` per record (its write barrier groups concurrent writers) | one entry per record: `begin_entry`, `write_chunk`, `commit` (commit syncs; concurrent commits share syncs) | `FsyncSchedule::SyncEach` (O_SYNC file + fsync per write) |
//! | Batched(N)    | `sync = true` on every N-th write (counted over all threads), `false` otherwise | one entry of N/threads chunks per commit, per thread | n/a: no count-based fsync |
//! | Async         | `sync = false` (it has no background sync: nothing is durable until a later sync write) | n/a: `commit` always waits for fsync | `FsyncSchedule::Milliseconds(1)` (background fsync every ms) |
//!
//! Every peer repetition ends with the data durable where the peer can say so: raft-engine
//! gets a final write with `sync = true` (its `Engine::sync()` returns at once on an empty
//! batch in 0.4.2, so it would not sync), okaywal's last commit syncs, walrus has no flush
//! call (its Milliseconds(1) thread syncs within a millisecond).
//!
//! Settings: raft-engine with 64 MiB files (like aof's segments) and batch compression
//! off (aof does not compress; the default would LZ4 batches above 8 KiB); okaywal with
//! 64 MiB pre-allocated files and its checkpoint threshold raised from 768 KiB to 64 MiB,
//! and a manager that checkpoints nothing; walrus with its defaults (fd backend).
//! raft-engine entries are protobuf messages: `BytesValue { value: payload }`, the
//! payload's first 8 bytes carrying the entry index (raft entries carry theirs too).

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use okaywal::{EntryWriter, LogManager, LogPosition, WriteAheadLog};
use protobuf::well_known_types::BytesValue;
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};
use serde_json::{json, Value};

use crate::drive::{drive, Plan, ThreadOp};
use crate::stats::{calibrated, Budget, Lat, Policy, Rep};
use crate::util::{fill, fresh_dir, remove_dir, syncfs, Rng};

// --- raft-engine ----------------------------------------------------------------------

pub struct RaftEntry;

impl MessageExt for RaftEntry {
    type Entry = BytesValue;

    fn index(e: &BytesValue) -> u64 {
        u64::from_le_bytes(e.value[..8].try_into().expect("8 index bytes"))
    }
}

fn raft_open(path: &Path) -> Engine {
    let cfg = Config {
        dir: path.to_str().expect("utf-8 path").to_string(),
        target_file_size: ReadableSize::mb(64),
        batch_compression_threshold: ReadableSize(0),
        ..Config::default()
    };
    Engine::open(cfg).expect("raft-engine open")
}

fn raft_entry(seed: u64, size: usize) -> BytesValue {
    let mut e = BytesValue::new();
    e.value = fill(seed, size.max(8));
    e
}

/// A write with `sync = true` that carries a key-value put, so it is not empty.
fn raft_final_sync(engine: &Engine) {
    let mut b = LogBatch::default();
    b.put(u64::MAX, b"bench-final-sync".to_vec(), vec![1])
        .expect("put");
    engine.write(&mut b, true).expect("raft-engine sync write");
}

pub fn raft_append_rep(dir: &Path, policy: Policy, size: usize, threads: usize, plan: Plan) -> Rep {
    let path = dir.join("raft-engine");
    fresh_dir(&path);
    let engine = raft_open(&path);
    syncfs(dir);
    let count = AtomicU64::new(0);
    let out = drive(
        threads,
        plan,
        |t| {
            let mut e = raft_entry(t as u64 + 1, size);
            let mut batch = LogBatch::default();
            let region = t as u64 + 1;
            let (engine, count) = (&engine, &count);
            move |i: u64| {
                e.value[..8].copy_from_slice(&(i + 1).to_le_bytes());
                batch
                    .add_entries::<RaftEntry>(region, std::slice::from_ref(&e))
                    .expect("add_entries");
                let sync = match policy {
                    Policy::Sync => true,
                    Policy::Batched(n) => (count.fetch_add(1, Relaxed) + 1) % u64::from(n) == 0,
                    Policy::Async | Policy::Periodic(_) => false,
                };
                engine.write(&mut batch, sync).expect("raft-engine write");
            }
        },
        || {
            if policy != Policy::Sync {
                raft_final_sync(&engine)
            }
        },
    );
    drop(engine);
    remove_dir(&path);
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: None,
    }
}

/// raft-engine holding `records` entries of `size` bytes in region 1 (64 per write).
pub fn raft_filled(path: &Path, size: usize, records: u64) -> Engine {
    fresh_dir(path);
    let engine = raft_open(path);
    let mut e = raft_entry(11, size);
    let mut idx = 1u64;
    while idx <= records {
        let n = (records - idx + 1).min(64);
        let ents: Vec<BytesValue> = (0..n)
            .map(|k| {
                e.value[..8].copy_from_slice(&(idx + k).to_le_bytes());
                e.clone()
            })
            .collect();
        let mut b = LogBatch::default();
        b.add_entries::<RaftEntry>(1, &ents).expect("add_entries");
        engine.write(&mut b, false).expect("write");
        idx += n;
    }
    raft_final_sync(&engine);
    engine
}

/// Reads region 1 in order with `fetch_entries_to`, 1024 entries per call (each entry
/// decoded into an owned message: its API has no borrowed read).
pub fn raft_scan_pass(engine: &Engine, records: u64) -> Rep {
    let t0 = Instant::now();
    let (mut n, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    let mut v = Vec::with_capacity(1024);
    let mut begin = 1;
    while begin <= records {
        let end = (begin + 1024).min(records + 1);
        v.clear();
        engine
            .fetch_entries_to::<RaftEntry>(1, begin, end, None, &mut v)
            .expect("fetch");
        for e in &v {
            n += 1;
            bytes += e.value.len() as u64;
            sum += u64::from(e.value.last().copied().unwrap_or(0));
        }
        begin = end;
    }
    black_box(sum);
    Rep {
        records: n,
        bytes,
        secs: t0.elapsed().as_secs_f64(),
        lat: None,
        syncs: None,
    }
}

pub fn raft_read_rep(
    engine: &Engine,
    records: u64,
    size: usize,
    threads: usize,
    plan: Plan,
) -> Rep {
    let out = drive(
        threads,
        plan,
        |t| {
            let mut rng = Rng::new(t as u64 + 99);
            move |_i| {
                let idx = 1 + rng.below(records);
                let e = engine
                    .get_entry::<RaftEntry>(1, idx)
                    .expect("get_entry")
                    .expect("entry exists");
                black_box(e.value.last().copied());
            }
        },
        || {},
    );
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: None,
    }
}

// --- okaywal --------------------------------------------------------------------------

/// Recovers nothing, checkpoints nothing: the benchmark only appends and reads.
#[derive(Debug)]
struct NoCheckpoint;

impl LogManager for NoCheckpoint {
    fn should_recover_segment(
        &mut self,
        _segment: &okaywal::RecoveredSegment,
    ) -> std::io::Result<okaywal::Recovery> {
        Ok(okaywal::Recovery::Abandon)
    }

    fn recover(&mut self, _entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last: okaywal::EntryId,
        _entries: &mut okaywal::SegmentReader,
        _wal: &WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens okaywal and writes back the 64 MiB of zeros it pre-allocates its first file
/// with (buffered writes): otherwise the first commit of a repetition pays for them. In a
/// long run that cost comes once per 64 MiB file, and the repetitions that cross a file
/// boundary pay it in the timed region, as they should.
fn okaywal_open(path: &Path, checkpoint_after: u64) -> WriteAheadLog {
    let wal = okaywal::Configuration::default_for(path)
        .preallocate_bytes(64 << 20)
        .checkpoint_after_bytes(checkpoint_after)
        .open(NoCheckpoint)
        .expect("okaywal open");
    syncfs(path);
    wal
}

/// One thread's okaywal writer: `batch` chunks per entry, then commit.
struct OkayOp<'a> {
    wal: &'a WriteAheadLog,
    data: Vec<u8>,
    batch: u64,
    entry: Option<EntryWriter<'a>>,
    in_entry: u64,
}

impl ThreadOp for OkayOp<'_> {
    fn op(&mut self, _i: u64) {
        let wal = self.wal;
        let entry = self
            .entry
            .get_or_insert_with(|| wal.begin_entry().expect("begin_entry"));
        entry.write_chunk(&self.data).expect("write_chunk");
        self.in_entry += 1;
        if self.in_entry >= self.batch {
            self.entry
                .take()
                .expect("open entry")
                .commit()
                .expect("commit");
            self.in_entry = 0;
        }
    }

    fn done(&mut self) {
        if let Some(e) = self.entry.take() {
            e.commit().expect("commit");
        }
    }
}

pub fn okaywal_append_rep(
    dir: &Path,
    policy: Policy,
    size: usize,
    threads: usize,
    plan: Plan,
) -> Rep {
    let path = dir.join("okaywal");
    fresh_dir(&path);
    let wal = okaywal_open(&path, 64 << 20);
    let batch = match policy {
        Policy::Sync => 1,
        Policy::Batched(n) => (u64::from(n) / threads as u64).max(1),
        Policy::Async | Policy::Periodic(_) => unreachable!("okaywal commits synchronously"),
    };
    let out = drive(
        threads,
        plan,
        |t| OkayOp {
            wal: &wal,
            data: fill(t as u64 + 1, size),
            batch,
            entry: None,
            in_entry: 0,
        },
        || {},
    );
    wal.shutdown().expect("okaywal shutdown");
    remove_dir(&path);
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: None,
    }
}

/// okaywal holding `records` chunks of `size` bytes (64 per entry), never checkpointed,
/// and the position of every chunk.
pub fn okaywal_filled(path: &Path, size: usize, records: u64) -> (WriteAheadLog, Vec<LogPosition>) {
    fresh_dir(path);
    let wal = okaywal_open(path, u64::MAX);
    let data = fill(11, size);
    let mut pos = Vec::with_capacity(records as usize);
    while (pos.len() as u64) < records {
        let mut e = wal.begin_entry().expect("begin_entry");
        for _ in 0..64.min(records - pos.len() as u64) {
            pos.push(e.write_chunk(&data).expect("write_chunk").position);
        }
        e.commit().expect("commit");
    }
    (wal, pos)
}

/// Random reads with `read_at` (it opens the file for every read: its API).
pub fn okaywal_read_rep(
    wal: &WriteAheadLog,
    pos: &[LogPosition],
    size: usize,
    threads: usize,
    plan: Plan,
) -> Rep {
    let out = drive(
        threads,
        plan,
        |t| {
            let mut rng = Rng::new(t as u64 + 99);
            let mut buf = Vec::with_capacity(size);
            move |_i| {
                let p = pos[rng.below(pos.len() as u64) as usize];
                buf.clear();
                wal.read_at(p)
                    .expect("read_at")
                    .read_to_end(&mut buf)
                    .expect("read chunk");
                black_box(buf.last().copied());
            }
        },
        || {},
    );
    Rep {
        records: out.ops,
        bytes: out.ops * size as u64,
        secs: out.secs,
        lat: Lat::of(&out.hist),
        syncs: None,
    }
}

// --- walrus-rust ------------------------------------------------------------------------

/// walrus's fsync schedule is process-wide (set once, on the first instance), and each
/// instance starts a background thread that never stops: every walrus cell runs in its
/// own child process (this binary with `__walrus`), which prints its repetitions.
pub fn walrus_mode(policy: Policy) -> Option<String> {
    match policy {
        Policy::Sync => Some("sync-each".into()),
        Policy::Async => Some("ms1".into()),
        Policy::Periodic(ms) => Some(format!("ms{ms}")),
        Policy::Batched(_) => None,
    }
}

fn walrus_schedule(mode: &str) -> walrus_rust::FsyncSchedule {
    match mode {
        "sync-each" => walrus_rust::FsyncSchedule::SyncEach,
        "nofsync" => walrus_rust::FsyncSchedule::NoFsync,
        _ => match mode.strip_prefix("ms").and_then(|n| n.parse().ok()) {
            Some(ms) => walrus_rust::FsyncSchedule::Milliseconds(ms),
            None => panic!("unknown walrus mode {mode}"),
        },
    }
}

/// Child process body. `spec`: {"kind": "append"|"scan", "mode", "size", "threads",
/// "budget", "records" (scan)}. The data directory comes from `WALRUS_DATA_DIR`.
pub fn walrus_child(spec: &Value) -> ! {
    let kind = spec["kind"].as_str().unwrap_or("append");
    let mode = spec["mode"].as_str().unwrap_or("sync-each");
    let size = spec["size"].as_u64().unwrap_or(64) as usize;
    let threads = spec["threads"].as_u64().unwrap_or(1) as usize;
    let budget = Budget::from_json(&spec["budget"]);
    let wal = walrus_rust::Walrus::with_consistency_and_schedule(
        walrus_rust::ReadConsistency::AtLeastOnce {
            persist_every: u32::MAX,
        },
        walrus_schedule(mode),
    )
    .expect("walrus open");
    let mut topic_no = 0u32;
    let mut new_topic = || {
        topic_no += 1;
        format!("t{topic_no}")
    };
    let append = |topic: &str, data: &[u8]| loop {
        match wal.append_for_topic(topic, data) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => panic!("walrus append: {e}"),
        }
    };
    let result = match kind {
        "append" => {
            let data_dir = std::env::var_os("WALRUS_DATA_DIR").unwrap_or_default();
            let (cal, reps) = calibrated(&budget, threads, |plan| {
                let topic = new_topic();
                syncfs(Path::new(&data_dir));
                let out = drive(
                    threads,
                    plan,
                    |t| {
                        let data = fill(t as u64 + 1, size);
                        let (topic, append) = (&topic, &append);
                        move |_i| append(topic, &data)
                    },
                    || {},
                );
                Rep {
                    records: out.ops,
                    bytes: out.ops * size as u64,
                    secs: out.secs,
                    lat: Lat::of(&out.hist),
                    syncs: None,
                }
            });
            json!({
                "per_thread": cal.plan.per_thread,
                "sample_every": cal.plan.sample_every,
                "reps": reps.iter().copied().map(Rep::to_json).collect::<Vec<_>>(),
            })
        }
        "scan" => {
            let records = spec["records"].as_u64().unwrap_or(10_000);
            let data = fill(11, size);
            let mut reps = Vec::new();
            for r in 0..=budget.reps {
                let topic = new_topic();
                for _ in 0..records {
                    append(&topic, &data);
                }
                let t0 = Instant::now();
                let (mut n, mut bytes) = (0u64, 0u64);
                while let Some(e) = wal.read_next(&topic, true).expect("read_next") {
                    n += 1;
                    bytes += e.data.len() as u64;
                }
                let secs = t0.elapsed().as_secs_f64();
                assert_eq!(n, records, "walrus scan returned every record");
                if r > 0 {
                    reps.push(Rep {
                        records: n,
                        bytes,
                        secs,
                        lat: None,
                        syncs: None,
                    });
                }
            }
            json!({ "reps": reps.iter().copied().map(Rep::to_json).collect::<Vec<_>>() })
        }
        other => panic!("unknown walrus kind {other}"),
    };
    println!("RESULT {result}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Its background threads never stop; leave without waiting for them.
    // SAFETY: ends the process; stdout was flushed above.
    unsafe { libc::_exit(0) }
}

/// Runs a walrus cell in a child process with its data under `dir`.
pub fn walrus_run(dir: &Path, spec: Value) -> Result<(Vec<Rep>, Value), String> {
    let data = dir.join("walrus");
    fresh_dir(&data);
    let r = crate::readers::run_child(
        &["__walrus".into(), spec.to_string()],
        &[
            ("WALRUS_DATA_DIR", data.display().to_string()),
            ("WALRUS_QUIET", "1".into()),
        ],
    );
    remove_dir(&data);
    let v = r?.into_iter().next().ok_or("no result from walrus child")?;
    let reps = v["reps"]
        .as_array()
        .map(|a| a.iter().filter_map(Rep::from_json).collect())
        .unwrap_or_default();
    Ok((reps, v))
}

// --- open time of the peers (child processes) -------------------------------------------

/// okaywal's recovery: keeps every segment, reads and checks every chunk, counts them.
///
/// It reads the chunks rather than skipping them: in okaywal 0.3.1
/// `EntryChunk::skip_remaining_bytes` seeks past the chunk's CRC and then its `Drop`
/// seeks past 4 more bytes (the CRC was never read, so it still looks unread), which
/// leaves the reader off by 4 bytes and ends the recovery after the first chunk.
#[derive(Debug)]
struct Replay(std::sync::Arc<AtomicU64>);

impl LogManager for Replay {
    fn recover(&mut self, entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        while let okaywal::ReadChunkResult::Chunk(mut c) = entry.read_chunk()? {
            black_box(c.read_all()?);
            if !c.check_crc()? {
                return Err(std::io::Error::other("okaywal chunk crc mismatch"));
            }
            self.0.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last: okaywal::EntryId,
        _entries: &mut okaywal::SegmentReader,
        _wal: &WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

fn walrus_default() -> walrus_rust::Walrus {
    walrus_rust::Walrus::with_consistency_and_schedule(
        walrus_rust::ReadConsistency::AtLeastOnce {
            persist_every: u32::MAX,
        },
        walrus_rust::FsyncSchedule::Milliseconds(1),
    )
    .expect("walrus open")
}

fn crash() -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: ends the process at once, without running destructors: a crash.
    unsafe { libc::_exit(0) }
}

/// Child: fills a peer with `records` records of `size` bytes (made durable), then exits
/// after a clean close (`clean`) or without one (`crash`).
pub fn fill_child(engine: &str, dir: &Path, size: usize, records: u64, mode: &str) -> ! {
    match engine {
        "raft-engine" => {
            let e = raft_filled(dir, size, records);
            if mode == "clean" {
                drop(e);
                std::process::exit(0);
            }
        }
        "okaywal" => {
            let (wal, _) = okaywal_filled(dir, size, records);
            if mode == "clean" {
                wal.shutdown().expect("okaywal shutdown");
                std::process::exit(0);
            }
        }
        "walrus" => {
            fresh_dir(dir);
            let wal = walrus_default();
            let data = fill(11, size);
            for _ in 0..records {
                wal.append_for_topic("t", &data).expect("append");
            }
            // Its Milliseconds(1) thread syncs within a millisecond; it has no close.
            std::thread::sleep(std::time::Duration::from_millis(20));
            syncfs(dir);
        }
        other => panic!("unknown engine {other}"),
    }
    crash()
}

/// Child: times a peer's open (which replays or scans its files), prints it, then closes
/// cleanly (`clean`) or exits without closing (`crash`).
pub fn open_child(engine: &str, dir: &Path, mode: &str) -> ! {
    let t0 = Instant::now();
    let (ns, records): (u64, Value) = match engine {
        "raft-engine" => {
            let e = raft_open(dir);
            let ns = t0.elapsed().as_nanos() as u64;
            let last = e.last_index(1);
            if mode == "clean" {
                print_open(ns, json!(last));
                drop(e);
                std::process::exit(0);
            }
            (ns, json!(last))
        }
        "okaywal" => {
            let n = std::sync::Arc::new(AtomicU64::new(0));
            let wal = okaywal::Configuration::default_for(dir)
                .preallocate_bytes(64 << 20)
                .checkpoint_after_bytes(u64::MAX)
                .open(Replay(n.clone()))
                .expect("okaywal open");
            let ns = t0.elapsed().as_nanos() as u64;
            let recs = n.load(Relaxed);
            if mode == "clean" {
                print_open(ns, json!(recs));
                wal.shutdown().expect("okaywal shutdown");
                std::process::exit(0);
            }
            (ns, json!(recs))
        }
        "walrus" => {
            let _wal = walrus_default();
            (t0.elapsed().as_nanos() as u64, Value::Null)
        }
        other => panic!("unknown engine {other}"),
    };
    print_open(ns, records);
    crash()
}

fn print_open(ns: u64, records: Value) {
    use std::io::Write;
    println!("RESULT {}", json!({ "open_ns": ns, "records": records }));
    let _ = std::io::stdout().flush();
}
