//! Durable small files for connector and worker state (the worker's connector list, a source's
//! "snapshot finished" marker): one way to replace a file so that a crash or `kill -9` leaves
//! either the old or the new content, never half of one.
//!
//! In: a path and the complete new content. Out: the file replaced and the replacement itself
//! durable (the directory entry is synced too). Writing to `<file>.tmp` beside the target means
//! two writers of the same path must be serialised by the caller.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically and durably: writes `<file name>.tmp` in the same
/// directory, fsyncs it, renames it over `path`, then fsyncs the directory so the rename
/// survives a power loss. The directory must exist. Blocking (two fsyncs); async callers can run
/// it on `tokio::task::spawn_blocking`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let mut tmp_name = file_name.to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // A relative path with no directory part lives in the current directory.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_the_target_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(!path.exists());
        assert!(
            write_atomic(dir.path(), b"x").is_err(),
            "a directory is not replaced"
        );
    }
}
