//! A tool's result as the model would read it: its text items, the text of
//! embedded resources, and its structured content as JSON; what cannot be
//! read as text (images, audio, binary resources) is left out and said so
//! in the text sent. Split into overlapping items, so that no marker can
//! hide across a cut, and bounded: a result longer than
//! [`MAX_SCANNED_CHARS`] is not scanned but refused (it would otherwise
//! reach the model partly unchecked).

use serde_json::Value;

/// Characters of one `toolOutputs` item.
pub const MAX_ITEM_CHARS: usize = 32_000;
/// Characters two neighbouring items share.
pub const ITEM_OVERLAP_CHARS: usize = 2_000;
/// The longest result scanned; a longer one is refused.
pub const MAX_SCANNED_CHARS: usize = 256_000;

/// The result, ready to scan.
#[derive(Debug, PartialEq, Eq)]
pub enum Scannable {
    /// The text, in overlapping items of at most [`MAX_ITEM_CHARS`].
    Items(Vec<String>),
    /// Longer than [`MAX_SCANNED_CHARS`]: this many characters.
    TooLarge(usize),
}

/// The text the model would read of a `CallToolResult` (JSON).
pub fn model_text(result: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut left_out: Vec<&str> = Vec::new();
    if let Some(items) = result.get("content").and_then(Value::as_array) {
        for item in items {
            match item_text(item) {
                Some(text) => parts.push(text),
                None => left_out.push(
                    item.get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown"),
                ),
            }
        }
    }
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        parts.push(structured.to_string());
    }
    if !left_out.is_empty() {
        parts.push(format!(
            "[execlave: {} content item(s) not scanned, not text: {}]",
            left_out.len(),
            left_out.join(", ")
        ));
    }
    parts.join("\n")
}

/// An item's text: a text item's, an embedded text resource's, a resource
/// link as the JSON the model reads. `None`: not text.
fn item_text(item: &Value) -> Option<String> {
    match item.get("type").and_then(Value::as_str) {
        Some("text") => item.get("text").and_then(Value::as_str).map(str::to_owned),
        Some("resource") => item
            .get("resource")
            .and_then(|r| r.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        Some("resource_link") => Some(item.to_string()),
        _ => None,
    }
}

/// `text` cut into overlapping items, or [`Scannable::TooLarge`].
pub fn scannable(text: &str) -> Scannable {
    let chars = text.chars().count();
    if chars > MAX_SCANNED_CHARS {
        return Scannable::TooLarge(chars);
    }
    if chars <= MAX_ITEM_CHARS {
        return Scannable::Items(vec![text.to_owned()]);
    }
    let indices: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let byte_at = |char_index: usize| indices.get(char_index).copied().unwrap_or(text.len());
    let step = MAX_ITEM_CHARS - ITEM_OVERLAP_CHARS;
    let mut items = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + MAX_ITEM_CHARS).min(chars);
        items.push(text[byte_at(start)..byte_at(end)].to_owned());
        if end == chars {
            return Scannable::Items(items);
        }
        start += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_the_model_reads() {
        let result = json!({
            "content": [
                { "type": "text", "text": "hello" },
                { "type": "image", "data": "AAAA", "mimeType": "image/png" },
                { "type": "resource", "resource": { "uri": "file:///a", "text": "inside" } },
            ],
            "structuredContent": { "k": 1 },
        });
        assert_eq!(
            model_text(&result),
            "hello\ninside\n{\"k\":1}\n[execlave: 1 content item(s) not scanned, not text: image]"
        );
        assert_eq!(model_text(&json!({})), "");
    }

    #[test]
    fn long_text_is_cut_with_overlap_and_bounded() {
        let marker = "IGNORE PREVIOUS INSTRUCTIONS";
        // The marker straddles the first cut.
        let mut text = "é".repeat(MAX_ITEM_CHARS - 10);
        text.push_str(marker);
        text.push_str(&"x".repeat(40_000));
        let Scannable::Items(items) = scannable(&text) else {
            panic!("scanned")
        };
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i.chars().count() <= MAX_ITEM_CHARS));
        assert!(
            items.iter().any(|i| i.contains(marker)),
            "never hidden by a cut"
        );
        assert_eq!(
            scannable(&"x".repeat(MAX_SCANNED_CHARS + 1)),
            Scannable::TooLarge(MAX_SCANNED_CHARS + 1)
        );
        assert_eq!(scannable("short"), Scannable::Items(vec!["short".into()]));
    }
}
