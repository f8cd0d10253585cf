//! The last-known-good policy set on disk, so that a process that restarts
//! while the control plane is down still enforces what it last knew.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct CachedPolicies {
    pub etag: Option<String>,
    pub policies: Vec<Value>,
}

/// Reads the cache; a missing or unreadable file is simply no cache.
pub fn load(path: &Path) -> Option<CachedPolicies> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes the cache atomically: a reader (or a crash) sees the old file or
/// the new one, never half of one.
pub fn store(path: &Path, cached: &CachedPolicies) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.unwrap_or(Path::new(".")).join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(cached)?)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.json");
        assert!(load(&path).is_none());
        let a = CachedPolicies {
            etag: Some("\"1\"".into()),
            policies: vec![json!({"name": "A"})],
        };
        store(&path, &a).unwrap();
        assert_eq!(load(&path).unwrap(), a);
        let b = CachedPolicies {
            etag: None,
            policies: vec![],
        };
        store(&path, &b).unwrap();
        assert_eq!(load(&path).unwrap(), b);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn garbage_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.json");
        fs::write(&path, b"{not json").unwrap();
        assert!(load(&path).is_none());
    }
}
