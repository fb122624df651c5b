//! The worker's own persistent state: which connectors exist, their submitted configs (with
//! `${...}` references unresolved, so no secret is written) and their target state
//! (STARTED/PAUSED/STOPPED), so a restarted worker resumes exactly what it ran. Kafka Connect
//! keeps this in its config topic; walcast keeps one JSON file in `walcast.state.dir`.
//!
//! Writes are atomic ([`write_atomic`]: temp file, fsync, rename, directory fsync), so a crash
//! leaves either the old or the new state, never half of one; the worker saves from tokio's
//! blocking pool.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walcast_connect_api::write_atomic;

/// File name inside the state dir.
pub const STATE_FILE: &str = "connectors.json";

/// What the user asked a connector to be, as in Connect's config topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    Started,
    Paused,
    Stopped,
}

/// One connector as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnector {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub target_state: TargetState,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    /// Format version, bumped on incompatible changes.
    version: u32,
    connectors: Vec<StoredConnector>,
}

const VERSION: u32 = 1;

/// Reading or writing the state dir failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot create state dir {} (walcast.state.dir): {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is corrupt ({source}); fix or remove it to start without saved connectors", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has format version {version}, this walcast understands {VERSION}", path.display())]
    Version { path: PathBuf, version: u32 },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The state file of one worker.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    /// Serialises writers, so the last save always carries the newest snapshot.
    write_lock: std::sync::Mutex<()>,
}

impl StateStore {
    /// Open (creating the directory if needed).
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            write_lock: std::sync::Mutex::new(()),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The stored connectors; none when the file does not exist yet.
    pub fn load(&self) -> Result<Vec<StoredConnector>, StateError> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let file: StateFile =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: path.clone(),
                source,
            })?;
        if file.version != VERSION {
            return Err(StateError::Version {
                path,
                version: file.version,
            });
        }
        Ok(file.connectors)
    }

    /// Replace the stored state with `snapshot()`'s result. The snapshot is taken while holding
    /// the write lock, so concurrent savers cannot write an older state last.
    pub fn save_with(
        &self,
        snapshot: impl FnOnce() -> Vec<StoredConnector>,
    ) -> Result<(), StateError> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let file = StateFile {
            version: VERSION,
            connectors: snapshot(),
        };
        let path = self.path();
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| StateError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes).map_err(|source| StateError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(&dir.path().join("nested/state")).expect("open");
        assert!(store.load().expect("empty").is_empty());
        let c = StoredConnector {
            name: "pg".into(),
            config: [("connector.class".to_owned(), "X".to_owned())].into(),
            target_state: TargetState::Paused,
        };
        store.save_with(|| vec![c.clone()]).expect("save");
        assert_eq!(store.load().expect("load"), vec![c]);
        assert!(!dir.path().join("nested/state/connectors.json.tmp").exists());
        let text = std::fs::read_to_string(store.path()).expect("read");
        assert!(text.contains("\"PAUSED\""), "{text}");
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(dir.path()).expect("open");
        std::fs::write(store.path(), "{not json").expect("write");
        let msg = store.load().expect_err("corrupt").to_string();
        assert!(
            msg.contains("connectors.json") && msg.contains("corrupt"),
            "{msg}"
        );
    }
}
