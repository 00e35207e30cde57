//! Small helpers shared by every workload: payload bytes, histograms, a fast RNG, file
//! and directory chores, and the probes that describe the machine.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::Instant;

use hdrhistogram::Histogram;

/// Deterministic, incompressible payload bytes.
pub fn fill(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// xorshift64*: a few cycles per number, good enough for sampling and random ids.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// 1 ns .. 100 s, 3 significant digits. A fixed range: `saturating_record` does not
/// resize an auto-resizing histogram.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

pub fn elapsed_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// A fresh, empty directory (removes whatever was there).
pub fn fresh_dir(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir_all(path).expect("create benchmark directory");
}

pub fn remove_dir(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
}

/// Creates `path` and reserves `bytes` on disk (`fallocate`, like aof's segments).
pub fn preallocated_file(path: &Path, bytes: u64) -> File {
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .expect("create baseline file");
    if bytes > 0 {
        // SAFETY: a valid open descriptor; plain integer arguments.
        let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, bytes as libc::off_t) };
        assert_eq!(
            rc,
            0,
            "fallocate {bytes} bytes: {}",
            std::io::Error::last_os_error()
        );
    }
    // Make the allocation durable now, untimed: aof's segments are synced when created.
    f.sync_all().expect("fsync");
    f
}

pub fn fdatasync(f: &File) {
    f.sync_data().expect("fdatasync");
}

/// Writes back every dirty page of the file system that holds `dir` and commits its
/// journal, so that one repetition's write-back and file deletions are not paid for by
/// the first fdatasync of the next one. Runs before every timed region (untimed).
pub fn syncfs(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        // SAFETY: a valid open descriptor.
        unsafe { libc::syncfs(f.as_raw_fd()) };
    }
}

/// Median of a non-empty list (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// What the harness prints about the machine, measured or read at start.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_gib: f64,
    pub kernel: String,
    pub fs: String,
    pub device: String,
    pub clock_ns: f64,
    /// fdatasync after appending 4 KiB: p50, p99 (µs).
    pub fsync_append_us: (f64, f64),
    /// fdatasync after overwriting a written 4 KiB block: p50, p99 (µs).
    pub fsync_overwrite_us: (f64, f64),
}

fn read_to_string(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// File system type and source device of the mount that holds `dir`.
fn mount_of(dir: &Path) -> (String, String) {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut best: Option<(usize, String, String)> = None;
    for line in read_to_string("/proc/self/mounts").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let (dev, mnt, fs) = (f[0], f[1], f[2]);
        if dir.starts_with(mnt) && best.as_ref().is_none_or(|b| mnt.len() > b.0) {
            best = Some((mnt.len(), fs.to_string(), dev.to_string()));
        }
    }
    best.map(|b| (b.1, b.2)).unwrap_or_default()
}

/// Describes the block device behind `dev` (`/dev/vda` → model, rotational, scheduler).
fn describe_device(dev: &str) -> String {
    let name = dev.trim_start_matches("/dev/");
    let base: String = name.trim_end_matches(|c: char| c.is_ascii_digit()).into();
    let sys = format!("/sys/block/{base}");
    if !Path::new(&sys).exists() {
        return dev.to_string();
    }
    let sectors: u64 = read_to_string(&format!("{sys}/size"))
        .trim()
        .parse()
        .unwrap_or(0);
    let rot = read_to_string(&format!("{sys}/queue/rotational"));
    let model = read_to_string(&format!("{sys}/device/model"));
    let sched_all = read_to_string(&format!("{sys}/queue/scheduler"));
    let sched = sched_all
        .split('[')
        .nth(1)
        .and_then(|x| x.split(']').next())
        .unwrap_or(sched_all.trim());
    let kind = if base.starts_with("vd") {
        "virtio disk"
    } else if base.starts_with("nvme") {
        "NVMe"
    } else {
        "disk"
    };
    format!(
        "{dev} ({kind}{}, {} GiB, rotational={}, scheduler {})",
        if model.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", model.trim())
        },
        (sectors * 512) >> 30,
        rot.trim(),
        sched.trim()
    )
}

/// Cost of one `Instant::now()` in ns.
fn clock_cost() -> f64 {
    let n = 1_000_000;
    let t0 = Instant::now();
    let mut x = t0;
    for _ in 0..n {
        x = std::hint::black_box(Instant::now());
    }
    let _ = x;
    t0.elapsed().as_nanos() as f64 / n as f64
}

/// fdatasync latency after appending 4 KiB (the file grows) and after overwriting a 4 KiB
/// block that was written and synced before.
pub fn probe_fdatasync(dir: &Path, n: usize) -> ((f64, f64), (f64, f64)) {
    let path = dir.join("fdatasync-probe.dat");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("probe file");
    let block = fill(7, 4096);
    let q = |h: &Histogram<u64>| {
        (
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        )
    };
    let mut append = new_hist();
    for i in 0..n {
        f.write_all_at(&block, (i * 4096) as u64).expect("write");
        let t0 = Instant::now();
        fdatasync(&f);
        append.saturating_record(elapsed_ns(t0));
    }
    let mut over = new_hist();
    for i in 0..n {
        f.write_all_at(&block, ((i % 64) * 4096) as u64)
            .expect("write");
        let t0 = Instant::now();
        fdatasync(&f);
        over.saturating_record(elapsed_ns(t0));
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    (q(&append), q(&over))
}

pub fn machine(dir: &Path, probes: usize) -> Machine {
    let cpuinfo = read_to_string("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem_kib: f64 = read_to_string("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let (fs, dev) = mount_of(dir);
    let (fsync_append_us, fsync_overwrite_us) = probe_fdatasync(dir, probes);
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        mem_gib: mem_kib / (1024.0 * 1024.0),
        kernel: read_to_string("/proc/sys/kernel/osrelease").trim().into(),
        fs,
        device: describe_device(&dev),
        clock_ns: clock_cost(),
        fsync_append_us,
        fsync_overwrite_us,
    }
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages.
pub fn loadavg() -> String {
    read_to_string("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
