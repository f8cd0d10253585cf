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
///
/// A path that yields no policy at all is an error, as a missing one is:
/// an unmounted volume, a folder of `guard.jsonc` or `guard.json.bak`, or
/// an empty file would otherwise start with zero policies and allow every
/// call in silence. The error names the files a folder skipped.
pub fn load_path(path: &std::path::Path) -> Result<Vec<SourcedPolicy>, PolicyError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| PolicyError::source(Some(path), format!("cannot read: {e}")))?;
    if meta.is_dir() {
        let mut found = Found::default();
        collect(path, path, 0, &mut found)?;
        found.files.sort();
        let mut out = Vec::new();
        for file in &found.files {
            out.extend(load_file(file)?);
        }
        if out.is_empty() {
            return Err(PolicyError::source(Some(path), found.nothing_found()));
        }
        Ok(out)
    } else {
        if format_of(path).is_none() {
            return Err(PolicyError::source(
                Some(path),
                "unsupported file type (expected .json, .yaml or .yml)",
            ));
        }
        let out = load_file(path)?;
        if out.is_empty() {
            return Err(PolicyError::source(
                Some(path),
                "the file holds no policy; an empty policy source would allow every call",
            ));
        }
        Ok(out)
    }
}

/// What a walk of a policy folder found: the policy files, and the names
/// of the files it skipped (relative to the folder), for the error when
/// nothing is found.
#[derive(Default)]
struct Found {
    files: Vec<PathBuf>,
    skipped: Vec<String>,
}

/// Skipped names listed in the error at most; the rest are counted.
const SKIPPED_SHOWN: usize = 10;

impl Found {
    fn nothing_found(&mut self) -> String {
        let mut message = if self.files.is_empty() {
            "no policy file (.json, .yaml or .yml) in this folder".to_owned()
        } else {
            format!(
                "no policy in the {} policy file(s) of this folder",
                self.files.len()
            )
        };
        message.push_str("; an empty policy source would allow every call");
        self.skipped.sort();
        if !self.skipped.is_empty() {
            let shown: Vec<&str> = self
                .skipped
                .iter()
                .take(SKIPPED_SHOWN)
                .map(String::as_str)
                .collect();
            message.push_str(&format!(" (skipped: {}", shown.join(", ")));
            if self.skipped.len() > SKIPPED_SHOWN {
                message.push_str(&format!(" and {} more", self.skipped.len() - SKIPPED_SHOWN));
            }
            message.push(')');
        }
        message
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

fn collect(root: &Path, dir: &Path, depth: usize, found: &mut Found) -> Result<(), PolicyError> {
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
            collect(root, &path, depth + 1, found)?;
        } else if format_of(&path).is_some() {
            found.files.push(path);
        } else {
            // Escaped: a file name is not ours to print raw.
            let name = path.strip_prefix(root).unwrap_or(&path);
            found
                .skipped
                .push(format!("{:?}", name.display().to_string()));
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
    }

    /// Issue 18 item 4: a source that yields no policy is an error naming
    /// the path (and, for a folder, the files it skipped), never "zero
    /// policies, allow everything".
    #[test]
    fn a_source_without_policies_is_an_error_naming_what_it_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in [
            ("empty.yaml", "# nothing yet\n"),
            ("empty.json", "[]"),
            ("blank.yml", ""),
        ] {
            let file = d.join(name);
            fs::write(&file, text).unwrap();
            let e = load_path(&file).unwrap_err().to_string();
            assert!(e.contains(&*file.to_string_lossy()), "{e}");
            assert!(e.contains("no policy"), "{e}");
        }
        let empty = tempfile::tempdir().unwrap();
        let e = load_path(empty.path()).unwrap_err().to_string();
        assert!(e.contains(&*empty.path().to_string_lossy()), "{e}");
        assert!(e.contains("no policy file"), "{e}");

        let skipped = tempfile::tempdir().unwrap();
        let s = skipped.path();
        fs::create_dir(s.join("old")).unwrap();
        fs::write(s.join("guard.jsonc"), "{}").unwrap();
        fs::write(s.join("guard.json.bak"), "{}").unwrap();
        fs::write(s.join("old/p.yaml.orig"), "name: x").unwrap();
        fs::write(s.join("bad\u{1b}[2Jname"), "").unwrap();
        let e = load_path(s).unwrap_err().to_string();
        for name in ["guard.jsonc", "guard.json.bak", "old/p.yaml.orig"] {
            assert!(e.contains(name), "{name}: {e}");
        }
        assert!(!e.contains('\u{1b}'), "a file name is escaped: {e}");
        // Policy files that hold nothing: said too.
        fs::write(s.join("a.yaml"), "---\n").unwrap();
        let e = load_path(s).unwrap_err().to_string();
        assert!(e.contains("no policy in the 1 policy file"), "{e}");
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
