//! Spill files for transactions PostgreSQL streams while they are still in progress (pgoutput
//! protocol v2+, `streaming on`). Their changes are written to a local file per transaction as
//! they arrive, never held in memory and never published before Stream Commit; Stream Abort
//! deletes the file (or truncates it back for an aborted subtransaction). At Stream Commit the
//! file is read back message by message and published like an ordinary transaction.
//!
//! Format: a sequence of `u32` big-endian length + raw pgoutput message (without the leading
//! xid that streamed messages carry, so replay decodes them as ordinary messages).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// One open spill file.
struct Spill {
    path: PathBuf,
    out: BufWriter<File>,
    /// Bytes written so far (the offset the next message starts at).
    len: u64,
    /// Where each subtransaction's first message starts, to undo an aborted subtransaction.
    subxacts: Vec<(u32, u64)>,
}

/// The spill files of every streamed transaction in progress.
pub struct SpillStore {
    dir: PathBuf,
    open: HashMap<u32, Spill>,
}

impl SpillStore {
    /// Spill under `dir`, removing leftovers of an earlier run (PostgreSQL streams those
    /// transactions again from the slot's position).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
        })
    }

    /// Number of transactions with spilled changes.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Append one message of transaction `xid` (`subxid` is the message's own xid, which
    /// differs for changes made in a subtransaction).
    pub fn append(&mut self, xid: u32, subxid: u32, msg: &[u8]) -> std::io::Result<()> {
        let spill = match self.open.entry(xid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = self.dir.join(format!("{xid}.spill"));
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)?;
                v.insert(Spill {
                    path,
                    out: BufWriter::with_capacity(256 * 1024, f),
                    len: 0,
                    subxacts: Vec::new(),
                })
            }
        };
        if subxid != xid && !spill.subxacts.iter().any(|(s, _)| *s == subxid) {
            spill.subxacts.push((subxid, spill.len));
        }
        let n = u32::try_from(msg.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "message over 4 GiB")
        })?;
        spill.out.write_all(&n.to_be_bytes())?;
        spill.out.write_all(msg)?;
        spill.len += 4 + u64::from(n);
        Ok(())
    }

    /// Stream Abort: drop the whole transaction, or only a subtransaction's changes (which
    /// PostgreSQL guarantees are the last ones spilled for it).
    pub fn abort(&mut self, xid: u32, subxid: u32) -> std::io::Result<()> {
        if xid == subxid {
            if let Some(s) = self.open.remove(&xid) {
                drop(s.out);
                std::fs::remove_file(&s.path)?;
            }
            return Ok(());
        }
        if let Some(s) = self.open.get_mut(&xid) {
            if let Some(pos) = s.subxacts.iter().position(|(x, _)| *x == subxid) {
                let offset = s.subxacts[pos].1;
                s.subxacts.truncate(pos);
                s.out.flush()?;
                s.out.get_mut().set_len(offset)?;
                s.out.get_mut().seek(SeekFrom::Start(offset))?;
                s.len = offset;
            }
        }
        Ok(())
    }

    /// Stream Commit: hand back a reader over the transaction's messages; the file is removed
    /// when the reader is dropped. `None` when nothing was spilled for `xid`.
    pub fn commit(&mut self, xid: u32) -> std::io::Result<Option<SpillReader>> {
        let Some(mut s) = self.open.remove(&xid) else {
            return Ok(None);
        };
        s.out.flush()?;
        let mut f = s.out.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        Ok(Some(SpillReader {
            path: s.path,
            input: BufReader::with_capacity(256 * 1024, f),
        }))
    }
}

/// Reads a committed spill file back, message by message.
pub struct SpillReader {
    path: PathBuf,
    input: BufReader<File>,
}

impl SpillReader {
    /// The next message, or `None` at the end.
    pub fn next_message(&mut self) -> std::io::Result<Option<Bytes>> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.input.read_exact(&mut buf)?;
        Ok(Some(Bytes::from(buf)))
    }
}

impl Drop for SpillReader {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all(mut r: SpillReader) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            v.push(m.to_vec());
        }
        v
    }

    #[test]
    fn commit_replays_in_order_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpillStore::new(&dir.path().join("spill")).unwrap();
        s.append(7, 7, b"one").unwrap();
        s.append(8, 8, b"other").unwrap();
        s.append(7, 7, b"two").unwrap();
        let r = s.commit(7).unwrap().unwrap();
        assert_eq!(all(r), vec![b"one".to_vec(), b"two".to_vec()]);
        assert!(!dir.path().join("spill/7.spill").exists());
        assert_eq!(s.len(), 1);
        assert!(s.commit(99).unwrap().is_none());
    }

    #[test]
    fn abort_of_transaction_and_subtransaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpillStore::new(&dir.path().join("spill")).unwrap();
        s.append(7, 7, b"top").unwrap();
        s.append(7, 9, b"sub-a").unwrap();
        s.append(7, 9, b"sub-b").unwrap();
        s.abort(7, 9).unwrap();
        s.append(7, 7, b"after").unwrap();
        assert_eq!(
            all(s.commit(7).unwrap().unwrap()),
            vec![b"top".to_vec(), b"after".to_vec()]
        );
        s.append(5, 5, b"x").unwrap();
        s.abort(5, 5).unwrap();
        assert!(s.is_empty());
        assert!(!dir.path().join("spill/5.spill").exists());
    }
}
