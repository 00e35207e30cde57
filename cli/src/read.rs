//! `aof dump` and `aof tail`: records, one per line (or a hex dump, or JSON lines).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::{exit, fmt, LogArgs};

/// How records are printed.
#[derive(Args, Clone, Debug)]
pub struct Format {
    /// Payloads as a hex dump (human output), or as hex instead of base64 (--json)
    #[arg(long)]
    pub hex: bool,
    /// One JSON object per record and line: id, timestamp_us, timestamp, position, len,
    /// and payload_base64 (or payload_hex with --hex)
    #[arg(long)]
    pub json: bool,
    /// Human output shows at most this many payload bytes (0: all); JSON shows all
    #[arg(long, value_name = "BYTES", default_value_t = 256)]
    pub max_bytes: usize,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The first record to print (default: the oldest)
    #[arg(long, value_name = "ID")]
    pub from: Option<u64>,
    /// Print at most this many records
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Write to this file instead of standard output (with a progress bar)
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Start at this record (default: the last --lines records)
    #[arg(long, value_name = "ID", conflicts_with = "lines")]
    pub from: Option<u64>,
    /// How many of the last records to print before following
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    pub lines: u64,
    /// How often to look for new records, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub interval: u64,
    #[command(flatten)]
    pub format: Format,
}

/// Prints one record.
pub fn print_record(out: &mut impl Write, r: &aof::Record<'_>, f: &Format) -> io::Result<()> {
    if f.json {
        let (field, payload) = if f.hex {
            ("payload_hex", fmt::hex(r.data))
        } else {
            ("payload_base64", fmt::base64(r.data))
        };
        return writeln!(
            out,
            "{{\"id\":{},\"timestamp_us\":{},\"timestamp\":\"{}\",\"position\":{},\"len\":{},\
             \"{field}\":\"{payload}\"}}",
            r.id,
            r.timestamp_us,
            fmt::timestamp(r.timestamp_us),
            r.position,
            r.data.len()
        );
    }
    let shown = if f.max_bytes == 0 {
        r.data
    } else {
        &r.data[..r.data.len().min(f.max_bytes)]
    };
    let more = r.data.len() - shown.len();
    let more = if more > 0 {
        format!(" ... ({} more bytes)", fmt::count(more as u64))
    } else {
        String::new()
    };
    write!(
        out,
        "{:>8}  {}  pos {}  len {}",
        r.id,
        fmt::timestamp(r.timestamp_us),
        r.position,
        r.data.len()
    )?;
    if f.hex {
        writeln!(out, "{more}")?;
        return out.write_all(fmt::hex_dump(shown, "    ").as_bytes());
    }
    // A payload cut at max_bytes may end inside a character: judge the whole one.
    let text = fmt::is_text(r.data).then(|| String::from_utf8_lossy(shown));
    match text {
        Some(t) => writeln!(out, "  {t}{more}"),
        None => writeln!(out, "  hex {}{more}", fmt::hex(shown)),
    }
}

/// Ends quietly when the reader of our output went away (`aof dump | head`).
fn write_failed(e: &io::Error) -> u8 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        exit::OK
    } else {
        eprintln!("aof: write: {e}");
        exit::FAILED
    }
}

pub fn dump(a: &DumpArgs) -> u8 {
    let log = match a.log.open() {
        Ok(l) => l,
        Err(status) => return status,
    };
    let (first, last) = log.bounds();
    let from = a.from.unwrap_or(first);
    let mut cursor = match log.cursor(from) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aof: {e}");
            return exit::FAILED;
        }
    };
    let total = last.saturating_add(1).saturating_sub(from);
    let total = a.count.map_or(total, |c| c.min(total));
    let (mut out, bar): (Box<dyn Write>, _) = match &a.output {
        Some(path) => match File::create(path) {
            Ok(f) => (
                Box::new(BufWriter::new(f)),
                Some(crate::progress(total, "dump", false)),
            ),
            Err(e) => {
                eprintln!("aof: create {}: {e}", path.display());
                return exit::FAILED;
            }
        },
        None => (Box::new(BufWriter::new(io::stdout().lock())), None),
    };
    let mut printed = 0u64;
    // Up to the end as found at open: a writer may go on, `tail` follows it.
    while a.count.is_none_or(|c| printed < c) && cursor.next_id() <= last {
        match cursor.next() {
            Ok(Some(r)) => {
                if let Err(e) = print_record(&mut out, &r, &a.format) {
                    return write_failed(&e);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = out.flush();
                eprintln!("aof: {e}");
                return exit::FAILED;
            }
        }
        printed += 1;
        if let Some(bar) = &bar {
            if printed.is_multiple_of(1024) {
                bar.set_position(printed);
            }
        }
    }
    if let Err(e) = out.flush() {
        return write_failed(&e);
    }
    if let (Some(bar), Some(path)) = (bar, &a.output) {
        bar.finish_and_clear();
        eprintln!(
            "aof: {} records written to {}",
            fmt::count(printed),
            path.display()
        );
    }
    exit::OK
}

pub fn tail(a: &TailArgs) -> u8 {
    let mut log = match a.log.open() {
        Ok(l) => l,
        Err(status) => return status,
    };
    let (first, last) = log.bounds();
    let mut from = a
        .from
        .unwrap_or_else(|| last.saturating_add(1).saturating_sub(a.lines).max(first));
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let interval = Duration::from_millis(a.interval.max(1));
    loop {
        let mut cursor = match log.cursor(from) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("aof: {e}");
                return exit::FAILED;
            }
        };
        // Follow until the log loses records we have not read (retention): then start
        // again from the oldest one left.
        let gone = loop {
            match cursor.next() {
                Ok(Some(r)) => {
                    if let Err(e) = print_record(&mut out, &r, &a.format) {
                        return write_failed(&e);
                    }
                }
                Ok(None) => {
                    if let Err(e) = out.flush() {
                        return write_failed(&e);
                    }
                    std::thread::sleep(interval);
                }
                Err(aof::Error::Truncated { id, first }) => break (id, first),
                Err(e) => {
                    let _ = out.flush();
                    eprintln!("aof: {e}");
                    return exit::FAILED;
                }
            }
        };
        let _ = out.flush();
        eprintln!(
            "aof: records {}..{} were removed (retention) or archived before they were read; \
             going on from {}",
            gone.0, gone.1, gone.1
        );
        log = match a.log.open() {
            Ok(l) => l,
            Err(status) => return status,
        };
        from = gone.1.max(log.bounds().0);
    }
}
