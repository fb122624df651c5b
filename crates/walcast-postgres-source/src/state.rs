//! What the source remembers between runs, besides the slot itself: whether the initial snapshot
//! finished (so a restart streams instead of snapshotting again) and for which slot. The slot's
//! `confirmed_flush_lsn` is the streaming position; this file never runs ahead of it.
//!
//! Stored as JSON in `<walcast.state.dir>/source/<connector>.json`, written atomically
//! ([`write_atomic`]: temp file, fsync, rename, fsync of the directory) so a kill -9 leaves the
//! old or the new state.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walcast_connect_api::write_atomic;

/// The persisted state of one source connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The slot the state refers to; a different `slot.name` means a fresh start.
    pub slot_name: String,
    /// The database the slot belongs to.
    pub dbname: String,
    /// True once every snapshot record was acknowledged by Kafka.
    pub snapshot_completed: bool,
    /// The slot's consistent point the snapshot was taken at (`X/Y`), for diagnostics.
    #[serde(default)]
    pub snapshot_lsn: Option<String>,
}

/// Where a connector's state lives.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(state_dir: &Path, connector: &str) -> Self {
        // Connector names are free text; keep the file name safe and unique.
        let safe: String = connector
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let suffix = if safe == connector {
            String::new()
        } else {
            format!("-{:08x}", fnv1a(connector.as_bytes()))
        };
        Self {
            path: state_dir
                .join("source")
                .join(format!("{safe}{suffix}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state, or `None` when the connector never ran here.
    pub fn load(&self) -> std::io::Result<Option<SourceState>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} is not valid walcast source state ({e}); delete it to start the connector from scratch",
                        self.path.display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replace the stored state durably.
    pub fn save(&self, state: &SourceState) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes)
    }

    /// Forget the state (connector deleted with its slot).
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "inventory/connector 1");
        assert!(store
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("inventory_connector_1-"));
        assert_eq!(store.load().unwrap(), None);
        let st = SourceState {
            slot_name: "debezium".into(),
            dbname: "shop".into(),
            snapshot_completed: true,
            snapshot_lsn: Some("0/16B3748".into()),
        };
        store.save(&st).unwrap();
        assert_eq!(store.load().unwrap(), Some(st));
        store.remove().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn corrupt_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "c");
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        std::fs::write(store.path(), b"{not json").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("c.json") && e.contains("delete it"), "{e}");
    }
}
