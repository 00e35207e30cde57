//! The catalogue's transactions: the checked lookups and range walks every read makes
//! (see `seek`), and [`Batch`], the one write transaction a change runs in.

use super::*;

/// An entry as the cursor returns it: copied out of a write transaction, borrowed in a
/// read one.
pub(super) type Kv<'t> = (Cow<'t, [u8]>, Cow<'t, [u8]>);

/// Positions `cursor` at the first entry whose key is at least `key` and returns it, after
/// proving libmdbx's search did not go astray.
///
/// libmdbx checks the shape of its pages (`MDBX_VALIDATION`) but not their keys, so a
/// damaged separator key or child pointer in a branch page can route a search to the
/// wrong leaf: a key that is there would read as absent, and a range would miss its
/// start. Measured: single bit flips did that, silently, in 2 of the first 2,000 tried.
/// So the entry found (when it is not `key` itself) and the one before it must both carry
/// valid checksums (which cover their keys) and lie on their sides of `key`; otherwise the
/// catalogue is damaged.
pub(super) fn seek<'t, K: TransactionKind>(
    c: &Catalog,
    cursor: &mut Cursor<'t, K>,
    key: &[u8],
) -> Result<Option<Kv<'t>>> {
    let read = |e| c.mdbx("read", e);
    let astray = || {
        c.error(format!(
            "damaged: the search for key {key:02x?} went astray (keys out of order)"
        ))
    };
    let intact = |kv: &Kv<'_>| {
        check_value_crc(&kv.0, &kv.1)
            .map_err(|e| c.damaged(format_args!("entry with key {:02x?}", &kv.0[..]), e))
    };
    let found: Option<Kv<'t>> = cursor.set_range(key).map_err(read)?;
    match &found {
        Some(kv) if kv.0.as_ref() == key => {}
        Some(kv) => {
            intact(kv)?;
            if kv.0.as_ref() < key {
                return Err(astray());
            }
            if let Some(before) = cursor
                .prev::<Cow<'t, [u8]>, Cow<'t, [u8]>>()
                .map_err(read)?
            {
                intact(&before)?;
                if before.0.as_ref() >= key {
                    return Err(astray());
                }
                // Back to the entry found, for a caller that walks on from it.
                let again: Option<Kv<'t>> = cursor.next().map_err(read)?;
                if again.as_ref().map(|kv| kv.0.as_ref()) != Some(kv.0.as_ref()) {
                    return Err(astray());
                }
            }
        }
        None => {
            if let Some(last) = cursor
                .last::<Cow<'t, [u8]>, Cow<'t, [u8]>>()
                .map_err(read)?
            {
                intact(&last)?;
                if last.0.as_ref() >= key {
                    return Err(astray());
                }
            }
        }
    }
    Ok(found)
}

/// The value stored at exactly `key` in `table`, found through [`seek`].
pub(super) fn lookup<'t, K: TransactionKind>(
    c: &Catalog,
    txn: &'t Transaction<'_, K, NoWriteMap>,
    table: &Table<'t>,
    key: &[u8],
) -> Result<Option<Cow<'t, [u8]>>> {
    let mut cursor = txn.cursor(table).map_err(|e| c.mdbx("cursor", e))?;
    Ok(seek(c, &mut cursor, key)?
        .filter(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v))
}

/// The tier entry of segment `base` of log `uid`, in `tiers` (absent: the table was never
/// created).
pub(super) fn read_tier<K: TransactionKind>(
    c: &Catalog,
    txn: &Transaction<'_, K, NoWriteMap>,
    tiers: Option<&Table<'_>>,
    uid: u64,
    base: u64,
) -> Result<Option<TierEntry>> {
    let Some(tiers) = tiers else {
        return Ok(None);
    };
    let key = segment_key(uid, base);
    let Some(bytes) = lookup(c, txn, tiers, &key)? else {
        return Ok(None);
    };
    TierEntry::decode(&key, &bytes).map(Some).map_err(|e| {
        c.damaged(
            format_args!("tier entry of segment {base} of log uid {uid}"),
            e,
        )
    })
}

/// Table `tiers` if it exists.
pub(super) fn tiers_table<'t, K: TransactionKind>(
    c: &Catalog,
    txn: &'t Transaction<'_, K, NoWriteMap>,
) -> Result<Option<Table<'t>>> {
    match txn.open_table(Some(TABLE_TIERS)) {
        Ok(t) => Ok(Some(t)),
        Err(libmdbx::Error::NotFound) => Ok(None),
        Err(e) => Err(c.mdbx("open table", e)),
    }
}

/// Reads shared by [`Reader`] (a read transaction) and [`Batch`] (the write transaction).
pub(super) fn read_log<K: TransactionKind>(
    c: &Catalog,
    txn: &Transaction<'_, K, NoWriteMap>,
    name: &str,
) -> Result<Option<LogMeta>> {
    let logs = c.table(txn, TABLE_LOGS)?;
    let Some(bytes) = lookup(c, txn, &logs, name.as_bytes())? else {
        return Ok(None);
    };
    LogMeta::decode(name.as_bytes(), &bytes)
        .map(Some)
        .map_err(|e| c.damaged(format_args!("entry of log {name:?}"), e))
}

pub(super) fn read_segment<K: TransactionKind>(
    c: &Catalog,
    txn: &Transaction<'_, K, NoWriteMap>,
    uid: u64,
    base: u64,
) -> Result<Option<SegmentEntry>> {
    let segments = c.table(txn, TABLE_SEGMENTS)?;
    let key = segment_key(uid, base);
    let Some(bytes) = lookup(c, txn, &segments, &key)? else {
        return Ok(None);
    };
    SegmentEntry::decode(&key, &bytes)
        .map(Some)
        .map_err(|e| c.damaged(format_args!("entry of segment {base} of log uid {uid}"), e))
}

pub(super) fn read_segments<K: TransactionKind>(
    c: &Catalog,
    txn: &Transaction<'_, K, NoWriteMap>,
    uid: u64,
) -> Result<Vec<(u64, SegmentEntry)>> {
    let mut out = Vec::new();
    walk_segments(c, txn, uid, |base, entry| out.push((base, entry)))?;
    Ok(out)
}

/// Hands every entry of log `uid` to `each`, in base id order, checking every key it
/// looks at: the walk starts with [`seek`], the keys must ascend, and the first key past
/// the range must carry a valid checksum too (a damaged key could otherwise pass for the
/// end of the range and silently hide the entries after it).
pub(super) fn walk_segments<K: TransactionKind>(
    c: &Catalog,
    txn: &Transaction<'_, K, NoWriteMap>,
    uid: u64,
    mut each: impl FnMut(u64, SegmentEntry),
) -> Result<()> {
    let segments = c.table(txn, TABLE_SEGMENTS)?;
    let mut cursor = txn.cursor(&segments).map_err(|e| c.mdbx("cursor", e))?;
    let mut prev = None;
    let mut at = seek(c, &mut cursor, &segment_key(uid, 0))?;
    while let Some((k, v)) = at {
        let (k_uid, base) = parse_segment_key(&k).map_err(|e| c.damaged("segment key", e))?;
        let what = || format!("entry of segment {base} of log uid {k_uid}");
        if k_uid != uid {
            check_value_crc(&k, &v).map_err(|e| c.damaged(what(), e))?;
            if k_uid < uid {
                return Err(c.error(format!("damaged: {} is out of order", what())));
            }
            break;
        }
        if prev.is_some_and(|p| base <= p) {
            return Err(c.error(format!("damaged: {} is out of order", what())));
        }
        prev = Some(base);
        let entry = SegmentEntry::decode(&k, &v).map_err(|e| c.damaged(what(), e))?;
        each(base, entry);
        at = cursor.next().map_err(|e| c.mdbx("read", e))?;
    }
    Ok(())
}

/// The reads of one read transaction.
pub(super) struct Reader<'c, 't> {
    pub(super) catalog: &'c Catalog,
    pub(super) txn: &'t Transaction<'c, libmdbx::RO, NoWriteMap>,
}

impl Reader<'_, '_> {
    pub(super) fn log(&self, name: &str) -> Result<Option<LogMeta>> {
        read_log(self.catalog, self.txn, name)
    }

    pub(super) fn segment(&self, uid: u64, base: u64) -> Result<Option<SegmentEntry>> {
        read_segment(self.catalog, self.txn, uid, base)
    }

    pub(super) fn segments(&self, uid: u64) -> Result<Vec<(u64, SegmentEntry)>> {
        read_segments(self.catalog, self.txn, uid)
    }

    pub(super) fn tier(&self, uid: u64, base: u64) -> Result<Option<TierEntry>> {
        let tiers = tiers_table(self.catalog, self.txn)?;
        read_tier(self.catalog, self.txn, tiers.as_ref(), uid, base)
    }

    pub(super) fn list_logs(&self) -> Result<Vec<(String, LogMeta)>> {
        let c = self.catalog;
        let logs = c.table(self.txn, TABLE_LOGS)?;
        let mut cursor = self.txn.cursor(&logs).map_err(|e| c.mdbx("cursor", e))?;
        let mut out: Vec<(String, LogMeta)> = Vec::new();
        for kv in cursor.iter_start::<Cow<'_, [u8]>, Cow<'_, [u8]>>() {
            let (k, v) = kv.map_err(|e| c.mdbx("read", e))?;
            let name = String::from_utf8_lossy(&k);
            let meta = LogMeta::decode(&k, &v)
                .map_err(|e| c.damaged(format_args!("entry of log {name:?}"), e))?;
            let Cow::Borrowed(name) = name else {
                return Err(c.error(format!("damaged: log name {name:?} is not UTF-8")));
            };
            if out
                .last()
                .is_some_and(|(prev, _)| prev.as_bytes() >= name.as_bytes())
            {
                return Err(c.error(format!("damaged: log {name:?} is out of order")));
            }
            out.push((name.to_string(), meta));
        }
        Ok(out)
    }
}

/// The changes of one write transaction, given to the closure of [`Catalog::batch`]. All
/// of them are committed together when the closure returns `Ok`, none if it fails.
pub struct Batch<'t> {
    pub(super) catalog: &'t Catalog,
    pub(super) txn: &'t Transaction<'t, RW, NoWriteMap>,
    pub(super) meta: Table<'t>,
    pub(super) logs: Table<'t>,
    pub(super) segments: Table<'t>,
}

impl Batch<'_> {
    fn put(&self, table: &Table<'_>, key: &[u8], value: &[u8], flags: WriteFlags) -> Result<()> {
        self.txn
            .put(table, key, value, flags)
            .map_err(|e| self.catalog.mdbx("write", e))
    }

    fn del(&self, table: &Table<'_>, key: &[u8]) -> Result<bool> {
        self.txn
            .del(table, key, None)
            .map_err(|e| self.catalog.mdbx("delete", e))
    }

    /// The log named `name` as this batch sees it (its own changes included).
    pub fn log(&self, name: &str) -> Result<Option<LogMeta>> {
        check_name(name)?;
        read_log(self.catalog, self.txn, name)
    }

    /// A segment entry as this batch sees it.
    pub fn segment(&self, uid: u64, base: u64) -> Result<Option<SegmentEntry>> {
        check_ids(uid, base)?;
        read_segment(self.catalog, self.txn, uid, base)
    }

    /// The segment entries of log `uid` as this batch sees them, in base id order.
    pub fn segments(&self, uid: u64) -> Result<Vec<(u64, SegmentEntry)>> {
        read_segments(self.catalog, self.txn, uid)
    }

    /// See [`Catalog::create_log`].
    pub fn create_log(&mut self, name: &str, new: NewLog) -> Result<LogMeta> {
        check_name(name)?;
        if new.segment_size == 0 || new.segment_format_version == 0 {
            return Err(Error::InvalidArgument(format!(
                "new log {name:?}: segment_size and segment_format_version must not be 0"
            )));
        }
        let c = self.catalog;
        if read_log(c, self.txn, name)?.is_some() {
            return Err(c.error(format!("log {name:?} already exists")));
        }
        let mut header = self.header()?;
        let uid = header.next_uid;
        header.next_uid = uid
            .checked_add(1)
            .ok_or_else(|| c.error("no log uid left".into()))?;
        let meta = LogMeta {
            uid,
            segment_format_version: new.segment_format_version,
            segment_size: new.segment_size,
            clean_close_id: 0,
            oldest_retained_id: 1,
            created_us: fsio::now_us(),
        };
        self.put(&self.meta, HEADER_KEY, &header.encode(), WriteFlags::UPSERT)?;
        self.put(
            &self.logs,
            name.as_bytes(),
            &meta.encode(name),
            WriteFlags::NO_OVERWRITE,
        )?;
        Ok(meta)
    }

    /// See [`Catalog::update_log`].
    pub fn update_log<R>(&mut self, name: &str, f: impl FnOnce(&mut LogMeta) -> R) -> Result<R> {
        check_name(name)?;
        let c = self.catalog;
        let old = read_log(c, self.txn, name)?
            .ok_or_else(|| c.error(format!("log {name:?} is not in the catalogue")))?;
        let mut meta = old;
        let out = f(&mut meta);
        if meta.uid != old.uid {
            return Err(Error::InvalidArgument(format!(
                "log {name:?}: its uid {} cannot be changed (to {})",
                old.uid, meta.uid
            )));
        }
        if meta != old {
            self.put(
                &self.logs,
                name.as_bytes(),
                &meta.encode(name),
                WriteFlags::UPSERT,
            )?;
        }
        Ok(out)
    }

    /// See [`Catalog::drop_log`].
    pub fn drop_log(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        let c = self.catalog;
        let Some(meta) = read_log(c, self.txn, name)? else {
            return Ok(false);
        };
        let mut bases = Vec::new();
        walk_segments(c, self.txn, meta.uid, |base, _| bases.push(base))?;
        for base in bases {
            self.del(&self.segments, &segment_key(meta.uid, base))?;
            self.remove_tier(meta.uid, base)?;
        }
        self.del(&self.logs, name.as_bytes())?;
        Ok(true)
    }

    /// See [`Catalog::put_segment`]. Fails if `uid` was never given to a log, or if the
    /// entry is inconsistent (data past its capacity; sealed with a last id other than
    /// `base + record_count - 1`).
    pub fn put_segment(&mut self, uid: u64, base: u64, entry: &SegmentEntry) -> Result<()> {
        check_ids(uid, base)?;
        self.check_entry(uid, base, entry)?;
        let header = self.header()?;
        if uid >= header.next_uid {
            return Err(Error::InvalidArgument(format!(
                "log uid {uid} was never allocated (the next is {}): cannot store segment \
                 {base}",
                header.next_uid
            )));
        }
        // A checked lookup first: a put follows libmdbx's search, which a damaged branch
        // page could send to the wrong leaf (see `seek`).
        read_segment(self.catalog, self.txn, uid, base)?;
        self.put(
            &self.segments,
            &segment_key(uid, base),
            &entry.encode(uid, base),
            WriteFlags::UPSERT,
        )
    }

    /// See [`Catalog::update_segment`].
    pub fn update_segment<R>(
        &mut self,
        uid: u64,
        base: u64,
        f: impl FnOnce(&mut SegmentEntry) -> R,
    ) -> Result<R> {
        check_ids(uid, base)?;
        let c = self.catalog;
        let old = read_segment(c, self.txn, uid, base)?.ok_or_else(|| {
            c.error(format!(
                "segment {base} of log uid {uid} is not in the catalogue"
            ))
        })?;
        let mut entry = old;
        let out = f(&mut entry);
        if entry != old {
            self.check_entry(uid, base, &entry)?;
            self.put(
                &self.segments,
                &segment_key(uid, base),
                &entry.encode(uid, base),
                WriteFlags::UPSERT,
            )?;
        }
        Ok(out)
    }

    /// See [`Catalog::remove_segment`].
    pub fn remove_segment(&mut self, uid: u64, base: u64) -> Result<bool> {
        check_ids(uid, base)?;
        // Checked first, like a put (see `seek`): a misled delete would say "not there".
        if read_segment(self.catalog, self.txn, uid, base)?.is_none() {
            return Ok(false);
        }
        self.remove_tier(uid, base)?;
        self.del(&self.segments, &segment_key(uid, base))
    }

    /// The tier entry of a segment as this batch sees it.
    pub fn tier(&self, uid: u64, base: u64) -> Result<Option<TierEntry>> {
        check_ids(uid, base)?;
        let tiers = tiers_table(self.catalog, self.txn)?;
        read_tier(self.catalog, self.txn, tiers.as_ref(), uid, base)
    }

    /// Stores the tier entry of a segment, which must have an entry in `segments` (creates
    /// table `tiers` on first use).
    pub fn put_tier(&mut self, uid: u64, base: u64, entry: &TierEntry) -> Result<()> {
        check_ids(uid, base)?;
        entry.check().map_err(|what| {
            Error::InvalidArgument(format!(
                "tier entry of segment {base} of log uid {uid}: {what}"
            ))
        })?;
        let c = self.catalog;
        if read_segment(c, self.txn, uid, base)?.is_none() {
            return Err(c.error(format!(
                "segment {base} of log uid {uid} is not in the catalogue: no tier entry for it"
            )));
        }
        let tiers = self
            .txn
            .create_table(Some(TABLE_TIERS), TableFlags::default())
            .map_err(|e| c.mdbx("create table", e))?;
        let key = segment_key(uid, base);
        read_tier(c, self.txn, Some(&tiers), uid, base)?;
        self.put(&tiers, &key, &entry.encode(&key), WriteFlags::UPSERT)
    }

    /// Removes the tier entry of a segment, if any.
    pub fn remove_tier(&mut self, uid: u64, base: u64) -> Result<bool> {
        let c = self.catalog;
        let Some(tiers) = tiers_table(c, self.txn)? else {
            return Ok(false);
        };
        if read_tier(c, self.txn, Some(&tiers), uid, base)?.is_none() {
            return Ok(false);
        }
        self.del(&tiers, &segment_key(uid, base))
    }

    fn header(&self) -> Result<CatalogHeader> {
        let c = self.catalog;
        let bytes = lookup(c, self.txn, &self.meta, HEADER_KEY)?
            .ok_or_else(|| c.error("damaged: the catalogue header is missing".into()))?;
        CatalogHeader::decode(&bytes).map_err(|e| c.damaged("catalogue header", e))
    }

    fn check_entry(&self, uid: u64, base: u64, entry: &SegmentEntry) -> Result<()> {
        entry.check(base).map_err(|what| {
            Error::InvalidArgument(format!("segment {base} of log uid {uid}: {what}"))
        })
    }
}
