//! What a cell of the matrix is, what one repetition measures, and how repetitions are
//! calibrated, run and summarised (median and min–max spread).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::drive::Plan;
use crate::util::median;

/// The durability policy of an append cell (aof's names; peers run their equivalent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Sync,
    Batched(u32),
    Async,
    /// Only with `--periodic` (the old `benches/aof_bench.rs` measured it): a sync every
    /// this many milliseconds.
    Periodic(u32),
}

impl Policy {
    pub const ALL: [Policy; 4] = [
        Policy::Sync,
        Policy::Batched(100),
        Policy::Batched(1000),
        Policy::Async,
    ];

    /// The id segment: `sync`, `batched100`, `async`.
    pub fn id(&self) -> String {
        match self {
            Policy::Sync => "sync".into(),
            Policy::Batched(n) => format!("batched{n}"),
            Policy::Async => "async".into(),
            Policy::Periodic(ms) => format!("periodic{ms}ms"),
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "sync" => Some(Policy::Sync),
            "async" => Some(Policy::Async),
            _ if s.starts_with("periodic") => s
                .strip_prefix("periodic")?
                .strip_suffix("ms")?
                .parse()
                .ok()
                .map(Policy::Periodic),
            _ => s.strip_prefix("batched")?.parse().ok().map(Policy::Batched),
        }
    }

    pub fn to_aof(self) -> aof::FlushPolicy {
        match self {
            Policy::Sync => aof::FlushPolicy::Sync,
            Policy::Batched(n) => aof::FlushPolicy::Batched { records: n },
            Policy::Async => aof::FlushPolicy::Async,
            Policy::Periodic(ms) => aof::FlushPolicy::Periodic {
                interval: Duration::from_millis(u64::from(ms)),
            },
        }
    }
}

/// Latency quantiles of one repetition, in ns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lat {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub samples: u64,
}

impl Lat {
    pub fn of(h: &Histogram<u64>) -> Option<Lat> {
        (!h.is_empty()).then(|| Lat {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            samples: h.len(),
        })
    }
}

/// One repetition of a cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rep {
    pub records: u64,
    /// Payload bytes moved.
    pub bytes: u64,
    pub secs: f64,
    pub lat: Option<Lat>,
    /// fdatasync calls (where the engine or baseline reports them).
    pub syncs: Option<u64>,
}

impl Rep {
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }

    pub fn to_json(self) -> Value {
        json!({
            "records": self.records,
            "bytes": self.bytes,
            "secs": self.secs,
            "lat": self.lat.map(|l| json!({
                "p50": l.p50, "p99": l.p99, "p999": l.p999, "max": l.max, "samples": l.samples
            })),
            "syncs": self.syncs,
        })
    }

    pub fn from_json(v: &Value) -> Option<Rep> {
        let lat = v.get("lat").filter(|l| !l.is_null()).map(|l| Lat {
            p50: l["p50"].as_u64().unwrap_or(0),
            p99: l["p99"].as_u64().unwrap_or(0),
            p999: l["p999"].as_u64().unwrap_or(0),
            max: l["max"].as_u64().unwrap_or(0),
            samples: l["samples"].as_u64().unwrap_or(0),
        });
        Some(Rep {
            records: v.get("records")?.as_u64()?,
            bytes: v.get("bytes")?.as_u64()?,
            secs: v.get("secs")?.as_f64()?,
            lat,
            syncs: v.get("syncs").and_then(Value::as_u64),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Ok,
    /// The engine has no way to do this workload; the reason is printed in the table.
    NotApplicable(String),
    NotBuilt(String),
    Failed(String),
}

/// One cell of the matrix: a workload × policy × record size × threads × engine, with its
/// repetitions.
#[derive(Clone, Debug)]
pub struct Cell {
    /// append, scan, read, tail, open
    pub workload: &'static str,
    /// A policy id (`sync`, `batched100`, `async`), `*` for baselines that serve every
    /// policy, `-` where none applies, `clean`/`crash` for open.
    pub policy: String,
    pub size: usize,
    pub threads: usize,
    pub engine: String,
    pub status: Status,
    pub reps: Vec<Rep>,
    /// Records per repetition (after calibration).
    pub note: String,
}

pub fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

impl Cell {
    pub fn new(
        workload: &'static str,
        policy: &str,
        size: usize,
        threads: usize,
        engine: &str,
    ) -> Cell {
        Cell {
            workload,
            policy: policy.into(),
            size,
            threads,
            engine: engine.into(),
            status: Status::Ok,
            reps: Vec::new(),
            note: String::new(),
        }
    }

    /// `append/sync/64B/16t/aof`: what `--filter` matches against.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}t/{}",
            self.workload,
            self.policy,
            size_label(self.size),
            self.threads,
            self.engine
        )
    }

    pub fn ok(&self) -> bool {
        self.status == Status::Ok && !self.reps.is_empty()
    }

    fn each(&self, f: impl Fn(&Rep) -> f64) -> Vec<f64> {
        self.reps.iter().map(f).collect()
    }

    pub fn rate(&self) -> f64 {
        median(&self.each(Rep::rate))
    }

    pub fn rate_min(&self) -> f64 {
        self.each(Rep::rate)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }

    pub fn rate_max(&self) -> f64 {
        self.each(Rep::rate).into_iter().fold(0.0, f64::max)
    }

    pub fn mib_s(&self) -> f64 {
        median(&self.each(|r| r.bytes as f64 / r.secs / (1 << 20) as f64))
    }

    /// Median over repetitions of a latency quantile (ns); NaN if none was measured.
    pub fn lat(&self, f: impl Fn(&Lat) -> u64) -> f64 {
        let v: Vec<f64> = self
            .reps
            .iter()
            .filter_map(|r| r.lat.as_ref().map(|l| f(l) as f64))
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            median(&v)
        }
    }

    pub fn syncs_per_record(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .reps
            .iter()
            .filter_map(|r| r.syncs.map(|s| s as f64 / r.records.max(1) as f64))
            .collect();
        (!v.is_empty()).then(|| median(&v))
    }

    /// The spread of the rate over repetitions, as ± half the min–max range, in percent
    /// of the median.
    pub fn spread_pct(&self) -> f64 {
        let m = self.rate();
        if self.reps.len() < 2 || m <= 0.0 {
            return 0.0;
        }
        (self.rate_max() - self.rate_min()) / 2.0 / m * 100.0
    }

    pub fn to_json(&self) -> Value {
        let status = match &self.status {
            Status::Ok => "ok".to_string(),
            Status::NotApplicable(r) => format!("n/a: {r}"),
            Status::NotBuilt(r) => format!("not built: {r}"),
            Status::Failed(r) => format!("failed: {r}"),
        };
        let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
        let ok = self.ok();
        json!({
            "id": self.id(),
            "workload": self.workload,
            "policy": self.policy,
            "size": self.size,
            "threads": self.threads,
            "engine": self.engine,
            "status": status,
            "note": self.note,
            "records_per_s": if ok { num(self.rate()) } else { Value::Null },
            "records_per_s_min": if ok { num(self.rate_min()) } else { Value::Null },
            "records_per_s_max": if ok { num(self.rate_max()) } else { Value::Null },
            "mib_per_s": if ok { num(self.mib_s()) } else { Value::Null },
            "p50_us": num(self.lat(|l| l.p50) / 1e3),
            "p99_us": num(self.lat(|l| l.p99) / 1e3),
            "p999_us": num(self.lat(|l| l.p999) / 1e3),
            "syncs_per_record": self.syncs_per_record(),
            "reps": self.reps.iter().copied().map(Rep::to_json).collect::<Vec<_>>(),
        })
    }
}

/// How long each repetition should take and how many to run.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Target seconds per repetition.
    pub secs: f64,
    pub reps: usize,
    /// Fewest records per repetition, whatever the rate.
    pub min_records: u64,
}

impl Budget {
    pub fn to_json(self) -> Value {
        json!({ "secs": self.secs, "reps": self.reps, "min_records": self.min_records })
    }

    pub fn from_json(v: &Value) -> Budget {
        Budget {
            secs: v["secs"].as_f64().unwrap_or(0.2),
            reps: v["reps"].as_u64().unwrap_or(3) as usize,
            min_records: v["min_records"].as_u64().unwrap_or(100),
        }
    }
}

/// What calibration decided for a cell; `run` receives it for every repetition.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    pub plan: Plan,
}

/// Warms the cell up with a run of half the target duration, sizes the repetitions from
/// the rate it reached (so every repetition takes about `budget.secs`), then runs them.
/// Calls that take less than 5 µs per thread are timed one in eight (the clock costs
/// ~20 ns a read), slower ones every time.
pub fn calibrated(
    budget: &Budget,
    threads: usize,
    mut run: impl FnMut(Plan) -> Rep,
) -> (Calibration, Vec<Rep>) {
    let warm = run(Plan::timed(Duration::from_secs_f64(
        (budget.secs * 0.5).max(0.02),
    )));
    let rate = warm.rate();
    let per_thread_rate = rate / threads as f64;
    let sample_every = if per_thread_rate > 200_000.0 { 8 } else { 1 };
    let total = ((rate * budget.secs) as u64).max(budget.min_records);
    let plan = Plan::count((total / threads as u64).max(1), sample_every);
    let reps = (0..budget.reps).map(|_| run(plan)).collect();
    (Calibration { plan }, reps)
}

/// Runs `f`, turning a panic (a peer that fails, an I/O error) into `Status::Failed`.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}
