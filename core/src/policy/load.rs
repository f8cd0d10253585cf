//! Reading raw policies: local files and directories, and values given
//! inline or by the control plane.
//!
//! Nothing is validated here beyond "is this JSON/YAML"; see `compile`.

use super::error::PolicyError;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One raw policy plus where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct SourcedPolicy {
    pub value: serde_json::Value,
    /// The file it was read from; `None` for inline and control-plane
    /// policies.
    pub file: Option<std::path::PathBuf>,
    /// Its 0-based position in its file (across the documents of a YAML
    /// file) or in the inline list.
    pub index: usize,
}

impl SourcedPolicy {
    /// Policies that come from no file (inline, or the control plane),
    /// numbered by their position in the list.
    pub fn from_values(values: impl IntoIterator<Item = serde_json::Value>) -> Vec<SourcedPolicy> {
        values
            .into_iter()
            .enumerate()
            .map(|(index, value)| SourcedPolicy {
                value,
                file: None,
                index,
            })
            .collect()
    }
}

/// How deep `load_path` descends into directories (guards against symlink
/// loops).
const MAX_DEPTH: usize = 64;

/// A file (.json: one policy object or an array; .yaml/.yml: one policy or
/// a list) or a directory (every such file below it, recursively, in sorted
/// path order). Other extensions in a directory are skipped; a single file
/// with another extension is an error. Extensions are matched
/// case-insensitively. A YAML file may hold several documents (`---`), each
/// one policy or a list; empty documents are skipped.
pub fn load_path(path: &std::path::Path) -> Result<Vec<SourcedPolicy>, PolicyError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| PolicyError::source(Some(path), format!("cannot read: {e}")))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        collect(path, 0, &mut files)?;
        files.sort();
        let mut out = Vec::new();
        for file in files {
            out.extend(load_file(&file)?);
        }
        Ok(out)
    } else {
        if format_of(path).is_none() {
            return Err(PolicyError::source(
                Some(path),
                "unsupported file type (expected .json, .yaml or .yml)",
            ));
        }
        load_file(path)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Json,
    Yaml,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(Format::Json),
        "yaml" | "yml" => Some(Format::Yaml),
        _ => None,
    }
}

fn collect(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::source(
            Some(dir),
            format!("directories nested more than {MAX_DEPTH} deep (a symlink loop?)"),
        ));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PolicyError::source(Some(dir), format!("cannot read directory: {e}")))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| PolicyError::source(Some(dir), format!("cannot read directory: {e}")))?;
        let path = entry.path();
        // Follows symlinks, like reading the file would.
        let meta = std::fs::metadata(&path)
            .map_err(|e| PolicyError::source(Some(&path), format!("cannot read: {e}")))?;
        if meta.is_dir() {
            collect(&path, depth + 1, files)?;
        } else if format_of(&path).is_some() {
            files.push(path);
        }
    }
    Ok(())
}

fn load_file(path: &Path) -> Result<Vec<SourcedPolicy>, PolicyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PolicyError::source(Some(path), format!("cannot read: {e}")))?;
    match format_of(path) {
        Some(Format::Json) => {
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| PolicyError::source(Some(path), format!("invalid JSON: {e}")))?;
            Ok(split(value, Some(path), 0))
        }
        _ => {
            let mut out = Vec::new();
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let value = Value::deserialize(document)
                    .map_err(|e| PolicyError::source(Some(path), format!("invalid YAML: {e}")))?;
                if value.is_null() {
                    continue;
                }
                let next = out.len();
                out.extend(split(value, Some(path), next));
            }
            Ok(out)
        }
    }
}

/// An array is a list of policies; anything else is one policy (validated
/// later).
fn split(value: Value, file: Option<&Path>, first_index: usize) -> Vec<SourcedPolicy> {
    let file = file.map(Path::to_path_buf);
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, value)| SourcedPolicy {
                value,
                file: file.clone(),
                index: first_index + i,
            })
            .collect(),
        value => vec![SourcedPolicy {
            value,
            file,
            index: first_index,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn names(policies: &[SourcedPolicy]) -> Vec<String> {
        policies
            .iter()
            .map(|p| p.value["name"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    #[test]
    fn json_file_one_or_many() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.json");
        fs::write(&one, r#"{"name": "solo"}"#).unwrap();
        let p = load_path(&one).unwrap();
        assert_eq!(names(&p), ["solo"]);
        assert_eq!(p[0].file.as_deref(), Some(one.as_path()));
        assert_eq!(p[0].index, 0);
        let many = dir.path().join("many.JSON");
        fs::write(&many, r#"[{"name": "a"}, {"name": "b"}]"#).unwrap();
        let p = load_path(&many).unwrap();
        assert_eq!(names(&p), ["a", "b"]);
        assert_eq!(p[1].index, 1);
    }

    #[test]
    fn yaml_file_one_list_or_documents() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.yaml");
        fs::write(
            &one,
            "name: solo\npolicyType: tool_invocation\nruleDefinition:\n  deny: [write_file]\n",
        )
        .unwrap();
        let p = load_path(&one).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].value["ruleDefinition"]["deny"], json!(["write_file"]));
        let list = dir.path().join("list.yml");
        fs::write(&list, "- name: a\n- name: b\n").unwrap();
        assert_eq!(names(&load_path(&list).unwrap()), ["a", "b"]);
        let docs = dir.path().join("docs.yaml");
        fs::write(&docs, "name: a\n---\n- name: b\n- name: c\n---\n").unwrap();
        let p = load_path(&docs).unwrap();
        assert_eq!(names(&p), ["a", "b", "c"]);
        assert_eq!(p.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 2]);
        let empty = dir.path().join("empty.yaml");
        fs::write(&empty, "# nothing yet\n").unwrap();
        assert!(load_path(&empty).unwrap().is_empty());
    }

    #[test]
    fn directory_in_sorted_order_skipping_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("b_sub/deeper")).unwrap();
        fs::write(d.join("c.yaml"), "name: c\n").unwrap();
        fs::write(d.join("a.json"), r#"[{"name": "a1"}, {"name": "a2"}]"#).unwrap();
        fs::write(d.join("b_sub/x.yml"), "- name: bx\n").unwrap();
        fs::write(d.join("b_sub/deeper/y.json"), r#"{"name": "by"}"#).unwrap();
        fs::write(d.join("README.md"), "# not a policy").unwrap();
        fs::write(d.join("notes.txt"), "{").unwrap();
        fs::write(d.join("b_sub/ignored.toml"), "x = 1").unwrap();
        let p = load_path(d).unwrap();
        assert_eq!(names(&p), ["a1", "a2", "by", "bx", "c"]);
        assert_eq!(
            p[2].file.as_deref(),
            Some(d.join("b_sub/deeper/y.json").as_path())
        );
        assert!(load_path(&d.join("b_sub/deeper")).is_ok());
        let empty = tempfile::tempdir().unwrap();
        assert!(load_path(empty.path()).unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.json"), r#"{"name": "a"}"#).unwrap();
        let bad = d.join("b.yaml");
        fs::write(&bad, "name: [unclosed\n").unwrap();
        let e = load_path(d).unwrap_err();
        assert_eq!(e.file(), Some(bad.as_path()));
        assert!(e.message().starts_with("invalid YAML"), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: invalid YAML", bad.display())),
            "{e}"
        );

        let bad_json = d.join("c.json");
        fs::write(&bad_json, "{,}").unwrap();
        let e = load_path(&bad_json).unwrap_err();
        assert_eq!(e.file(), Some(bad_json.as_path()));
        assert!(e.message().starts_with("invalid JSON"), "{e}");

        let other = d.join("policy.txt");
        fs::write(&other, "{}").unwrap();
        let e = load_path(&other).unwrap_err();
        assert_eq!(e.file(), Some(other.as_path()));
        assert!(e.message().contains("unsupported file type"), "{e}");

        let missing = d.join("missing.json");
        let e = load_path(&missing).unwrap_err();
        assert_eq!(e.file(), Some(missing.as_path()));
        assert!(e.message().starts_with("cannot read"), "{e}");
    }
}
