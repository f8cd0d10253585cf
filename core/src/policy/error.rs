//! The one error type of the policy module: a policy (or a policy file) that
//! breaks the format of `policy-format.md`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A policy or policy file that cannot be used, with where it came from.
///
/// Displayed as `file: policy "name": field.path: message`, each part present
/// only when known, e.g.
/// `policies/fs.yaml: policy "Filesystem guard": ruleDefinition.arguments[0].kind: unknown kind "paht" (expected path, glob, regex or number)`.
/// A policy without a usable `name` is named by its (0-based) index in its
/// file or inline list: `policy #2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    file: Option<PathBuf>,
    policy_name: Option<String>,
    policy_index: Option<usize>,
    field: Option<String>,
    message: String,
}

impl PolicyError {
    /// An error about a whole file or inline text (unreadable, not JSON…).
    pub(crate) fn source(file: Option<&Path>, message: impl Into<String>) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            policy_name: None,
            policy_index: None,
            field: None,
            message: message.into(),
        }
    }

    /// An error about one policy, or one field of it (`field: None` for the
    /// policy as a whole).
    pub(crate) fn in_policy(
        file: Option<&Path>,
        policy_name: Option<&str>,
        policy_index: usize,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            policy_name: policy_name.map(str::to_owned),
            policy_index: Some(policy_index),
            field,
            message: message.into(),
        }
    }

    /// The file the policy came from; `None` for inline and control-plane
    /// policies.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// How the policy is named in the message: its `name`, or `#<index>`
    /// when it has no usable name. `None` when the error is about a whole
    /// file.
    pub fn policy(&self) -> Option<String> {
        match (&self.policy_name, self.policy_index) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(index)) => Some(format!("#{index}")),
            (None, None) => None,
        }
    }

    /// The policy's `name`, when it has a usable one.
    pub fn policy_name(&self) -> Option<&str> {
        self.policy_name.as_deref()
    }

    /// The policy's 0-based position in its file or inline list.
    pub fn policy_index(&self) -> Option<usize> {
        self.policy_index
    }

    /// The path of the offending field inside the policy, e.g.
    /// `ruleDefinition.arguments[1].max`; `None` when the error is about the
    /// policy (or file) as a whole.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Where errors about one policy point: its file, its name (when usable)
/// and its index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Location<'a> {
    pub(crate) file: Option<&'a Path>,
    pub(crate) name: Option<&'a str>,
    pub(crate) index: usize,
}

impl Location<'_> {
    /// An error about `field` of this policy.
    pub(crate) fn err(&self, field: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError::in_policy(
            self.file,
            self.name,
            self.index,
            Some(field.into()),
            message,
        )
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match (&self.policy_name, self.policy_index) {
            (Some(name), _) => write!(f, "policy {name:?}: ")?,
            (None, Some(index)) => write!(f, "policy #{index}: ")?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_policy_and_field() {
        let e = PolicyError::in_policy(
            Some(Path::new("policies/fs.yaml")),
            Some("Filesystem guard"),
            0,
            Some("ruleDefinition.arguments[0].kind".into()),
            "unknown kind \"paht\" (expected path, glob, regex or number)",
        );
        assert_eq!(
            e.to_string(),
            "policies/fs.yaml: policy \"Filesystem guard\": ruleDefinition.arguments[0].kind: \
             unknown kind \"paht\" (expected path, glob, regex or number)"
        );
        assert_eq!(e.file(), Some(Path::new("policies/fs.yaml")));
        assert_eq!(e.policy().as_deref(), Some("Filesystem guard"));
        assert_eq!(e.policy_name(), Some("Filesystem guard"));
        assert_eq!(e.policy_index(), Some(0));
        assert_eq!(e.field(), Some("ruleDefinition.arguments[0].kind"));
        assert!(e.message().starts_with("unknown kind"));
    }

    #[test]
    fn display_without_name_file_or_field() {
        let e = PolicyError::in_policy(None, None, 3, None, "a policy must be a JSON object");
        assert_eq!(e.to_string(), "policy #3: a policy must be a JSON object");
        assert_eq!(e.policy().as_deref(), Some("#3"));
        assert_eq!(e.policy_name(), None);

        let e = PolicyError::source(Some(Path::new("p.yaml")), "invalid YAML");
        assert_eq!(e.to_string(), "p.yaml: invalid YAML");
        assert_eq!(e.policy(), None);
        assert_eq!(e.field(), None);

        let e = PolicyError::source(None, "bad");
        assert_eq!(e.to_string(), "bad");
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
        assert_eq!(boxed.to_string(), "bad");
    }
}
