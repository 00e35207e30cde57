//! `aof stat` and `aof dump` against logs made with the library.

mod common;

use base64::Engine as _;
use common::*;

#[test]
fn stat_numbers_match_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 300);
    let compressed = log.compress_now().unwrap();
    assert!(compressed >= 2);
    append(&log, 301, 310);
    let segments = log.metrics().segment_count;
    log.close().unwrap();
    drop(log);

    let out = run(&["stat", "--segments", dir_str(dir.path())]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    let payload: u64 = (1..=310).map(|i| payload(i).len() as u64).sum();
    assert!(text.contains("ids 1..=310: 310 records"), "{text}");
    assert!(text.contains(&format!("({payload} bytes)")), "{text}");
    assert!(
        text.contains(&format!("positions    0..{payload}")),
        "{text}"
    );
    assert!(text.contains("clean close  yes"), "{text}");
    assert!(text.contains("writer       none"), "{text}");
    assert!(text.contains("segment headers v1"), "{text}");
    let row = |name: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} row in {text}"));
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("compressed")[1], compressed.to_string());
    assert_eq!(row("active")[1], "1");
    assert_eq!(row("total")[1], segments.to_string());
    assert_eq!(row("total")[2], "310");
    assert_eq!(row("archived")[1], "0");
    // A ratio is shown for the compressed segments.
    assert!(row("compressed").last().unwrap().ends_with('x'), "{text}");
    // --segments lists each one.
    let listed = text
        .lines()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() >= 10 && words[0].parse::<u64>().is_ok()
        })
        .count();
    assert_eq!(listed as u64, segments, "{text}");
}

#[test]
fn stat_without_the_catalogue_and_of_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 40);
    let out = run(&["stat", "--no-catalog", dir_str(dir.path())]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("ids 1..=40: 40 records"), "{text}");
    assert!(text.contains("not read (--no-catalog)"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    aof::Log::open(empty.path(), small())
        .unwrap()
        .close()
        .unwrap();
    let out = run(&["stat", dir_str(empty.path())]);
    assert_eq!(status(&out), 0);
    assert!(
        stdout(&out).contains("records      none"),
        "{}",
        stdout(&out)
    );
}

/// The records `aof dump --json` printed: (id, position, payload).
fn parse_json(text: &str, hex: bool) -> Vec<(u64, u64, Vec<u8>)> {
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = v["timestamp"].as_str().unwrap();
            assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
            assert!(v["timestamp_us"].as_u64().unwrap() > 1_600_000_000_000_000);
            let payload = if hex {
                let h = v["payload_hex"].as_str().unwrap();
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                    .collect()
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(v["payload_base64"].as_str().unwrap())
                    .unwrap()
            };
            assert_eq!(v["len"].as_u64().unwrap(), payload.len() as u64);
            (
                v["id"].as_u64().unwrap(),
                v["position"].as_u64().unwrap(),
                payload,
            )
        })
        .collect()
}

#[test]
fn dump_json_round_trips_payloads() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 250);
    let d = dir_str(dir.path());

    let out = run(&["dump", "--json", d]);
    assert_eq!(status(&out), 0);
    let all = parse_json(&stdout(&out), false);
    assert_eq!(all.len(), 250);
    for (id, pos, data) in &all {
        assert_eq!(*data, payload(*id));
        assert_eq!(*pos, position(*id));
    }

    let out = run(&[
        "dump", "--json", "--hex", "--from", "120", "--count", "7", d,
    ]);
    assert_eq!(status(&out), 0);
    let some = parse_json(&stdout(&out), true);
    assert_eq!(
        some.iter().map(|r| r.0).collect::<Vec<_>>(),
        (120..127).collect::<Vec<_>>()
    );
    assert_eq!(some[..], all[119..126]);

    // Past the end: nothing; before the first id or far past it: an error.
    let out = run(&["dump", "--from", "251", d]);
    assert_eq!(status(&out), 0);
    assert_eq!(stdout(&out), "");
    let out = run(&["dump", "--from", "999", d]);
    assert_eq!(status(&out), 1);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn dump_prints_text_hex_and_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 12);
    let d = dir_str(dir.path());
    let out = run(&["dump", "--count", "3", d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // Record 1 is text, record 3 binary.
    assert!(lines[0].ends_with("record 1 x"), "{text}");
    assert!(lines[0].contains("pos 0  len 10"), "{text}");
    assert!(lines[0].contains("Z  pos"), "{text}");
    let hex3: String = payload(3).iter().map(|b| format!("{b:02x}")).collect();
    assert!(lines[2].ends_with(&format!("hex {hex3}")), "{text}");

    let out = run(&["dump", "--hex", "--from", "2", "--count", "1", d]);
    assert_eq!(status(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("00000000  72 65 63 6f 72 64 20 32"), "{text}");
    assert!(text.contains("|record 2 xx|"), "{text}");

    let file = dir.path().join("dump.jsonl");
    let out = run(&["dump", "--json", "-o", file.to_str().unwrap(), d]);
    assert_eq!(status(&out), 0);
    assert!(
        stderr(&out).contains("12 records written"),
        "{}",
        stderr(&out)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(parse_json(&written, false).len(), 12);
}

#[test]
fn reads_compressed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = aof::Log::open(dir.path(), small()).unwrap();
    append(&log, 1, 200);
    assert!(log.compress_now().unwrap() >= 2);
    log.close().unwrap();
    drop(log);
    let out = run(&["dump", "--json", dir_str(dir.path())]);
    assert_eq!(status(&out), 0);
    let all = parse_json(&stdout(&out), false);
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|(id, _, p)| *p == payload(*id)));
}

#[test]
fn cannot_open_has_its_own_status() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["stat", "dump", "verify", "tail"] {
        let missing = dir.path().join("missing");
        let out = run(&[cmd, missing.to_str().unwrap()]);
        assert_eq!(status(&out), 3, "{cmd}");
        assert!(stderr(&out).contains("cannot open"), "{cmd}");
        // A directory that is not a log.
        let out = run(&[cmd, dir_str(dir.path())]);
        assert_eq!(status(&out), 3, "{cmd}");
        assert!(stderr(&out).contains("not a log directory"), "{cmd}");
    }
    assert_eq!(run(&["dump", "--bogus", "x"]).status.code(), Some(2));
}
