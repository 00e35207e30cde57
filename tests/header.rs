//! `include/aof.h` must be exactly what cbindgen generates from `src/ffi/` with
//! `cbindgen.toml`. Regenerate it with `make header` (runs this test with `AOF_BLESS=1`).

use std::fs;
use std::path::Path;

#[test]
fn committed_header_matches_cbindgen_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    // The input is src/ffi/mod.rs, not the crate: only the C API goes into the header.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("cbindgen output is UTF-8");

    // `cbindgen --config cbindgen.toml` on the whole crate (what a user or a hook runs)
    // must give the same header: engine constants stay out through `[export] exclude`.
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let whole = cbindgen::generate_with_config(root, config)
        .unwrap_or_else(|e| panic!("cbindgen on the crate failed: {e}"));
    let mut whole_out = Vec::new();
    whole.write(&mut whole_out);
    let whole_out = String::from_utf8(whole_out).expect("cbindgen output is UTF-8");
    if whole_out != generated {
        let extra: Vec<&str> = whole_out
            .lines()
            .filter(|l| l.starts_with("#define") && !generated.contains(*l))
            .collect();
        panic!(
            "cbindgen on the whole crate emits more than src/ffi does; add the engine \
             constants to [export] exclude in cbindgen.toml: {extra:?}"
        );
    }

    let header = root.join("include/aof.h");
    if std::env::var_os("AOF_BLESS").is_some() {
        fs::create_dir_all(header.parent().unwrap()).unwrap();
        fs::write(&header, &generated).unwrap();
        eprintln!("wrote {}", header.display());
        return;
    }
    let committed = fs::read_to_string(&header).unwrap_or_default();
    if committed == generated {
        return;
    }

    let fresh = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aof.h.generated");
    fs::write(&fresh, &generated).unwrap();
    let (old, new): (Vec<&str>, Vec<&str>) =
        (committed.lines().collect(), generated.lines().collect());
    let first = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    let show = |lines: &[&str]| {
        lines
            .iter()
            .enumerate()
            .skip(first.saturating_sub(2))
            .take(6)
            .map(|(i, l)| format!("  {:5} | {l}\n", i + 1))
            .collect::<String>()
    };
    panic!(
        "include/aof.h is stale: it differs from the cbindgen output from line {} on.\n\
         committed:\n{}generated:\n{}\
         See everything with: diff -u include/aof.h {}\n\
         Regenerate with: make header   (or AOF_BLESS=1 cargo test --test header)",
        first + 1,
        show(&old),
        show(&new),
        fresh.display()
    );
}
