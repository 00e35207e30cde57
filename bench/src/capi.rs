//! Runs `bench/c/capi_bench.c` (built by `make bench` against the release static library)
//! and turns what it prints into repetitions.

use std::path::Path;
use std::process::Command;

use crate::readers::parse_results;
use crate::stats::{Policy, Rep};
use crate::util::{fresh_dir, remove_dir};

fn run(bin: &Path, args: &[String]) -> Result<Vec<serde_json::Value>, String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    parse_results(&out)
}

/// One append run of `count` records through the C API (one thread), in a fresh log.
pub fn append(
    bin: &Path,
    dir: &Path,
    policy: Policy,
    size: usize,
    count: u64,
    sample_every: u64,
) -> Result<Rep, String> {
    let path = dir.join("capi");
    fresh_dir(&path);
    let r = run(
        bin,
        &[
            "append".into(),
            path.display().to_string(),
            size.to_string(),
            count.to_string(),
            policy.id(),
            sample_every.to_string(),
        ],
    );
    remove_dir(&path);
    r?.first()
        .and_then(Rep::from_json)
        .ok_or_else(|| "no result from capi_bench".into())
}

/// Scans and random reads through the C API: fills `records`, then `reps` measured
/// passes of each after a warm-up pass.
pub fn readers(
    bin: &Path,
    dir: &Path,
    size: usize,
    records: u64,
    reps: usize,
    reads: u64,
) -> Result<(Vec<Rep>, Vec<Rep>), String> {
    let path = dir.join("capi-read");
    fresh_dir(&path);
    let r = run(
        bin,
        &[
            "readers".into(),
            path.display().to_string(),
            size.to_string(),
            records.to_string(),
            reps.to_string(),
            reads.to_string(),
        ],
    );
    remove_dir(&path);
    let (mut scans, mut reads_out) = (Vec::new(), Vec::new());
    for v in r? {
        if v["rep"].as_u64() == Some(0) {
            continue;
        }
        let rep = Rep::from_json(&v).ok_or("bad capi_bench output")?;
        match v["kind"].as_str() {
            Some("scan") => scans.push(rep),
            Some("read") => reads_out.push(rep),
            _ => {}
        }
    }
    Ok((scans, reads_out))
}
