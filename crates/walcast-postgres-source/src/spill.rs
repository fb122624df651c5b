//! Spill files for transactions PostgreSQL streams while they are still in progress (pgoutput
//! protocol v2+, `streaming on`). Their changes are written to a local file per transaction as
//! they arrive, never held in memory and never published before Stream Commit; Stream Abort
//! deletes the file (or truncates it back for an aborted subtransaction). At Stream Commit the
//! file is read back message by message and published like an ordinary transaction.
//!
//! Format: a sequence of records, each `u32` big-endian length of the message, `u64` big-endian
//! WAL position (LSN) of the message, then the raw streamed pgoutput message as received (its
//! leading xid included; replay decodes it as a streamed message). Keeping each message's own
//! LSN lets replayed changes carry it as `source.lsn`, as they would have unstreamed.
//!
//! All file I/O goes through `tokio::fs` (blocking calls on tokio's blocking pool, a 256 KiB
//! buffer in front), so a slow or full disk never stalls the async runtime's threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader, BufWriter};
use walcast_pgoutput::Lsn;

/// Buffer in front of each spill file, for writing and for replay.
const BUFFER: usize = 256 * 1024;
/// Bytes of a record's header: length and LSN.
const HEADER: u64 = 12;

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
    pub async fn new(dir: &Path) -> std::io::Result<Self> {
        if tokio::fs::try_exists(dir).await? {
            tokio::fs::remove_dir_all(dir).await?;
        }
        tokio::fs::create_dir_all(dir).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
        })
    }

    /// The spill file of transaction `xid` (for error messages).
    pub fn file_of(&self, xid: u32) -> PathBuf {
        self.dir.join(format!("{xid}.spill"))
    }

    /// Number of transactions with spilled changes.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Append one message of transaction `xid`, received at `lsn` (`subxid` is the message's
    /// own xid, which differs for changes made in a subtransaction).
    pub async fn append(
        &mut self,
        xid: u32,
        subxid: u32,
        lsn: Lsn,
        msg: &[u8],
    ) -> std::io::Result<()> {
        let spill = match self.open.entry(xid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = self.dir.join(format!("{xid}.spill"));
                let f = tokio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .await?;
                v.insert(Spill {
                    path,
                    out: BufWriter::with_capacity(BUFFER, f),
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
        let mut header = [0u8; HEADER as usize];
        header[..4].copy_from_slice(&n.to_be_bytes());
        header[4..].copy_from_slice(&lsn.0.to_be_bytes());
        spill.out.write_all(&header).await?;
        spill.out.write_all(msg).await?;
        spill.len += HEADER + u64::from(n);
        Ok(())
    }

    /// Stream Abort: drop the whole transaction, or only a subtransaction's changes (which
    /// PostgreSQL guarantees are the last ones spilled for it).
    pub async fn abort(&mut self, xid: u32, subxid: u32) -> std::io::Result<()> {
        if xid == subxid {
            if let Some(s) = self.open.remove(&xid) {
                drop(s.out);
                tokio::fs::remove_file(&s.path).await?;
            }
            return Ok(());
        }
        if let Some(s) = self.open.get_mut(&xid) {
            if let Some(pos) = s.subxacts.iter().position(|(x, _)| *x == subxid) {
                let offset = s.subxacts.get(pos).map_or(0, |(_, o)| *o);
                s.subxacts.truncate(pos);
                s.out.flush().await?;
                s.out.get_mut().set_len(offset).await?;
                s.out
                    .get_mut()
                    .seek(std::io::SeekFrom::Start(offset))
                    .await?;
                s.len = offset;
            }
        }
        Ok(())
    }

    /// Stream Commit: hand back a reader over the transaction's messages; the file is removed
    /// when the reader is dropped. `None` when nothing was spilled for `xid`.
    pub async fn commit(&mut self, xid: u32) -> std::io::Result<Option<SpillReader>> {
        let Some(mut s) = self.open.remove(&xid) else {
            return Ok(None);
        };
        s.out.flush().await?;
        let mut f = s.out.into_inner();
        f.seek(std::io::SeekFrom::Start(0)).await?;
        Ok(Some(SpillReader {
            path: s.path,
            input: BufReader::with_capacity(BUFFER, f),
        }))
    }
}

/// Reads a committed spill file back, message by message.
pub struct SpillReader {
    path: PathBuf,
    input: BufReader<File>,
}

impl SpillReader {
    /// The next message and the LSN it was received at, or `None` at the end.
    pub async fn next_message(&mut self) -> std::io::Result<Option<(Lsn, Bytes)>> {
        let mut header = [0u8; HEADER as usize];
        match self.input.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let [a, b, c, d, l @ ..] = header;
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        let lsn = Lsn(u64::from_be_bytes(l));
        let mut buf = vec![0u8; len];
        self.input.read_exact(&mut buf).await?;
        Ok(Some((lsn, Bytes::from(buf))))
    }
}

impl Drop for SpillReader {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        // Removing a file is quick, but still I/O: off the runtime when there is one.
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(move || std::fs::remove_file(path));
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn all(mut r: SpillReader) -> Vec<(u64, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some((lsn, m)) = r.next_message().await.unwrap() {
            v.push((lsn.0, m.to_vec()));
        }
        v
    }

    #[tokio::test]
    async fn commit_replays_in_order_with_each_lsn_and_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpillStore::new(&dir.path().join("spill")).await.unwrap();
        s.append(7, 7, Lsn(100), b"one").await.unwrap();
        s.append(8, 8, Lsn(150), b"other").await.unwrap();
        s.append(7, 7, Lsn(200), b"two").await.unwrap();
        let r = s.commit(7).await.unwrap().unwrap();
        assert_eq!(
            all(r).await,
            vec![(100, b"one".to_vec()), (200, b"two".to_vec())]
        );
        // The removal runs on the blocking pool.
        for _ in 0..100 {
            if !dir.path().join("spill/7.spill").exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!dir.path().join("spill/7.spill").exists());
        assert_eq!(s.len(), 1);
        assert!(s.commit(99).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn abort_of_transaction_and_subtransaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpillStore::new(&dir.path().join("spill")).await.unwrap();
        s.append(7, 7, Lsn(1), b"top").await.unwrap();
        s.append(7, 9, Lsn(2), b"sub-a").await.unwrap();
        s.append(7, 9, Lsn(3), b"sub-b").await.unwrap();
        s.abort(7, 9).await.unwrap();
        s.append(7, 7, Lsn(4), b"after").await.unwrap();
        assert_eq!(
            all(s.commit(7).await.unwrap().unwrap()).await,
            vec![(1, b"top".to_vec()), (4, b"after".to_vec())]
        );
        s.append(5, 5, Lsn(5), b"x").await.unwrap();
        s.abort(5, 5).await.unwrap();
        assert!(s.is_empty());
        assert!(!dir.path().join("spill/5.spill").exists());
    }

    #[tokio::test]
    async fn large_messages_cross_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SpillStore::new(&dir.path().join("spill")).await.unwrap();
        let big: Vec<u8> = (0..BUFFER * 3 + 17).map(|i| (i % 251) as u8).collect();
        for i in 0..5u64 {
            s.append(3, 3, Lsn(i), &big).await.unwrap();
        }
        let got = all(s.commit(3).await.unwrap().unwrap()).await;
        assert_eq!(got.len(), 5);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, (l, m))| *l == i as u64 && *m == big));
    }
}
