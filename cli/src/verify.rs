//! `aof verify`: every segment of every tier, every damaged range.

use aof::SegmentTier;
use clap::Args;

use crate::{exit, fmt, LogArgs};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub log: LogArgs,
}

pub fn run(a: &VerifyArgs) -> u8 {
    let log = match a.log.open() {
        Ok(l) => l,
        Err(status) => return status,
    };
    let holder = aof::lock_holder(log.dir());
    let writer_active = holder.may_be_held();
    let sizes: Vec<u64> = log
        .segments()
        .iter()
        .map(|s| match (&s.tier_entry, s.tier) {
            (Some(t), SegmentTier::Archived | SegmentTier::Compressed) => t.plain_len,
            _ => s.file_len,
        })
        .collect();
    let bar = crate::progress(sizes.iter().sum(), "verify", true);
    let mut done = 0;
    let mut i = 0;
    let result = log.verify(writer_active, |s| {
        bar.set_position(done);
        bar.set_message(format!("verify {}", s.base_id));
        done += sizes[i];
        i += 1;
    });
    bar.finish_and_clear();
    let v = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("aof: verify {}: {e}", log.dir().display());
            return exit::FAILED;
        }
    };
    let [plain, compressed, archived] = v.checked;
    println!(
        "checked {} segments ({plain} plain, {compressed} compressed, {archived} archived): \
         {} records, {} of payload",
        v.report.segments,
        fmt::count(v.report.records),
        fmt::bytes(v.report.bytes)
    );
    for (base, why) in &v.unchecked {
        println!("not checked: segment {base}: {why}");
    }
    if v.tail_in_flight {
        println!(
            "the active segment was checked up to its last whole record only: a writer \
             has the log open"
        );
    }
    if v.is_clean() {
        println!("no damage");
        return exit::OK;
    }
    println!("{} damaged range(s):", v.report.damage.len());
    for d in &v.report.damage {
        println!("  {d}");
    }
    exit::FAILED
}
