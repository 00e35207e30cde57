//! Where each segment of a log under a manager is, seen from outside: its local files, its
//! objects in a directory archive (no key prefix) and its catalogue entry (read with
//! `Catalog::open` while no manager has the root open). Used by the archive's failpoint
//! and crash tests to check that every segment is in exactly one place and that no object
//! is left that the catalogue does not refer to.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aof::catalog::{Catalog, Location, SegmentState, UploadState};

/// The local files of one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Local {
    pub plain: bool,
    pub zst: bool,
    pub tmp: bool,
}

/// The segment files of a log directory, by base id.
pub fn local_files(dir: &Path) -> BTreeMap<u64, Local> {
    let mut out: BTreeMap<u64, Local> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.len() < 20 || !name.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
            continue;
        }
        let f = out.entry(name[..20].parse().unwrap()).or_default();
        match &name[20..] {
            ".seg" => f.plain = true,
            ".seg.zst" => f.zst = true,
            ".seg.zst.tmp" => f.tmp = true,
            _ => panic!("unexpected file {name}"),
        }
    }
    out
}

/// The objects of log `uid` in a directory archive.
#[derive(Debug, Default)]
pub struct Objects {
    /// Segment objects by base id, with their inode (a re-used object keeps it).
    pub by_base: BTreeMap<u64, u64>,
    /// Temporary upload files (`.aof-tmp.*`) left by an interrupted put, with the base id
    /// of the object they were for.
    pub tmp: Vec<(String, u64)>,
    /// Any other name.
    pub other: Vec<String>,
}

pub fn objects(archive: &Path, uid: u64) -> Objects {
    let mut out = Objects::default();
    let Ok(entries) = std::fs::read_dir(archive.join(format!("{uid:016x}"))) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let base = name
            .strip_suffix(".seg.zst")
            .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok());
        match base {
            Some(b) => {
                out.by_base.insert(b, e.metadata().unwrap().ino());
            }
            None if name.starts_with(".aof-tmp.") => {
                let base = name[".aof-tmp.".len()..][..20].parse().unwrap();
                out.tmp.push((name, base));
            }
            None => out.other.push(name),
        }
    }
    out
}

/// What the catalogue says of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub state: SegmentState,
    pub location: Location,
    pub upload: Option<UploadState>,
}

/// The catalogue's entries of log `name` under manager root `root` (no manager may have it
/// open), with the log's uid.
pub fn catalogue(root: &Path, name: &str) -> (u64, BTreeMap<u64, Entry>) {
    try_catalogue(root, name).expect("the log is in the catalogue")
}

/// The same, or `None` if the catalogue has no such log (yet).
pub fn try_catalogue(root: &Path, name: &str) -> Option<(u64, BTreeMap<u64, Entry>)> {
    let c = Catalog::open(root).unwrap();
    let uid = c.log(name).unwrap()?.uid;
    let mut out = BTreeMap::new();
    for (base, e) in c.segments(uid).unwrap() {
        let upload = c.tier(uid, base).unwrap().map(|t| t.upload);
        out.insert(
            base,
            Entry {
                state: e.state,
                location: e.location,
                upload,
            },
        );
    }
    Some((uid, out))
}

/// Where the segments were found, by `check_places`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places {
    pub uid: u64,
    pub plain: Vec<u64>,
    pub compressed: Vec<u64>,
    pub archived: Vec<u64>,
    /// Compressed segments with an upload Started (a kill or a failure between the Started
    /// and the Verified commits).
    pub started: Vec<u64>,
    /// ... of which an object exists (put, not yet recorded as verified).
    pub started_with_object: Vec<u64>,
    /// Archived segments whose compressed file is still there (a kill or a failure between
    /// the Verified commit and the unlink; open removes it).
    pub archived_with_local: Vec<u64>,
    /// Compressions in progress (`.seg.zst.tmp`) or not settled (both local files).
    pub moves_in_progress: Vec<u64>,
    /// Local files with no catalogue entry (a crash between creating a segment file and
    /// recording it).
    pub files_without_entries: Vec<u64>,
    /// Temporary files of interrupted puts in the archive.
    pub archive_tmp: Vec<String>,
}

/// Checks that each segment is in exactly one place and that every object of the log in
/// the archive is referred to by the catalogue (archived, or with an upload started).
/// `settled`: an open ran since the last change (no leftovers of interrupted moves may be
/// left); else they are tolerated and reported. Panics naming `what` otherwise.
pub fn check_places(what: &str, root: &Path, name: &str, archive: &Path, settled: bool) -> Places {
    let (uid, entries) = catalogue(root, name);
    let local = local_files(&root.join(name));
    let objs = objects(archive, uid);
    let mut p = Places {
        uid,
        archive_tmp: objs.tmp.iter().map(|(n, _)| n.clone()).collect(),
        ..Places::default()
    };
    assert!(
        objs.other.is_empty(),
        "{what}: foreign objects {:?}",
        objs.other
    );
    for (&base, e) in &entries {
        let f = local.get(&base).copied().unwrap_or_default();
        let object = objs.by_base.contains_key(&base);
        if e.state == SegmentState::Deleting {
            assert!(
                !settled,
                "{what}: segment {base} is being deleted after open"
            );
            continue;
        }
        if f.tmp || (f.plain && f.zst) {
            assert!(!settled, "{what}: segment {base}: {f:?} after open");
            p.moves_in_progress.push(base);
        }
        match e.location {
            Location::Archived => {
                assert_eq!(e.upload, Some(UploadState::Verified), "{what}: {base}");
                assert!(object, "{what}: archived segment {base} has no object");
                if f.plain || f.zst {
                    assert!(
                        !settled,
                        "{what}: archived segment {base} has a local file after open: {f:?}"
                    );
                    p.archived_with_local.push(base);
                }
                p.archived.push(base);
            }
            Location::LocalCompressed => {
                assert!(
                    f.zst,
                    "{what}: compressed segment {base} has no file: {f:?}"
                );
                let upload = e.upload.expect("a compressed segment has a tier entry");
                assert_ne!(upload, UploadState::Verified, "{what}: {base}");
                if upload == UploadState::Started {
                    p.started.push(base);
                    if object {
                        p.started_with_object.push(base);
                    }
                } else {
                    assert!(!object, "{what}: segment {base}: an object before Started");
                }
                p.compressed.push(base);
            }
            _ => {
                assert!(f.plain, "{what}: segment {base} ({e:?}) has no file: {f:?}");
                assert!(!object, "{what}: plain segment {base} has an object");
                p.plain.push(base);
            }
        }
    }
    for (&base, f) in &local {
        if !entries.contains_key(&base) {
            assert!(
                !settled,
                "{what}: file of segment {base} has no entry: {f:?}"
            );
            p.files_without_entries.push(base);
        }
    }
    // A put is interrupted only after its upload was recorded as Started, and the next put
    // or delete of the key removes what it left: a temporary file left by a crash belongs
    // to an upload still Started.
    for (n, base) in &objs.tmp {
        assert!(
            p.started.contains(base),
            "{what}: temporary file {n} of an upload not in progress ({:?})",
            entries.get(base)
        );
    }
    let orphans: Vec<u64> = objs
        .by_base
        .keys()
        .filter(|b| !p.archived.contains(b) && !p.started.contains(b))
        .copied()
        .collect();
    assert!(
        orphans.is_empty(),
        "{what}: objects no entry refers to: {orphans:?} ({entries:?})"
    );
    p
}
