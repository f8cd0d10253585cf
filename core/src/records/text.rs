//! The text a record keeps of a call's arguments or answer (JSON).
//!
//! A host hands the texts of a whole batch of calls over as one string
//! (see `engine::calls::decode_batch`). Each record's text is then a slice
//! of that one string, shared, rather than a copy of its own: one
//! allocation per batch instead of two per call on the calling thread,
//! and one free, by whichever thread drops the batch's last record (in
//! practice the delivery thread; allocations freed on another thread than
//! the one that made them are the costly kind for the allocator).

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

#[derive(Clone)]
pub struct RecordText(Repr);

#[derive(Clone)]
enum Repr {
    Owned(String),
    /// `text[start..end]`, on character boundaries.
    Shared {
        text: Arc<str>,
        start: u32,
        end: u32,
    },
}

impl RecordText {
    /// `text[range]`, sharing `text`; None when `range` is not a slice of
    /// it on character boundaries (or lies past 4 GiB).
    pub fn shared(text: &Arc<str>, range: Range<usize>) -> Option<Self> {
        text.get(range.clone())?;
        let (start, end) = (
            u32::try_from(range.start).ok()?,
            u32::try_from(range.end).ok()?,
        );
        Some(Self(Repr::Shared {
            text: text.clone(),
            start,
            end,
        }))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Owned(s) => s,
            Repr::Shared { text, start, end } => &text[*start as usize..*end as usize],
        }
    }

    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Owned(s) => s,
            Repr::Shared { .. } => self.as_str().to_owned(),
        }
    }
}

impl Deref for RecordText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for RecordText {
    fn from(text: String) -> Self {
        Self(Repr::Owned(text))
    }
}

impl From<&str> for RecordText {
    fn from(text: &str) -> Self {
        Self(Repr::Owned(text.to_owned()))
    }
}

impl PartialEq for RecordText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RecordText {}

impl fmt::Debug for RecordText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_text_is_its_slice() {
        let batch: Arc<str> = Arc::from(r#"[["é",{"a":1}]]"#);
        let t = RecordText::shared(&batch, 7..14).unwrap();
        assert_eq!(&*t, r#"{"a":1}"#);
        assert_eq!(t, RecordText::from(r#"{"a":1}"#));
        assert_eq!(t.clone().into_string(), r#"{"a":1}"#);
        // Not on a character boundary (inside "é"), or past the end: none.
        assert!(RecordText::shared(&batch, 4..6).is_none());
        assert!(RecordText::shared(&batch, 7..99).is_none());
    }
}
