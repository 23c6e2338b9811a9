//! [`Log`]: a lease log file in a state directory, loaded, appended, synced, compacted.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::{Record, next_frame_of};

/// Compact when the file holds more than `2 × live + COMPACT_SLACK` records.
const COMPACT_SLACK: u64 = 4096;

/// The file is grown by this much zero-filled space at a time (about 20,000 DHCPv4
/// records), synced once, and records are then written over the zeros in place: the
/// `fdatasync` after each batch finds the file's size and block map unchanged and writes only
/// the data block, not also the inode (ext4, and most file systems, flush metadata in
/// `fdatasync` only when the size or allocation changed). Zero bytes after the last record
/// are the clean end of the log.
const GROW: u64 = 1 << 20;

/// What loading found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Valid records read.
    pub records: u64,
    /// Distinct keys: addresses (v4) or leases (v6), live records after last-wins.
    pub live: usize,
    /// Bytes cut off the end: a torn or corrupt record and everything after it.
    pub torn_bytes: u64,
}

/// Where the last frame of a key is in the file (what compaction copies), and where its
/// record is in the records loaded at open.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: u64,
    len: u32,
    loaded: u32,
}

/// The durable lease log of one server (`R::FILE` in its state directory).
///
/// It keeps the place of each key's last frame, not the record: the server holds the
/// leases, the log only what compaction needs (16 bytes and the key per lease).
#[derive(Debug)]
pub struct Log<R: Record> {
    dir: PathBuf,
    file: File,
    /// Where the records end: the next append goes here.
    len: u64,
    /// The file's length: `len` plus zero-filled space ahead of the appends.
    alloc: u64,
    /// Records in the file.
    in_file: u64,
    /// The last frame per key.
    live: HashMap<R::Key, Slot>,
    /// The live records found at open, until [`Log::take_loaded`].
    loaded: Vec<R>,
    buf: Vec<u8>,
}

impl<R: Record> Log<R> {
    /// File name inside the state directory.
    pub const FILE: &'static str = R::FILE;

    /// Opens (or creates) the log in `dir` and loads it. A torn last record is cut off.
    pub fn open(dir: &Path) -> io::Result<(Self, LoadReport)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(Self::FILE);
        let data = match std::fs::read(&path) {
            Ok(d) if d.starts_with(R::MAGIC) => d,
            Ok(d) if !d.is_empty() && !R::MAGIC.starts_with(&d) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "not a lease log"));
            }
            // Missing, empty, or a header torn at creation: start a new log.
            Ok(_) | Err(_) => write_new(dir, &path, R::MAGIC, &[])?,
        };
        let (live, loaded, report, good) = load::<R>(&data);
        let mut alloc = data.len() as u64;
        drop(data);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        if report.torn_bytes > 0 {
            warn!("lease log {}: cut {} torn bytes off the end", path.display(), report.torn_bytes);
            file.set_len(good as u64)?;
            file.sync_all()?;
            alloc = good as u64;
        }
        let log = Log {
            dir: dir.to_owned(),
            file,
            len: good as u64,
            alloc,
            in_file: report.records,
            live,
            loaded,
            buf: Vec::new(),
        };
        Ok((log, report))
    }

    /// The last record of every key as found when the log was opened (appends since are not
    /// in it; empty after [`Log::take_loaded`]).
    pub fn leases(&self) -> impl Iterator<Item = &R> {
        self.loaded.iter()
    }

    /// The records found at open, handed over (to the server that restores them) so that
    /// the log does not keep a second copy.
    pub fn take_loaded(&mut self) -> Vec<R> {
        std::mem::take(&mut self.loaded)
    }

    /// Records in the file (compaction brings it down to the live count).
    pub fn records_in_file(&self) -> u64 {
        self.in_file
    }

    /// Bytes in use: the magic and the records. The file may be longer, zero-filled.
    pub fn used_bytes(&self) -> u64 {
        self.len
    }

    /// Writes records after the last one in one `pwrite` (over zero-filled space, grown by
    /// [`GROW`] when needed), without syncing. On error the file is cut back to its last
    /// complete record.
    pub fn append<'a>(&mut self, records: impl IntoIterator<Item = &'a R>) -> io::Result<()>
    where
        R: 'a,
    {
        self.buf.clear();
        let mut n = 0;
        for r in records {
            let at = self.buf.len();
            r.encode_frame(&mut self.buf);
            let len = (self.buf.len() - at) as u32;
            let slot = Slot { at: self.len + at as u64, len, loaded: u32::MAX };
            self.live.insert(r.key(), slot);
            n += 1;
        }
        if let Err(e) = self.grow_to(self.len + self.buf.len() as u64) {
            let _ = self.file.set_len(self.len);
            self.alloc = self.len;
            return Err(e);
        }
        if let Err(e) = self.file.write_all_at(&self.buf, self.len) {
            let _ = self.file.set_len(self.len);
            self.alloc = self.len;
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        self.in_file += n;
        Ok(())
    }

    /// Makes the file at least `end` bytes long, zero-filled past the records, in steps of
    /// [`GROW`], and syncs it (size and blocks) so later `fdatasync`s write data only.
    fn grow_to(&mut self, end: u64) -> io::Result<()> {
        if end <= self.alloc {
            return Ok(());
        }
        let new = end.div_ceil(GROW) * GROW;
        let zeros = vec![0u8; (new - self.alloc) as usize];
        self.file.write_all_at(&zeros, self.alloc)?;
        self.file.sync_all()?;
        self.alloc = new;
        Ok(())
    }

    /// `fdatasync`: everything appended so far is durable when this returns `Ok`.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Appends, syncs, and compacts if the file has grown far past the live leases.
    pub fn commit<'a>(&mut self, records: impl IntoIterator<Item = &'a R>) -> io::Result<()>
    where
        R: 'a,
    {
        self.append(records)?;
        self.sync()?;
        if self.should_compact() {
            self.compact()?;
        }
        Ok(())
    }

    /// Whether the file holds more than twice the live records (plus slack).
    pub fn should_compact(&self) -> bool {
        self.in_file > 2 * self.live.len() as u64 + COMPACT_SLACK
    }

    /// Rewrites the live records to a new file, syncs it, renames it over the log and syncs
    /// the directory. A crash at any point leaves either the old or the new file complete.
    pub fn compact(&mut self) -> io::Result<()> {
        let mut old = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut old, 0)?;
        let mut data = Vec::with_capacity(self.live.len() * 48);
        let head = R::MAGIC.len() as u64;
        for slot in self.live.values_mut() {
            let (at, end) = (slot.at as usize, slot.at as usize + slot.len as usize);
            let frame = old.get(at..end).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a live record past the end of the log")
            })?;
            slot.at = head + data.len() as u64;
            data.extend_from_slice(frame);
        }
        drop(old);
        let path = self.dir.join(Self::FILE);
        write_new(&self.dir, &path, R::MAGIC, &data)?;
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.len = (R::MAGIC.len() + data.len()) as u64;
        self.alloc = self.len;
        self.in_file = self.live.len() as u64;
        Ok(())
    }
}

/// Reads every frame; returns the live slots, the live records, the report and the length
/// of the good prefix.
fn load<R: Record>(data: &[u8]) -> (HashMap<R::Key, Slot>, Vec<R>, LoadReport, usize) {
    let mut live: HashMap<R::Key, Slot> = HashMap::new();
    let mut loaded: Vec<R> = Vec::new();
    let mut report = LoadReport::default();
    let mut rest = data.get(R::MAGIC.len()..).unwrap_or_default();
    loop {
        let at = (data.len() - rest.len()) as u64;
        match next_frame_of::<R>(rest) {
            Ok(Some((record, tail))) => {
                let len = (rest.len() - tail.len()) as u32;
                match live.entry(record.key()) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        let slot = e.get_mut();
                        (slot.at, slot.len) = (at, len);
                        if let Some(r) = loaded.get_mut(slot.loaded as usize) {
                            *r = record;
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(Slot { at, len, loaded: loaded.len() as u32 });
                        loaded.push(record);
                    }
                }
                report.records += 1;
                rest = tail;
            }
            Ok(None) => break,
            // Zero-filled space ahead of the appends (see GROW): the clean end.
            Err(()) if rest.iter().all(|&b| b == 0) => break,
            Err(()) => {
                // A torn or corrupt frame: it and what follows, up to the zero fill.
                let fill = rest.iter().rev().take_while(|&&b| b == 0).count();
                report.torn_bytes = (rest.len() - fill) as u64;
                break;
            }
        }
    }
    report.live = live.len();
    let good = data.len() - rest.len();
    (live, loaded, report, good)
}

/// Writes `magic + body` to a temporary file, syncs it, renames it to `path`, syncs `dir`.
fn write_new(dir: &Path, path: &Path, magic: &[u8; 8], body: &[u8]) -> io::Result<Vec<u8>> {
    let tmp = path.with_extension("log.new");
    let mut f = File::create(&tmp)?;
    f.write_all(magic)?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()?;
    Ok(magic.to_vec())
}
