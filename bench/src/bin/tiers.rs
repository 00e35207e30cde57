//! The tiers' costs, each next to a baseline measured in the same run:
//!
//! 1. compression (`Log::compress_now` over sealed segments) at zstd levels 1, 3, 9 and
//!    frames of 256 KiB and 1 MiB, JSON-like events and random bytes: ratio and MiB/s,
//!    against the `zstd` crate compressing the same bytes in frame-sized chunks (and the
//!    `zstd -b` command line at level 3 when it is installed);
//! 2. cold sequential read-back: a log archived to a local S3-compatible server (`s3s-fs`,
//!    started here) read by a cursor from a freshly opened manager, read-ahead windows of 0, 2, 8 and 32 MiB
//!    frames, frames of 256 KiB and 1 MiB, against plain whole-object GETs of the same
//!    objects through the same client code (`S3Archive`);
//! 3. first-record latency from the archive (one read, frame not cached) against a ranged
//!    GET of the same bytes;
//! 4. read latency of the hot tier (mapped sealed segments) against the active segment,
//!    and of the warm tier (frame cache hit, and miss);
//! 5. append throughput while segments are compressed and archived in the background
//!    against no tiering, alternated.
//!
//! `cargo run --release --manifest-path bench/Cargo.toml --features tiers --bin tiers \
//!   [-- --quick] [--only 1,2,...]`
//!
//! Needs `s3s-fs` on PATH or in ~/.cargo/bin (`cargo install s3s-fs@0.14.1 --features
//! binary --locked`). Files go under `$AOF_BENCH_DIR` (default `bench/target/tiers-bench`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aof::tier::archive::{ArchiveStore, S3Archive, S3Config};
use aof::tier::cold::{ArchiveOptions, Backend};
use aof::tier::shared::CacheOptions;
use aof::{FlushPolicy, Log, Manager, ManagerOptions, Options, StartAt, Tiering};
use hdrhistogram::Histogram;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Small helpers

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn mibs(bytes: u64, t: Duration) -> f64 {
    mib(bytes) / t.as_secs_f64()
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}

/// A JSON-like event of 100–400 bytes: ids, timestamps, user and session ids, enums,
/// amounts, a path, 0–3 line items.
fn event(rng: &mut Rng, id: u64) -> Vec<u8> {
    let ts = 1_795_000_000_000u64 + id * 37 + rng.below(30);
    let kind = rng.pick(&[
        "page_view",
        "click",
        "add_to_cart",
        "purchase",
        "refund",
        "login",
    ]);
    let mut s = format!(
        "{{\"event_id\":{id},\"ts\":{ts},\"type\":\"{kind}\",\"user_id\":\"u_{:07}\",\
         \"session\":\"{:012x}\",\"country\":\"{}\",\"device\":\"{}\",\"path\":\"/{}/{}\"",
        rng.below(2_000_000),
        rng.next_u64() >> 16,
        rng.pick(&["DE", "US", "FR", "GB", "NL", "ES", "IT", "PL", "SE", "BR"]),
        rng.pick(&["ios", "android", "web", "desktop"]),
        rng.pick(&["products", "cart", "checkout", "search", "account"]),
        rng.below(100_000),
    );
    if kind == "purchase" || kind == "refund" || kind == "add_to_cart" {
        s.push_str(&format!(
            ",\"currency\":\"{}\",\"amount\":{}.{:02},\"items\":[",
            rng.pick(&["EUR", "USD", "GBP"]),
            rng.below(2000),
            rng.below(100)
        ));
        let n = 1 + rng.below(3);
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!(
                "{{\"sku\":\"SKU-{:06}\",\"qty\":{},\"price\":{}.{:02}}}",
                rng.below(500_000),
                1 + rng.below(4),
                rng.below(500),
                rng.below(100)
            ));
        }
        s.push(']');
    }
    if rng.below(3) == 0 {
        s.push_str(&format!(
            ",\"referrer\":\"https://{}/{}?utm_source={}\"",
            rng.pick(&[
                "www.google.com",
                "news.example.org",
                "t.co",
                "mail.example.com"
            ]),
            rng.below(1_000_000),
            rng.pick(&["newsletter", "ads", "social"])
        ));
    }
    s.push('}');
    let mut v = s.into_bytes();
    while v.len() < 100 {
        v.insert(v.len() - 1, b' ');
    }
    v.truncate(400);
    v
}

#[derive(Clone, Copy, PartialEq)]
enum Payload {
    Json,
    Random,
}

impl Payload {
    fn name(self) -> &'static str {
        match self {
            Payload::Json => "json",
            Payload::Random => "random",
        }
    }
    fn make(self, rng: &mut Rng, id: u64) -> Vec<u8> {
        match self {
            Payload::Json => event(rng, id),
            Payload::Random => {
                let len = 100 + rng.below(301) as usize;
                let mut v = Vec::with_capacity(len + 8);
                while v.len() < len {
                    v.extend_from_slice(&rng.next_u64().to_le_bytes());
                }
                v.truncate(len);
                v
            }
        }
    }
}

fn log_options(segment_size: u64, tiering: Tiering) -> Options {
    Options {
        segment_size,
        flush: FlushPolicy::Batched { records: 1000 },
        preallocate_at_percent: 0,
        zero_ahead: 0,
        tiering,
        ..Options::default()
    }
}

fn tiering(level: i32, frame: u64) -> Tiering {
    Tiering {
        compression_level: level,
        frame_size: frame,
        ..Tiering::default()
    }
}

/// Appends until the log holds `sealed` sealed segments (and an active one), then seals the
/// active one too if `seal`. Returns the payload bytes appended.
fn fill_segments(log: &Log, payload: Payload, sealed: u64, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut bytes = 0;
    loop {
        for _ in 0..1000 {
            let id = log.last_id() + 1;
            let p = payload.make(&mut rng, id);
            bytes += p.len() as u64;
            log.append(&p).unwrap();
        }
        if log.metrics().segment_count > sealed {
            break;
        }
    }
    log.flush().unwrap();
    bytes
}

/// Appends `plain` bytes of payload or more.
fn fill_bytes(log: &Log, payload: Payload, plain: u64, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut bytes = 0;
    while bytes < plain {
        let id = log.last_id() + 1;
        let p = payload.make(&mut rng, id);
        bytes += p.len() as u64;
        log.append(&p).unwrap();
    }
    log.flush().unwrap();
    bytes
}

fn sealed_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".seg"))
        .collect();
    v.sort();
    v.pop(); // the active segment
    v
}

// ---------------------------------------------------------------------------------------
// s3s-fs

struct S3Server {
    port: u16,
    dir: PathBuf,
    child: Child,
}

const BUCKET: &str = "aof-bench";

impl S3Server {
    fn start(dir: &Path) -> S3Server {
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("s3s-fs"));
        let in_cargo = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"));
        let bin = on_path
            .chain(in_cargo)
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!("s3s-fs not found: cargo install s3s-fs@0.14.1 --features binary --locked")
            });
        fresh(dir);
        std::fs::create_dir_all(dir.join("root").join(BUCKET)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "AK", "--secret-key", "SK"])
            .arg(dir.join("root"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        S3Server {
            port,
            dir: dir.to_path_buf(),
            child,
        }
    }

    fn config(&self) -> S3Config {
        let mut c = S3Config::new(BUCKET, "us-east-1");
        c.endpoint = Some(format!("http://127.0.0.1:{}", self.port));
        c.path_style = true;
        c.credentials = Some(("AK".into(), "SK".into()));
        c
    }

    fn stored_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|d| {
                    d.map(|e| {
                        let e = e.unwrap();
                        if e.file_type().unwrap().is_dir() {
                            walk(&e.path())
                        } else {
                            e.metadata().unwrap().len()
                        }
                    })
                    .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir.join("root").join(BUCKET))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manager(root: &Path, server: &S3Server, readahead: u64) -> Manager {
    let mut archive = ArchiveOptions::new(Backend::S3(server.config()));
    archive.prefix = "bench/".into();
    archive.readahead_bytes = readahead;
    Manager::open(
        root,
        ManagerOptions {
            cache: CacheOptions::default(),
            archive: Some(archive),
            ..ManagerOptions::default()
        },
    )
    .unwrap()
}

/// The baseline client: the library's S3 backend alone, on its own runtime.
struct Plain {
    store: S3Archive,
    _rt: tokio::runtime::Runtime,
}

impl Plain {
    fn new(server: &S3Server) -> Plain {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = S3Archive::new(server.config(), rt.handle().clone()).unwrap();
        Plain { store, _rt: rt }
    }

    /// The objects under `prefix`, in key order, with their sizes.
    fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        self.store.list(prefix).unwrap()
    }

    /// The compressed frame sizes of object `key` of `size` bytes, from its seek table
    /// (zstd seekable format: entries of compressed and decompressed size, optional
    /// checksum; a 9-byte footer: frame count, descriptor, magic).
    fn frames(&self, key: &str, size: u64) -> Vec<u64> {
        let foot = self.store.get_range(key, size - 9..size).unwrap();
        assert_eq!(
            u32::from_le_bytes(foot[5..9].try_into().unwrap()),
            0x8F92_EAB1
        );
        let n = u32::from_le_bytes(foot[0..4].try_into().unwrap()) as u64;
        let entry = if foot[4] & 0x80 != 0 { 12 } else { 8 };
        let table = self
            .store
            .get_range(key, size - 9 - n * entry..size - 9)
            .unwrap();
        table
            .chunks(entry as usize)
            .map(|e| u64::from(u32::from_le_bytes(e[0..4].try_into().unwrap())))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// 1. Compression

fn compression(root: &Path, quick: bool) {
    let (segment, sealed) = if quick { (16 * MIB, 2) } else { (64 * MIB, 2) };
    println!(
        "\n== 1. compression: compress_now() of {sealed} sealed {} MiB segments, one thread \
         (includes writing, fsync and the engine's check that decompresses every frame)",
        segment / MIB
    );
    println!(
        "baseline: the zstd crate (bulk, same level) over the same segment files cut into \
         frame-sized chunks, in memory; zstd bulk decompression of those chunks for scale"
    );
    println!(
        "{:<7} {:>5} {:>6} | {:>8} {:>8} | {:>8} {:>8} {:>6} | {:>11}",
        "payload", "level", "frame", "aof", "aof", "zstd", "zstd", "aof÷", "zstd decomp"
    );
    println!(
        "{:<7} {:>5} {:>6} | {:>8} {:>8} | {:>8} {:>8} {:>6} | {:>11}",
        "", "", "", "ratio", "MiB/s", "ratio", "MiB/s", "zstd", "MiB/s"
    );
    let mut cli_files = Vec::new();
    for payload in [Payload::Json, Payload::Random] {
        for frame in [256 * KIB, MIB] {
            for level in [1, 3, 9] {
                let dir = root.join(format!("c-{}-{frame}-{level}", payload.name()));
                fresh(&dir);
                let log = Log::open(&dir, log_options(segment, tiering(level, frame))).unwrap();
                // Full sealed segments only: the active one (a few records) stays plain.
                fill_segments(&log, payload, sealed, 1);
                let files: Vec<Vec<u8>> = sealed_files(&dir)
                    .iter()
                    .map(|p| std::fs::read(p).unwrap())
                    .collect();
                // Baseline first (the files are in the page cache either way).
                let mut c = zstd::bulk::Compressor::new(level).unwrap();
                let t0 = Instant::now();
                let mut chunks = Vec::new();
                for f in &files {
                    for chunk in f.chunks(frame as usize) {
                        chunks.push((c.compress(chunk).unwrap(), chunk.len()));
                    }
                }
                let zt = t0.elapsed();
                let zin: u64 = files.iter().map(|f| f.len() as u64).sum();
                let zout: u64 = chunks.iter().map(|c| c.0.len() as u64).sum();
                let mut d = zstd::bulk::Decompressor::new().unwrap();
                let t0 = Instant::now();
                for (c, len) in &chunks {
                    std::hint::black_box(d.decompress(c, *len).unwrap());
                }
                let dt = t0.elapsed();
                drop(chunks);

                let before = log.metrics();
                let t0 = Instant::now();
                let n = log.compress_now().unwrap();
                let t = t0.elapsed();
                let after = log.metrics();
                assert_eq!(n as u64, sealed, "sealed segments compressed");
                let bin = after.compress_bytes_in - before.compress_bytes_in;
                let bout = after.compress_bytes_out - before.compress_bytes_out;
                let (ar, am) = (bin as f64 / bout as f64, mibs(bin, t));
                let (zr, zm) = (zin as f64 / zout as f64, mibs(zin, zt));
                println!(
                    "{:<7} {:>5} {:>5}K | {:>8.2} {:>8.0} | {:>8.2} {:>8.0} {:>5.2}x | {:>11.0}",
                    payload.name(),
                    level,
                    frame / KIB,
                    ar,
                    am,
                    zr,
                    zm,
                    am / zm,
                    mibs(zin, dt)
                );
                log.close().unwrap();
                if level == 3 {
                    // Keep one plain segment for the command-line baseline.
                    let keep = root.join(format!("cli-{}.seg", payload.name()));
                    std::fs::write(&keep, &files[0]).unwrap();
                    cli_files.push((payload, frame, keep));
                }
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
    if Command::new("zstd").arg("--version").output().is_ok() {
        println!("zstd command line on one of those segment files (zstd -b3 -B<frame> -i1):");
        for (payload, frame, file) in &cli_files {
            let out = Command::new("zstd")
                .args(["-b3", &format!("-B{frame}"), "-i1"])
                .arg(file)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            let line = text
                .rsplit(['\r', '\n'])
                .find(|l| l.contains("MB/s"))
                .unwrap_or("(no result)")
                .trim();
            println!("  {:<6} {:>5}K  {line}", payload.name(), frame / KIB);
        }
    }
    for (_, _, f) in cli_files {
        let _ = std::fs::remove_file(f);
    }
}

// ---------------------------------------------------------------------------------------
// 2 + 3. Cold reads

struct ColdLog {
    name: String,
    frame: u64,
    prefix: String,
    plain: u64,
    options: Options,
}

fn build_cold(root: &Path, server: &S3Server, plain: &Plain, quick: bool) -> Vec<ColdLog> {
    let target = if quick { 128 * MIB } else { 256 * MIB };
    let m = manager(root, server, 8 << 20);
    let mut logs = Vec::new();
    for frame in [256 * KIB, MIB] {
        let name = format!("cold-{}k", frame / KIB);
        let options = log_options(16 * MIB, tiering(3, frame));
        let log = m.open_log(&name, options.clone()).unwrap();
        let bytes = fill_bytes(&log, Payload::Json, target, 7);
        log.seal_now().unwrap();
        let t0 = Instant::now();
        let n = log.archive_now().unwrap();
        let t = t0.elapsed();
        let mt = log.metrics();
        // The uid directory this log's objects went to: the one that is new.
        let known: Vec<String> = logs.iter().map(|l: &ColdLog| l.prefix.clone()).collect();
        let prefix = plain
            .objects("bench/")
            .into_iter()
            .map(|(k, _)| k[..k.rfind('/').unwrap() + 1].to_string())
            .find(|p| !known.contains(p))
            .unwrap();
        println!(
            "{name}: {:.0} MiB of payload, {n} segments of 16 MiB archived in {:.1} s \
             (compress + upload + verify), {:.1} MiB compressed (ratio {:.2})",
            mib(bytes),
            t.as_secs_f64(),
            mib(mt.archive_bytes_out),
            mt.compress_bytes_in as f64 / mt.compress_bytes_out as f64
        );
        log.close().unwrap();
        logs.push(ColdLog {
            name,
            frame,
            prefix,
            plain: bytes,
            options,
        });
    }
    m.close().unwrap();
    logs
}

fn cold_sequential(root: &Path, server: &S3Server, plain: &Plain, logs: &[ColdLog], reps: usize) {
    println!(
        "\n== 2. cold sequential read-back: a cursor over the whole log from a freshly opened \
         manager (empty caches), {reps} rep(s), medians"
    );
    println!(
        "baseline: GET of each whole object, one request at a time, same server and S3 client \
         code (S3Archive::get), MiB/s of compressed bytes"
    );
    println!(
        "effective = the log's compressed size (its objects) ÷ time; fetched = bytes the \
         archive client downloaded ÷ time (read-ahead may download a frame more than once)"
    );
    println!(
        "{:<10} {:>5} | {:>8} {:>9} {:>9} {:>8} {:>6} {:>7} | {:>9} {:>7} | {:>7}",
        "log",
        "ahead",
        "payload",
        "effective",
        "fetched",
        "fetched÷",
        "GETs",
        "seconds",
        "plain GET",
        "ms/GET",
        "effect.÷"
    );
    println!(
        "{:<10} {:>5} | {:>8} {:>9} {:>9} {:>8} {:>6} {:>7} | {:>9} {:>7} | {:>7}",
        "", "", "MiB/s", "MiB/s", "MiB/s", "stored", "", "", "MiB/s", "", "GET"
    );
    struct Row {
        ahead: u64,
        payload: Vec<f64>,
        effective: Vec<f64>,
        fetched: Vec<f64>,
        amplification: f64,
        gets: u64,
        secs: Vec<f64>,
    }
    for l in logs {
        let objects = plain.objects(&l.prefix);
        let stored: u64 = objects.iter().map(|o| o.1).sum();
        let mut get_rates = Vec::new();
        let mut get_ms = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        for rep in 0..reps {
            let t0 = Instant::now();
            let mut got = 0u64;
            for (key, size) in &objects {
                let b = plain.store.get(key).unwrap();
                assert_eq!(b.len() as u64, *size);
                got += b.len() as u64;
            }
            let t = t0.elapsed();
            get_rates.push(mibs(got, t));
            get_ms.push(t.as_secs_f64() * 1e3 / objects.len() as f64);
            for (i, ahead) in [0u64, 2 << 20, 8 << 20, 32 << 20].into_iter().enumerate() {
                let m = manager(root, server, ahead);
                let log = m.open_log(&l.name, l.options.clone()).unwrap();
                let before = log.metrics();
                let t0 = Instant::now();
                let mut c = log.cursor(StartAt::Oldest).unwrap();
                let mut payload = 0u64;
                let mut sum = 0u64;
                while let Some(r) = c.next().unwrap() {
                    payload += r.data.len() as u64;
                    sum = sum.wrapping_add(u64::from(*r.data.last().unwrap_or(&0)));
                }
                drop(c);
                let t = t0.elapsed();
                std::hint::black_box(sum);
                let after = log.metrics();
                assert_eq!(payload, l.plain);
                let fetched = after.archive_bytes_in - before.archive_bytes_in;
                let gets = after.archive_gets - before.archive_gets;
                if rep == 0 {
                    rows.push(Row {
                        ahead,
                        payload: Vec::new(),
                        effective: Vec::new(),
                        fetched: Vec::new(),
                        amplification: 0.0,
                        gets,
                        secs: Vec::new(),
                    });
                }
                let row = &mut rows[i];
                row.payload.push(mibs(payload, t));
                row.effective.push(mibs(stored, t));
                row.fetched.push(mibs(fetched, t));
                row.amplification = fetched as f64 / stored as f64;
                row.secs.push(t.as_secs_f64());
                log.close().unwrap();
                m.close().unwrap();
            }
        }
        let get = median(get_rates.clone());
        let ms = median(get_ms);
        for r in rows {
            let eff = median(r.effective);
            println!(
                "{:<10} {:>5} | {:>8.1} {:>9.1} {:>9.1} {:>7.1}x {:>6} {:>7.2} | {:>9.1} {:>7.1} | {:>6.0}%",
                l.name,
                format!("{}M", r.ahead >> 20),
                median(r.payload),
                eff,
                median(r.fetched),
                r.amplification,
                r.gets,
                median(r.secs),
                get,
                ms,
                100.0 * eff / get
            );
        }
        let g: Vec<String> = get_rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{:<10} {} objects, {:.1} MiB stored; plain GET {} MiB/s per rep",
            l.name,
            objects.len(),
            mib(stored),
            g.join(", ")
        );
    }
}

fn percentile(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

fn cold_first_record(root: &Path, server: &S3Server, plain: &Plain, logs: &[ColdLog], n: usize) {
    println!(
        "\n== 3. first record from the archive: read(id) of an id whose frame is not cached \
         (fresh manager; {n} ids, each in another frame), µs"
    );
    println!(
        "baseline: a ranged GET of the same bytes (the frame, found in the object's seek \
         table) with the same S3 client code, one at a time"
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>7}",
        "log",
        "frame KiB",
        "GETs/read",
        "p50",
        "p99",
        "max",
        "GET p50",
        "GET p99",
        "GET max",
        "p50 ÷"
    );
    for l in logs {
        let objects = plain.objects(&l.prefix);
        let bases: Vec<u64> = objects
            .iter()
            .map(|(k, _)| {
                let name = &k[k.rfind('/').unwrap() + 1..];
                name.trim_end_matches(".seg.zst").parse().unwrap()
            })
            .collect();
        let m = manager(root, server, 0);
        let log = m.open_log(&l.name, l.options.clone()).unwrap();
        let (first, last) = log.bounds();
        let mut rng = Rng::new(99);
        let mut lat = hist();
        let mut samples = Vec::new();
        let mut gets = 0;
        let mut tries = 0;
        // One untimed read first: the client's connection, as for the baseline.
        let _ = log.read(first);
        while samples.len() < n && tries < n * 20 {
            tries += 1;
            let id = first + rng.below(last - first);
            let before = log.metrics();
            let t0 = Instant::now();
            let len = log.read_with(id, |r| r.data.len()).unwrap();
            let t = t0.elapsed();
            std::hint::black_box(len);
            let after = log.metrics();
            if after.frame_misses - before.frame_misses != 1
                || after.archive_gets == before.archive_gets
            {
                continue; // its frame was cached already
            }
            gets += after.archive_gets - before.archive_gets;
            lat.record(t.as_nanos() as u64).unwrap();
            let seg = bases.iter().rposition(|&b| b <= id).unwrap();
            samples.push((seg, after.archive_bytes_in - before.archive_bytes_in));
        }
        log.close().unwrap();
        m.close().unwrap();
        // The baseline: the same byte ranges.
        let mut tables = std::collections::HashMap::new();
        let mut glat = hist();
        let _ = plain.store.get_range(&objects[0].0, 0..1);
        for (seg, len) in &samples {
            let (key, size) = &objects[*seg];
            let frames = tables
                .entry(*seg)
                .or_insert_with(|| plain.frames(key, *size));
            // The frame of that compressed length (the seek table's order); else one of
            // the same length at the start.
            let mut off = 0;
            let mut start = None;
            for f in frames.iter() {
                if *f == *len {
                    start = Some(off);
                    break;
                }
                off += f;
            }
            let start = start.unwrap_or(0);
            let t0 = Instant::now();
            let b = plain.store.get_range(key, start..start + len).unwrap();
            glat.record(t0.elapsed().as_nanos() as u64).unwrap();
            assert_eq!(b.len() as u64, *len);
        }
        let us = |h: &Histogram<u64>, q: f64| percentile(h, q) / 1000.0;
        println!(
            "{:<10} {:>9} {:>9.2} {:>9.0} {:>9.0} {:>9.0} | {:>9.0} {:>9.0} {:>9.0} | {:>6.2}x",
            l.name,
            l.frame / KIB,
            gets as f64 / samples.len() as f64,
            us(&lat, 0.5),
            us(&lat, 0.99),
            lat.max() as f64 / 1000.0,
            us(&glat, 0.5),
            us(&glat, 0.99),
            glat.max() as f64 / 1000.0,
            us(&lat, 0.5) / us(&glat, 0.5)
        );
        println!(
            "{:<10} {} samples, mean frame fetched {:.0} KiB compressed",
            "",
            samples.len(),
            samples.iter().map(|s| s.1).sum::<u64>() as f64 / samples.len() as f64 / 1024.0
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. Hot and warm read latency

fn read_latency(root: &Path, quick: bool) {
    let reads = if quick { 100_000 } else { 500_000 };
    let segment = 16 * MIB;
    println!(
        "\n== 4. read latency, read_with(id) (no copy) of random ids, ns (a clock read costs \
         ~25 ns and is included); log of 4 sealed 16 MiB segments + the active one, JSON events"
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "tier", "reads", "p50", "p90", "p99", "p99.9"
    );
    let dir = root.join("hot");
    fresh(&dir);
    let log = Log::open(&dir, log_options(segment, tiering(3, 256 * KIB))).unwrap();
    fill_segments(&log, Payload::Json, 4, 3);
    let active_first = log.last_id() + 1;
    fill_bytes(&log, Payload::Json, 8 * MIB, 4);
    let last = log.last_id();
    // Sealed ids: those before the 4th segment was filled, less a margin.
    let sealed_last = active_first - 2000;
    let run = |label: &str, lo: u64, hi: u64, n: usize, check: &dyn Fn(u64) -> bool| {
        let mut rng = Rng::new(5);
        let mut h = hist();
        let mut kept = 0;
        let mut sum = 0usize;
        for i in 0..n {
            let id = lo + rng.below(hi - lo + 1);
            let t0 = Instant::now();
            sum += log.read_with(id, |r| r.data.len()).unwrap();
            let t = t0.elapsed().as_nanos() as u64;
            if check(i as u64) {
                h.record(t).unwrap();
                kept += 1;
            }
        }
        std::hint::black_box(sum);
        println!(
            "{:<44} {:>8} {:>8} {:>8} {:>8} {:>9}",
            label,
            kept,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999)
        );
    };
    // Warm-up: map every sealed segment once.
    run("(warm-up, sealed)", 1, sealed_last, reads / 10, &|_| false);
    let m0 = log.metrics();
    run(
        "hot: sealed segment, mapped (hot cache hit)",
        1,
        sealed_last,
        reads,
        &|_| true,
    );
    let m1 = log.metrics();
    run(
        "baseline: active segment",
        active_first + 1000,
        last,
        reads,
        &|_| true,
    );
    println!(
        "  (hot hits {} of {} reads, misses {})",
        m1.hot_hits - m0.hot_hits,
        reads,
        m1.hot_misses - m0.hot_misses
    );
    // The warm tier: the same sealed segments compressed, every frame decompressed once.
    let n = log.compress_now().unwrap();
    let mut c = log.cursor(StartAt::Oldest).unwrap();
    while let Some(r) = c.next().unwrap() {
        if r.id >= active_first - 1000 {
            break;
        }
    }
    drop(c);
    let m0 = log.metrics();
    run(
        "warm: compressed, frame cached (hit)",
        1,
        sealed_last,
        reads,
        &|_| true,
    );
    let m1 = log.metrics();
    println!(
        "  ({n} segments compressed; frame hits {} of {} reads, misses {})",
        m1.frame_hits - m0.frame_hits,
        reads,
        m1.frame_misses - m0.frame_misses
    );
    log.close().unwrap();
    // Frame cache misses: reopen (empty caches), keep reads that decompressed a frame.
    let log = Log::open(&dir, log_options(segment, tiering(3, 256 * KIB))).unwrap();
    let mut rng = Rng::new(6);
    let mut h = hist();
    for _ in 0..2000 {
        let id = 1 + rng.below(sealed_last);
        let before = log.metrics().frame_misses;
        let t0 = Instant::now();
        let len = log.read_with(id, |r| r.data.len()).unwrap();
        let t = t0.elapsed().as_nanos() as u64;
        std::hint::black_box(len);
        if log.metrics().frame_misses == before + 1 {
            h.record(t).unwrap();
        }
    }
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "warm: frame not cached (decompress 256 KiB)",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999)
    );
    log.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// 5. Appends while archiving

fn append_while_archiving(root: &Path, server: &S3Server, quick: bool) {
    let records: u64 = if quick { 1_000_000 } else { 3_000_000 };
    let rounds = if quick { 2 } else { 3 };
    println!(
        "\n== 5. append throughput, 1 thread, {records} records of 64–256 B (JSON-like), \
         Batched{{1000}}, 16 MiB segments, until flush() returns; {rounds} rounds alternating"
    );
    println!(
        "A: compress + archive in the background (compress_after_segments 1, \
         archive_after_segments 1, level 3, 256 KiB frames) to s3s-fs; B (baseline): no tiering"
    );
    // Payloads made beforehand, cycled: generation stays out of the timed region.
    let mut rng = Rng::new(11);
    let pool: Vec<Vec<u8>> = (0..65_536u64)
        .map(|i| {
            let mut e = event(&mut rng, i);
            let len = 64 + rng.below(193) as usize;
            e.resize(len, b' ');
            e
        })
        .collect();
    let mroot = root.join("append");
    fresh(&mroot);
    let m = manager(&mroot, server, 8 << 20);
    let mut a_rates = Vec::new();
    let mut b_rates = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for archiving in order {
            let t = if archiving {
                Tiering {
                    compress_after_segments: Some(1),
                    archive_after_segments: Some(1),
                    ..tiering(3, 256 * KIB)
                }
            } else {
                Tiering::default()
            };
            let name = format!("append-{round}-{}", if archiving { "a" } else { "b" });
            let log = m.open_log(&name, log_options(16 * MIB, t)).unwrap();
            let mut bytes = 0u64;
            let t0 = Instant::now();
            for i in 0..records {
                let p = &pool[(i & 0xffff) as usize];
                bytes += p.len() as u64;
                log.append(p).unwrap();
            }
            log.flush().unwrap();
            let el = t0.elapsed();
            let mt = log.metrics();
            let rate = records as f64 / el.as_secs_f64();
            println!(
                "  round {round} {}: {:>6.2} M records/s, {:>5.0} MiB/s; during the run: {} \
                 segments compressed, {} archived, {} waiting",
                if archiving {
                    "A archiving"
                } else {
                    "B no tiering"
                },
                rate / 1e6,
                mibs(bytes, el),
                mt.segments_compressed,
                mt.segments_archived,
                mt.archive_pending
            );
            if archiving {
                a_rates.push(rate);
                // Let the archive catch up, untimed, so the next run starts quiet.
                let deadline = Instant::now() + Duration::from_secs(120);
                while log.metrics().archive_pending > 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            } else {
                b_rates.push(rate);
            }
            log.close().unwrap();
            m.drop_log(&name).unwrap();
        }
    }
    let (a, b) = (median(a_rates), median(b_rates));
    println!(
        "median: A {:.2} M records/s, B {:.2} M records/s, A÷B {:.2}",
        a / 1e6,
        b / 1e6,
        a / b
    );
    m.close().unwrap();
}

// ---------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<Vec<u32>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].split(',').map(|s| s.parse().unwrap()).collect());
    let want = |n: u32| only.as_ref().is_none_or(|o| o.contains(&n));
    let base = std::env::var("AOF_BENCH_DIR").unwrap_or_else(|_| "bench/target/tiers-bench".into());
    let root = Path::new(&base).join(format!("run-{}", std::process::id()));
    fresh(&root);
    let started = Instant::now();
    println!(
        "aof tiers benchmark{} — load average at start: {}; {} CPUs",
        if quick { " (--quick)" } else { "" },
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "local s3s-fs on 127.0.0.1, data on the same disk as the logs (its files stay in the \
         page cache: no network, no disk reads)"
    );
    if want(1) {
        compression(&root, quick);
    }
    let server = (want(2) || want(3) || want(5)).then(|| S3Server::start(&root.join("s3")));
    let plain = server.as_ref().map(Plain::new);
    if let (Some(server), Some(plain)) = (&server, &plain) {
        if want(2) || want(3) {
            let cold_root = root.join("cold");
            fresh(&cold_root);
            println!("\n-- building the archived logs");
            let logs = build_cold(&cold_root, server, plain, quick);
            println!("   bucket holds {:.1} MiB", mib(server.stored_bytes()));
            if want(2) {
                cold_sequential(&cold_root, server, plain, &logs, if quick { 1 } else { 2 });
            }
            if want(3) {
                cold_first_record(&cold_root, server, plain, &logs, 50);
            }
            std::fs::remove_dir_all(&cold_root).unwrap();
        }
    }
    if want(4) {
        read_latency(&root, quick);
    }
    if let (Some(server), true) = (&server, want(5)) {
        append_while_archiving(&root, server, quick);
    }
    drop(plain);
    drop(server);
    println!(
        "\nload average at the end: {}; {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&root).unwrap();
}
