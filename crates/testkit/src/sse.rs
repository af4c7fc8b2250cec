//! Server-Sent Events as a client reads them: a push parser that splits bytes into frames, and a
//! reader of a response body frame by frame. Every SSE client of the tests and of the rehearsal
//! goes through these, so that framing is understood one way only.

use std::{collections::VecDeque, pin::Pin};

use futures_util::{Stream, StreamExt};

/// One frame: the event name, if it had one, and its data lines joined by newlines.
pub type Frame = (Option<String>, String);

/// Splits a byte stream into `(event name, data)` frames; comments (keep-alives) yield nothing.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Feeds more of the body; returns the frames it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some((end, sep)) = frame_end(&self.buf) {
            let frame: Vec<u8> = self.buf.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&frame[..end]);
            let (mut name, mut data) = (None, Vec::new());
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if name.is_some() || !data.is_empty() {
                frames.push((name, data.join("\n")));
            }
        }
        frames
    }
}

fn frame_end(buf: &[u8]) -> Option<(usize, usize)> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else if buf[i..].starts_with(b"\n\n") {
            Some((i, 2))
        } else {
            None
        }
    })
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A response body read frame by frame.
pub struct SseStream {
    body: ByteStream,
    parser: SseParser,
    ready: VecDeque<Frame>,
    ended: bool,
}

impl SseStream {
    /// Reads `response`'s body as SSE.
    pub fn new(response: reqwest::Response) -> SseStream {
        SseStream {
            body: Box::pin(response.bytes_stream()),
            parser: SseParser::default(),
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// The next frame; `None` once the body has ended or failed. Safe to cancel (under a
    /// timeout): frames already read wait in the queue, and an unfinished read loses nothing.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.ready.extend(self.parser.push(&chunk)),
                Some(Err(_)) | None => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_are_split_across_chunks_and_keep_alives_are_skipped() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: snapshot\ndata: {\"a\"").is_empty());
        let frames = p.push(b":1}\n\n: keep-alive\n\nevent: seats\r\ndata: 2\r\n\r\n");
        assert_eq!(
            frames,
            vec![
                (Some("snapshot".into()), "{\"a\":1}".into()),
                (Some("seats".into()), "2".into())
            ]
        );
    }
}
