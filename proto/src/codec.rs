//! The newline-delimited framing shared by every connection: a sans-I/O line decoder with a hard
//! length limit, and the encoder that turns a frame into one line.
//!
//! The decoder owns the partial-line buffer, so a reader can be cancelled between reads without
//! losing bytes, and it never holds more than `max_line + one read` bytes: an over-long line is
//! reported as soon as the limit is crossed, before the rest of it arrives.

use serde::Serialize;

/// Default limit for one frame, newline excluded (`limits.max_line_bytes` in chatd's config).
pub const DEFAULT_MAX_LINE: usize = 65536;

/// Why the decoder refused a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line grew past the limit before a newline arrived. The stream can no longer be
    /// trusted to be in step, so a server closes the connection after answering.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The limit in force.
        limit: usize,
    },
}

/// Splits a byte stream into lines of at most `max_line` bytes (the `\n` and an optional `\r`
/// before it are not part of the line).
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    start: usize,
    /// How far `buf[start..]` has already been searched for a newline.
    scanned: usize,
    max_line: usize,
}

impl LineDecoder {
    /// A decoder that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineDecoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
        }
    }

    /// The limit this decoder enforces.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Appends bytes read from the stream. Call [`LineDecoder::next_line`] until it returns
    /// `None` before feeding more, so the buffer stays bounded.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, if one is buffered.
    ///
    /// # Errors
    /// [`LineError::TooLong`] once the unterminated tail (or a terminated line) exceeds the
    /// limit. The decoder is then useless; the caller should drop the connection.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        let unread = &self.buf[self.start..];
        match unread[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(pos) => {
                let end = self.scanned + pos;
                let line_start = self.start;
                self.start += end + 1;
                self.scanned = 0;
                let mut line = &self.buf[line_start..line_start + end];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                if line.len() > self.max_line {
                    return Some(Err(LineError::TooLong {
                        limit: self.max_line,
                    }));
                }
                Some(Ok(line))
            }
            None => {
                self.scanned = unread.len();
                if unread.len() > self.max_line + 1 {
                    Some(Err(LineError::TooLong {
                        limit: self.max_line,
                    }))
                } else {
                    None
                }
            }
        }
    }

    /// Bytes buffered that do not yet form a line.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Frees the buffer if every byte fed has been taken as lines, so a decoder between
    /// lines holds no memory (a server with many idle connections); the next
    /// [`LineDecoder::feed`] allocates again.
    ///
    /// Returns the freed buffer, emptied, for the caller to reuse
    /// ([`LineDecoder::provide`]); `None` if a partial line is kept or there was no buffer.
    pub fn release(&mut self) -> Option<Vec<u8>> {
        if self.start == self.buf.len() && self.buf.capacity() > 0 {
            self.start = 0;
            self.scanned = 0;
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            return Some(buf);
        }
        None
    }

    /// Whether the decoder has no buffer (after [`LineDecoder::release`]).
    pub fn needs_buffer(&self) -> bool {
        self.buf.capacity() == 0
    }

    /// Gives the decoder an empty buffer to use (one an earlier
    /// [`LineDecoder::release`] returned), if it has none; otherwise drops `buf`.
    pub fn provide(&mut self, mut buf: Vec<u8>) {
        if self.needs_buffer() {
            buf.clear();
            self.buf = buf;
            self.start = 0;
            self.scanned = 0;
        }
    }
}

/// Appends `s` as a JSON string, quotes included, byte for byte as serde_json writes it.
/// Most strings need no escape and are copied as they are; the others go through
/// serde_json's own escaping.
pub(crate) fn write_json_str(buf: &mut String, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Serializing a string cannot fail; were it to, the frame would have an empty one.
        buf.push_str(serde_json::to_string(s).as_deref().unwrap_or("\"\""));
    } else {
        buf.push('"');
        buf.push_str(s);
        buf.push('"');
    }
}

/// Whether a JSON string needs this byte escaped: a control character, a quote or a
/// backslash (serde_json escapes nothing else).
pub(crate) const fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether JSON needs any of these bytes escaped ([`escaped`]).
fn needs_escape(bytes: &[u8]) -> bool {
    // No early exit within a chunk, so that the compiler checks 16 bytes at a time.
    let mut chunks = bytes.chunks_exact(16);
    for chunk in chunks.by_ref() {
        if chunk.iter().fold(false, |any, &b| any | escaped(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| escaped(b))
}

/// Serializes `frame` as one JSON line, newline included.
pub fn encode_line<T: Serialize + ?Sized>(frame: &T) -> String {
    encode_line_sized(frame, 128)
}

/// [`encode_line`] into a string allocated once for about `size` bytes (no regrowth while
/// it is written, when the guess holds).
pub fn encode_line_sized<T: Serialize + ?Sized>(frame: &T, size: usize) -> String {
    let mut buf = Vec::with_capacity(size);
    // Serializing our own types cannot fail: every map key is a string.
    if serde_json::to_writer(&mut buf, frame).is_err() {
        buf.clear();
        buf.extend_from_slice(b"{}");
    }
    buf.push(b'\n');
    // serde_json writes UTF-8 only.
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(dec: &mut LineDecoder) -> Vec<Result<String, LineError>> {
        let mut out = Vec::new();
        while let Some(l) = dec.next_line() {
            let failed = l.is_err();
            out.push(l.map(|b| String::from_utf8_lossy(b).into_owned()));
            if failed {
                break;
            }
        }
        out
    }

    #[test]
    fn splits_lines_across_feeds() {
        let mut dec = LineDecoder::new(100);
        dec.feed(b"one\ntw");
        assert_eq!(lines(&mut dec), vec![Ok("one".into())]);
        dec.feed(b"o\r\nthree\n");
        assert_eq!(lines(&mut dec), vec![Ok("two".into()), Ok("three".into())]);
        assert_eq!(dec.pending(), 0);
    }

    #[test]
    fn refuses_long_line_before_newline() {
        let mut dec = LineDecoder::new(8);
        dec.feed(b"0123456789");
        assert_eq!(lines(&mut dec), vec![Err(LineError::TooLong { limit: 8 })]);
    }

    #[test]
    fn accepts_line_at_limit() {
        let mut dec = LineDecoder::new(8);
        dec.feed(b"01234567\r\n");
        assert_eq!(lines(&mut dec), vec![Ok("01234567".into())]);
        dec.feed(b"012345678\n");
        assert_eq!(lines(&mut dec), vec![Err(LineError::TooLong { limit: 8 })]);
    }
}
