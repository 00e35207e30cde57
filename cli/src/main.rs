//! `aof`: inspect, follow, verify, repair and benchmark libaof logs.
//!
//! `stat`, `dump`, `tail` and `verify` open the log read-only (`aof::ReadOnlyLog`): they
//! never take the directory lock and never write, so they run beside a writer in another
//! process without disturbing it. `repair` opens the log for writing.

mod bench;
mod fmt;
mod read;
mod repair;
mod stat;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit statuses, the same for every command.
pub mod exit {
    /// Success (for `verify`: no damage).
    pub const OK: u8 = 0;
    /// A failure, or damage found (`verify`), or a repair declined.
    pub const FAILED: u8 = 1;
    /// Bad arguments (clap's own status).
    pub const USAGE: u8 = 2;
    /// The log could not be opened: no such directory, not a log, no permission.
    pub const CANNOT_OPEN: u8 = 3;
    /// A writer holds the log (`repair`).
    pub const BUSY: u8 = 4;
}

#[derive(Parser)]
#[command(
    name = "aof",
    version,
    about = "Inspect, follow, verify, repair and benchmark libaof logs",
    after_help = "Exit status: 0 success (verify: no damage), 1 failure or damage found, \
                  2 bad arguments, 3 the log cannot be opened, 4 a writer holds the log \
                  (repair).\n\nstat, dump, tail and verify read a log without its lock and \
                  without writing: they can run beside the process that writes it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Segments per tier, ids, records, sizes, compression, positions, clean close, versions
    Stat(stat::StatArgs),
    /// Print records (id, timestamp, byte position, length, payload)
    Dump(read::DumpArgs),
    /// Print the last records, then follow the log as it grows (Ctrl-C ends it)
    Tail(read::TailArgs),
    /// Check every segment of every tier and report every damaged range
    Verify(verify::VerifyArgs),
    /// Cut a torn or damaged tail (opens the log for writing; asks first)
    Repair(repair::RepairArgs),
    /// A small benchmark of the library: appends (Sync, Batched) and reads
    Bench(bench::BenchArgs),
}

/// The log to read, and where its archived segments are.
#[derive(Args, Clone, Debug)]
pub struct LogArgs {
    /// The log directory
    pub dir: PathBuf,
    /// Do not read the catalogue: the segment files alone (positions then start at 0 at
    /// the oldest file, and archived segments are unknown)
    #[arg(long)]
    pub no_catalog: bool,
    /// The directory archive of the log's manager, to read archived segments
    #[arg(long, value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,
    /// The key prefix of the manager's archive (ArchiveOptions::prefix)
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub archive_prefix: String,
    #[cfg(feature = "s3")]
    #[command(flatten)]
    pub s3: S3Args,
}

/// An S3 archive (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY if set,
/// else the SDK's default chain).
#[cfg(feature = "s3")]
#[derive(Args, Clone, Debug)]
pub struct S3Args {
    /// The bucket of the manager's S3 archive, to read archived segments
    #[arg(long, value_name = "BUCKET", conflicts_with = "archive_dir")]
    pub s3_bucket: Option<String>,
    /// Its region
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Its endpoint URL, for S3-compatible stores (MinIO, Ceph, Garage ...)
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Path-style addressing (endpoint/bucket/key), which most self-hosted stores need
    #[arg(long)]
    pub s3_path_style: bool,
    /// The bucket's key prefix (S3Config::prefix)
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub s3_prefix: String,
}

impl LogArgs {
    /// The archive options these arguments give, if any.
    pub fn archive(&self) -> Option<aof::tier::cold::ArchiveOptions> {
        use aof::tier::cold::{ArchiveOptions, Backend};
        let backend = match &self.archive_dir {
            Some(dir) => Backend::Filesystem(dir.clone()),
            None => self.s3_backend()?,
        };
        let mut options = ArchiveOptions::new(backend);
        options.prefix = self.archive_prefix.clone();
        Some(options)
    }

    #[cfg(feature = "s3")]
    fn s3_backend(&self) -> Option<aof::tier::cold::Backend> {
        let s3 = &self.s3;
        let mut config = aof::tier::archive::S3Config::new(s3.s3_bucket.clone()?, &s3.s3_region);
        config.endpoint = s3.s3_endpoint.clone();
        config.path_style = s3.s3_path_style;
        config.prefix = s3.s3_prefix.clone();
        if let (Ok(id), Ok(secret)) = (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            config.credentials = Some((id, secret));
        }
        Some(aof::tier::cold::Backend::S3(config))
    }

    #[cfg(not(feature = "s3"))]
    fn s3_backend(&self) -> Option<aof::tier::cold::Backend> {
        None
    }

    /// Opens the log read-only; on failure prints why and gives the status to exit with.
    pub fn open(&self) -> Result<aof::ReadOnlyLog, u8> {
        let options = aof::ReadOnlyOptions {
            use_catalog: !self.no_catalog,
            archive: self.archive(),
        };
        aof::ReadOnlyLog::open_with(&self.dir, options).map_err(|e| {
            eprintln!("aof: cannot open {}: {e}", self.dir.display());
            exit::CANNOT_OPEN
        })
    }
}

/// A progress bar on stderr for `len` units (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str, bytes: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let template = if bytes {
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Stat(a) => stat::run(&a),
        Command::Dump(a) => read::dump(&a),
        Command::Tail(a) => read::tail(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Repair(a) => repair::run(&a),
        Command::Bench(a) => bench::run(&a),
    };
    ExitCode::from(status)
}
