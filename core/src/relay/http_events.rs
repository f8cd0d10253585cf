//! The event streams of a Streamable HTTP server (a POST's answer, or the
//! server's own GET stream): each message passed on as it comes, and a
//! stream that ends or breaks early resumed after its last event
//! (`Last-Event-ID`, a GET), when the server numbers its events, as the
//! MCP spec asks of clients.

use super::framing::{Frame, MAX_MESSAGE_BYTES};
use super::http_upstream::{cause, content_type, Link, Outgoing};
use super::sse::{SseDecoder, SseItem};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT};
use reqwest::Response;
use std::time::Duration;

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// How many resumptions in a row may bring nothing before the stream is
/// given up.
const MAX_FRUITLESS_RESUMES: u32 = 2;
/// The wait before a resumption when the server asked for none (`retry:`),
/// and the longest one a server may ask for.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// What one connection of a stream brought.
#[derive(Default)]
struct Read {
    answered: bool,
    messages: usize,
    /// Why it broke off, if it did not end cleanly.
    broke: Option<String>,
}

impl Link {
    /// Reads an event stream to its end, resuming it while the server
    /// numbers its events; whether one of them answered `request`. An
    /// error says why the stream could not be read.
    pub(super) async fn relay_events(
        &self,
        response: Response,
        request: Option<&Outgoing>,
    ) -> Result<bool, String> {
        let mut decoder = SseDecoder::new(MAX_MESSAGE_BYTES);
        let mut response = response;
        let mut fruitless = 0;
        loop {
            let read = self.read_events(&mut decoder, response, request).await?;
            if read.answered {
                return Ok(true);
            }
            fruitless = if read.messages > 0 { 0 } else { fruitless + 1 };
            let last_id = decoder.last_id().map(<[u8]>::to_vec);
            let (Some(last_id), true) = (last_id, fruitless <= MAX_FRUITLESS_RESUMES) else {
                return read.broke.map_or(Ok(false), Err);
            };
            let delay = decoder.retry_ms().map(Duration::from_millis);
            tokio::time::sleep(delay.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY)).await;
            decoder.restart();
            response = self.resume(&last_id).await?;
        }
    }

    /// One connection's events, until it ends, breaks, or answers.
    async fn read_events(
        &self,
        decoder: &mut SseDecoder,
        mut response: Response,
        request: Option<&Outgoing>,
    ) -> Result<Read, String> {
        let mut items = Vec::new();
        let mut read = Read::default();
        while !read.answered {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    read.broke = Some(cause(e));
                    break;
                }
            };
            decoder.feed(&chunk, &mut items);
            for item in items.drain(..) {
                match item {
                    SseItem::Message(data) => {
                        read.messages += 1;
                        read.answered |= self.pass_on(data, request).await;
                    }
                    SseItem::TooLong(n) => {
                        let _ = self.to_router.send(Ok(Frame::TooLong(n))).await;
                        return Err(format!("an event over the {MAX_MESSAGE_BYTES}-byte limit"));
                    }
                }
            }
        }
        Ok(read)
    }

    /// Asks for the rest of a stream, after event `last_id`.
    async fn resume(&self, last_id: &[u8]) -> Result<Response, String> {
        let last_id = HeaderValue::from_bytes(last_id).map_err(|_| {
            "its event stream broke off, and its last event id cannot be sent back to resume it"
        })?;
        let request = self
            .with_session(self.client.get(self.target.url.clone()))
            .header(ACCEPT, "text/event-stream")
            .header(LAST_EVENT_ID, last_id);
        let response = request.send().await.map_err(|e| {
            format!(
                "its event stream broke off and cannot be resumed: {}",
                cause(e)
            )
        })?;
        let status = response.status();
        if !status.is_success() || content_type(&response) != "text/event-stream" {
            return Err(format!(
                "its event stream broke off and cannot be resumed (HTTP {status})"
            ));
        }
        Ok(response)
    }
}
