//! Two processes, one directory: while one process has the log open, a second process
//! that opens it gets `Busy`, and the first is unaffected. Once the first closes, the
//! second can open it.

use std::process::Command;

use aof::{Error, Log, Options};

/// Child: try to open the log and say what happened.
#[test]
#[ignore = "child process of second_process_gets_busy"]
fn open_child() {
    let Ok(dir) = std::env::var("AOF_TWO_PROCESS_DIR") else {
        return;
    };
    match Log::open(&dir, Options::default()) {
        Err(Error::Busy(_)) => println!("RESULT BUSY"),
        Ok(log) => {
            println!("RESULT OPENED {}", log.last_id());
            log.close().unwrap();
        }
        Err(e) => println!("RESULT ERROR {e}"),
    }
}

fn run_child(dir: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "open_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("AOF_TWO_PROCESS_DIR", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let at = stdout.find("RESULT ").expect("child printed a result");
    stdout[at + 7..].lines().next().unwrap().trim().to_string()
}

#[test]
fn second_process_gets_busy() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(log.append(b"first").unwrap(), 1);
    assert_eq!(run_child(dir.path()), "BUSY");
    // The first process is unaffected.
    assert_eq!(log.append(b"second").unwrap(), 2);
    assert_eq!(log.read(1).unwrap(), b"first");
    assert_eq!(log.verify().unwrap().records, 2);
    log.close().unwrap();
    drop(log);
    assert_eq!(run_child(dir.path()), "OPENED 2");
}
