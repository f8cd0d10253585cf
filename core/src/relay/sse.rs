//! A bounded reader of server-sent events (the `text/event-stream` a
//! Streamable HTTP MCP server answers with): bytes are pushed in as they
//! arrive, in chunks cut anywhere, and whole events come out.
//!
//! Each event's data is bounded by a limit (the relay's message limit): a
//! hostile server streaming one endless event makes it report `TooLong`
//! once and keep nothing more of that event, so memory stays bounded
//! (one line plus one event's data, each at most the limit).
//! The last event id and `retry` are kept, to resume a broken stream
//! (`Last-Event-ID`).

/// What one event was.
#[derive(Debug, PartialEq)]
pub enum SseItem {
    /// A `message` event's data (its `data:` lines joined by `\n`).
    Message(Vec<u8>),
    /// An event whose data went over the limit: how many bytes of it had
    /// been read when it did. Reported once; the rest of it is skipped.
    TooLong(usize),
}

pub struct SseDecoder {
    limit: usize,
    /// The line being read (bounded: see `push_byte`).
    line: Vec<u8>,
    line_over: bool,
    /// The last byte was a `\r`: a `\n` right after it ends no new line.
    after_cr: bool,
    data: Vec<u8>,
    has_data: bool,
    /// The event's type is `message` (the default) or unset.
    is_message: bool,
    /// Bytes of the current event read so far.
    event_bytes: usize,
    /// The current event went over the limit (and was reported).
    over: bool,
    /// The event id in force (`id:`), and the reconnection delay asked
    /// (`retry:`, in milliseconds).
    last_id: Option<Vec<u8>>,
    retry_ms: Option<u64>,
}

/// The longest event id kept: ids are opaque tokens, not payloads.
const MAX_ID_BYTES: usize = 1024;

impl SseDecoder {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            line_over: false,
            after_cr: false,
            data: Vec::new(),
            has_data: false,
            is_message: true,
            event_bytes: 0,
            over: false,
            last_id: None,
            retry_ms: None,
        }
    }

    /// The id of the last event (to resume after it), if the server gave
    /// one.
    pub fn last_id(&self) -> Option<&[u8]> {
        self.last_id.as_deref()
    }

    /// The delay the server asked for before a reconnection.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// A new connection continues the stream: what was half read on the
    /// old one is dropped; the last id and the delay stay.
    pub fn restart(&mut self) {
        self.line = Vec::new();
        self.line_over = false;
        self.after_cr = false;
        self.data = Vec::new();
        self.has_data = false;
        self.is_message = true;
        self.event_bytes = 0;
        self.over = false;
    }

    /// Reads `bytes`; each event they complete is added to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                rest = &rest[1..];
                self.after_cr = false;
                continue;
            }
            self.after_cr = false;
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.push_bytes(&rest[..i], out);
                    self.after_cr = rest[i] == b'\r';
                    rest = &rest[i + 1..];
                    self.end_line(out);
                }
                None => {
                    self.push_bytes(rest, out);
                    rest = &[];
                }
            }
        }
    }

    /// A line's bytes: kept up to the limit (and a field name's worth);
    /// past it the line, and so its event, is over the limit.
    fn push_bytes(&mut self, bytes: &[u8], out: &mut Vec<SseItem>) {
        self.event_bytes = self.event_bytes.saturating_add(bytes.len());
        if self.line_over {
            return;
        }
        if self.line.len() + bytes.len() > self.limit + FIELD_ROOM {
            self.line = Vec::new();
            self.line_over = true;
            self.overflow(out);
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let line = std::mem::take(&mut self.line);
        let was_over = std::mem::replace(&mut self.line_over, false);
        if was_over {
            return;
        }
        if line.is_empty() {
            return self.dispatch(out);
        }
        self.event_bytes = self.event_bytes.saturating_add(1);
        if line[0] == b':' {
            return; // a comment (a keep-alive)
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &[][..]),
        };
        match field {
            b"data" => self.add_data(value, out),
            b"event" => self.is_message = value.is_empty() || value == b"message",
            // As in browsers: an id with NUL is ignored; an empty one resets.
            b"id" if !value.contains(&0) && value.len() <= MAX_ID_BYTES => {
                self.last_id = (!value.is_empty()).then(|| value.to_vec());
            }
            b"retry" => {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                    self.retry_ms = Some(ms);
                }
            }
            _ => {} // unknown fields
        }
    }

    fn add_data(&mut self, value: &[u8], out: &mut Vec<SseItem>) {
        if self.over {
            return;
        }
        let joined = self.data.len() + usize::from(self.has_data) + value.len();
        if joined > self.limit {
            self.data = Vec::new();
            return self.overflow(out);
        }
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }

    fn overflow(&mut self, out: &mut Vec<SseItem>) {
        if !self.over {
            self.over = true;
            out.push(SseItem::TooLong(self.event_bytes));
        }
    }

    /// A blank line: the event is complete. One with empty data is not
    /// dispatched (as in browsers): servers send such events only to give
    /// an event id ("priming" a stream for resumption).
    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let data = std::mem::take(&mut self.data);
        if !self.over && !data.is_empty() && self.is_message {
            out.push(SseItem::Message(data));
        }
        self.has_data = false;
        self.is_message = true;
        self.event_bytes = 0;
        self.over = false;
    }
}

/// Room for a field name (`data: `) on a line besides its value.
const FIELD_ROOM: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]], limit: usize) -> Vec<SseItem> {
        let mut decoder = SseDecoder::new(limit);
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut out);
        }
        out
    }

    fn message(text: &str) -> SseItem {
        SseItem::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn events_split_anywhere_read_the_same() {
        let stream = b"event: message\nid: 7\ndata: {\"a\":1}\n\ndata: {\"b\":2}\n\n";
        let whole = decode(&[stream], 1000);
        assert_eq!(whole, [message("{\"a\":1}"), message("{\"b\":2}")]);
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(decode(&[a, b], 1000), whole, "cut at {cut}");
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(&bytes, 1000), whole);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines_even_across_chunks() {
        assert_eq!(
            decode(&[b"data: x\r", b"\n\r", b"\ndata: y\r\r"], 100),
            [message("x"), message("y")]
        );
    }

    #[test]
    fn data_lines_are_joined_comments_and_other_events_skipped() {
        let items = decode(
            &[b": keep-alive\n\ndata: {\"a\":\ndata:1}\n\nevent: other\ndata: no\n\nid: 3\n\nid: 4\ndata\n\ndata: \n\n"],
            100,
        );
        // Events without data, or with empty data (priming ids), yield nothing.
        assert_eq!(items, [message("{\"a\":\n1}")]);
    }

    #[test]
    fn the_last_event_id_and_retry_are_kept_across_a_restart() {
        let mut decoder = SseDecoder::new(100);
        let mut out = Vec::new();
        decoder.feed(
            b"retry: 250\nid: e-1\ndata:\n\nid: e-2\ndata: {}\n\ndata: {\"half",
            &mut out,
        );
        assert_eq!(out, [message("{}")]);
        assert_eq!(decoder.last_id(), Some(&b"e-2"[..]));
        assert_eq!(decoder.retry_ms(), Some(250));
        decoder.restart();
        decoder.feed(b"\"x\"}\n\nid: bad\0id\ndata: 1\n\n", &mut out);
        // The half event before the restart is gone; an id with NUL is ignored.
        assert_eq!(out, [message("{}"), message("1")]);
        assert_eq!(decoder.last_id(), Some(&b"e-2"[..]));
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_not_a_message() {
        assert_eq!(decode(&[b"data: {\"a\":1}\n"], 100), []);
    }

    #[test]
    fn an_event_over_the_limit_is_reported_once_and_skipped_with_bounded_memory() {
        let mut decoder = SseDecoder::new(10);
        let mut out = Vec::new();
        decoder.feed(b"data: 0123456789abc", &mut out);
        // An endless line: reported once, nothing more kept.
        for _ in 0..1000 {
            decoder.feed(b"0123456789", &mut out);
        }
        assert!(decoder.line.capacity() <= 10 + FIELD_ROOM + 16);
        decoder.feed(b"\ndata: more\n\ndata: ok\n\n", &mut out);
        assert!(
            matches!(out.as_slice(), [SseItem::TooLong(n), SseItem::Message(m)] if *n > 10 && m == b"ok")
        );
        // Many short data lines over the limit together.
        let out = decode(&[b"data: 123456\ndata: 123456\ndata: x\n\ndata: y\n\n"], 10);
        assert!(matches!(out.as_slice(), [SseItem::TooLong(_), SseItem::Message(m)] if m == b"y"));
        // Exactly at the limit passes.
        assert_eq!(
            decode(&[b"data: 0123456789\n\n"], 10),
            [message("0123456789")]
        );
    }
}
