//! "Did you mean": the closest of a few known words to a mistyped one,
//! compared without case or separators (`tool-invocation`, `Deny`).

/// `word` folded for comparison: lowercase letters and digits only.
pub(crate) fn fold(word: &str) -> Vec<char> {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The known word within two edits of `word`, the closest first; `None`
/// when none is that close.
pub(crate) fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let folded = fold(word);
    known
        .iter()
        .map(|k| (edit_distance(&folded, &fold(k)), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance; `usize::MAX` when the lengths alone differ by more
/// than two (or a word is too long to be a name), so callers can bound it.
pub(crate) fn edit_distance(a: &[char], b: &[char]) -> usize {
    if a.len().abs_diff(b.len()) > 2 || a.len() > 64 {
        return usize::MAX;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_known_word() {
        let known = ["allow", "deny", "defaultAction", "arguments"];
        assert_eq!(closest("denny", &known), Some("deny"));
        assert_eq!(closest("default_action", &known), Some("defaultAction"));
        assert_eq!(closest("Allow", &known), Some("allow"));
        assert_eq!(closest("argument", &known), Some("arguments"));
        assert_eq!(closest("blocklist", &known), None);
    }
}
