//! Every function of the C API lists the statuses it returns twice: in its doc comment in
//! `include/aof.h` (generated from `src/ffi/`) and in its section of `docs/C_API.md`. This
//! test fails when the two lists differ, for any function the header declares, so a
//! function added later is checked as soon as it exists.
//!
//! A list is a paragraph that starts with `Statuses:`: in the header, a paragraph of the
//! function's doc comment (lines up to a blank ` *` line); in C_API.md, a paragraph (lines
//! up to a blank line) of the function's section, which runs from its `###` heading (one
//! section may have several headings, for functions documented together) to the next
//! heading. Every status name in the paragraph counts, those in parenthesised explanations
//! included. `AOF_ERR_PANIC` and `AOF_ERR_INTERNAL` are not compared: any call may return
//! them (a bug), which both documents say once, in their conventions.
//!
//! Checked:
//! - every function the header declares has a section in C_API.md, and every function a
//!   section heading names is declared in the header;
//! - a function returning `aof_status_t` has exactly one list in the header and one in
//!   its section of C_API.md, each including `AOF_OK`; in the header, a function
//!   returning anything else has none;
//! - every `AOF_*` status name in a list is a status the header defines;
//! - the two lists of a function name the same statuses.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Statuses any call may return, documented once in the conventions of both documents.
const ANY_CALL: [&str; 2] = ["AOF_ERR_PANIC", "AOF_ERR_INTERNAL"];

/// A function declared in the header.
struct Declared {
    returns_status: bool,
    /// The statuses of each `Statuses:` paragraph of its doc comment.
    lists: Vec<BTreeSet<String>>,
}

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The identifiers in `text` that start with `prefix` (`[A-Za-z0-9_]` after it), in order.
fn identifiers<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let preceded = rest[..at].chars().next_back().is_some_and(is_ident);
        let tail = &rest[at..];
        let len = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
        if !preceded {
            out.push(&tail[..len]);
        }
        rest = &tail[len..];
    }
    out
}

/// `AOF_OK`, `AOF_END`, `AOF_TIMED_OUT` or an `AOF_ERR_*` name.
fn is_status_name(name: &str) -> bool {
    matches!(name, "AOF_OK" | "AOF_END" | "AOF_TIMED_OUT") || name.starts_with("AOF_ERR_")
}

/// The status names of a `Statuses:` paragraph (every `AOF_OK`, `AOF_END`,
/// `AOF_TIMED_OUT`, `AOF_ERR_*` in it).
fn statuses_in(paragraph: &str) -> BTreeSet<String> {
    identifiers(paragraph, "AOF_")
        .into_iter()
        .filter(|n| is_status_name(n))
        .map(str::to_owned)
        .collect()
}

/// Splits lines into paragraphs (runs of non-blank lines), joined with spaces.
fn paragraphs<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

fn lists_of(paras: &[String]) -> Vec<BTreeSet<String>> {
    paras
        .iter()
        .filter(|p| p.starts_with("Statuses:"))
        .map(|p| statuses_in(p))
        .collect()
}

/// The status names the header defines (`#define AOF_ERR_NULL_ARG -1`, ...).
fn defined_statuses(header: &str) -> BTreeSet<String> {
    header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_status_name(n))
        .map(str::to_owned)
        .collect()
}

/// The functions the header declares, with the lists of their doc comments. cbindgen
/// writes each declaration at the start of a line, right after its `/** ... */` comment.
fn declared(header: &str) -> BTreeMap<String, Declared> {
    let mut out = BTreeMap::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut in_doc = false;
    let mut doc_ended_on: Option<usize> = None;
    for (n, line) in header.lines().enumerate() {
        if line.trim_start().starts_with("/**") {
            in_doc = true;
            doc.clear();
            continue;
        }
        if in_doc {
            if line.trim() == "*/" {
                in_doc = false;
                doc_ended_on = Some(n);
            } else {
                let text = line.trim_start();
                doc.push(text.strip_prefix('*').unwrap_or(text));
            }
            continue;
        }
        let starts_decl =
            line.starts_with(|c: char| c.is_ascii_lowercase()) && !line.starts_with("typedef");
        let Some(open) = line.find('(').filter(|_| starts_decl) else {
            continue;
        };
        let before = &line[..open];
        let name = before.rsplit([' ', '*']).next().unwrap_or("");
        if !name.starts_with("aof_") {
            continue;
        }
        let lists = if doc_ended_on == Some(n.wrapping_sub(1)) {
            lists_of(&paragraphs(doc.iter().copied()))
        } else {
            Vec::new()
        };
        let returns = before[..before.len() - name.len()].trim();
        out.insert(
            name.to_owned(),
            Declared {
                returns_status: returns == "aof_status_t",
                lists,
            },
        );
    }
    out
}

/// For each function a `###` heading of C_API.md names: the lists of its section.
fn documented(api: &str) -> BTreeMap<String, Vec<BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let mut in_fence = false;
    let mut headings_only = false;
    let mut flush = |names: &mut Vec<String>, body: &mut Vec<&str>| {
        let lists = lists_of(&paragraphs(body.iter().copied()));
        for name in names.drain(..) {
            out.insert(name, lists.clone());
        }
        body.clear();
    };
    for line in api.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            // A fence ends a paragraph; its lines are not prose.
            body.push("");
            headings_only = false;
            continue;
        }
        if in_fence {
            continue;
        }
        if line.starts_with('#') {
            let heading_names: Vec<String> = identifiers(line, "aof_")
                .into_iter()
                .filter(|n| line.contains(&format!("{n}(")))
                .map(str::to_owned)
                .collect();
            if line.starts_with("### ") && !heading_names.is_empty() {
                if !headings_only {
                    flush(&mut names, &mut body);
                }
                names.extend(heading_names);
                headings_only = true;
            } else {
                flush(&mut names, &mut body);
                headings_only = false;
            }
            continue;
        }
        if !line.trim().is_empty() {
            headings_only = false;
        }
        body.push(line);
    }
    flush(&mut names, &mut body);
    out
}

#[test]
fn header_and_c_api_md_give_every_function_the_same_statuses() {
    let header = read("include/aof.h");
    let api = read("docs/C_API.md");
    let statuses = defined_statuses(&header);
    assert!(
        statuses.contains("AOF_OK") && statuses.contains("AOF_ERR_NULL_ARG"),
        "no status #defines found in include/aof.h"
    );
    let declared = declared(&header);
    let documented = documented(&api);
    assert!(
        declared.len() > 50,
        "found only {} declarations",
        declared.len()
    );

    let mut problems = Vec::new();
    for name in documented.keys() {
        if !declared.contains_key(name) {
            problems.push(format!(
                "{name}: C_API.md has a section, the header declares no such function"
            ));
        }
    }
    let compared = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter()
            .filter(|s| !ANY_CALL.contains(&s.as_str()))
            .cloned()
            .collect()
    };
    let mut checked = 0;
    for (name, decl) in &declared {
        let Some(doc_lists) = documented.get(name) else {
            problems.push(format!(
                "{name}: no section in C_API.md (a `### ` heading naming it)"
            ));
            continue;
        };
        if !decl.returns_status {
            if !decl.lists.is_empty() {
                problems.push(format!(
                    "{name}: returns no status, but its header comment has a Statuses list"
                ));
            }
            continue;
        }
        let (h, d) = match (decl.lists.as_slice(), doc_lists.as_slice()) {
            ([h], [d]) => (h, d),
            (h, d) => {
                problems.push(format!(
                    "{name}: {} Statuses lists in the header comment and {} in C_API.md \
                     (one each, a paragraph starting with `Statuses:`)",
                    h.len(),
                    d.len()
                ));
                continue;
            }
        };
        for (which, list) in [("header", h), ("C_API.md", d)] {
            if !list.contains("AOF_OK") {
                problems.push(format!("{name}: the {which} list lacks AOF_OK"));
            }
            for unknown in list.difference(&statuses) {
                problems.push(format!(
                    "{name}: the {which} list names {unknown}, no status"
                ));
            }
        }
        let (h, d) = (compared(h), compared(d));
        if h != d {
            let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
                a.difference(b).cloned().collect::<Vec<_>>().join(", ")
            };
            problems.push(format!(
                "{name}: the lists differ; only in the header: [{}]; only in C_API.md: [{}]",
                only(&h, &d),
                only(&d, &h)
            ));
        }
        checked += 1;
    }
    assert!(
        problems.is_empty(),
        "include/aof.h (src/ffi/) and docs/C_API.md disagree:\n  {}",
        problems.join("\n  ")
    );
    assert!(checked > 40, "compared only {checked} functions");
}

#[test]
fn the_parsers_find_lists() {
    let header = "#define AOF_OK 0\n#define AOF_ERR_NULL_ARG -1\n\n/**\n * Does x.\n *\n \
                  * Statuses: `AOF_OK`, `AOF_ERR_NULL_ARG` (`x` is NULL),\n * \
                  `AOF_ERR_PANIC`.\n *\n * # Safety\n * None.\n */\naof_status_t aof_x(int \
                  *x);\n\n/**\n * A version.\n */\nconst char *aof_y(void);\n";
    let d = declared(header);
    assert!(d["aof_x"].returns_status && !d["aof_y"].returns_status);
    let want: BTreeSet<String> = ["AOF_OK", "AOF_ERR_NULL_ARG", "AOF_ERR_PANIC"]
        .map(String::from)
        .into();
    assert_eq!(d["aof_x"].lists, vec![want.clone()]);
    assert!(d["aof_y"].lists.is_empty());

    let api = "## Part\n\n### `aof_status_t aof_a(void)`\n### `aof_status_t aof_b(void)`\n\
               Text `AOF_ERR_NULL_ARG`.\n\n```c\n#include <x.h>\n```\nStatuses: `AOF_OK`,\n\
               `AOF_ERR_NULL_ARG` (`x` is NULL), `AOF_ERR_PANIC`.\n\n### `void aof_c(void)`\n\
               Frees.\n";
    let d = documented(api);
    assert_eq!(d["aof_a"], vec![want.clone()]);
    assert_eq!(d["aof_b"], vec![want]);
    assert!(d["aof_c"].is_empty());
}
