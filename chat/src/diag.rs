//! The client's own messages on stderr (cannot connect, a private link failed, a script
//! problem): one line each, `chat: ` and the text, with control characters and terminal escape
//! sequences escaped by [`render::sanitize`](crate::render::sanitize). They often quote what
//! the network sent (a server's error text, the address a peer advertised, a frame it could not
//! read), so nothing printed here reaches the terminal raw. What users see on stdout is
//! `render`'s business.

/// Prints `chat: TEXT` on stderr, escaped.
pub fn line(text: &str) {
    eprintln!("chat: {}", crate::render::sanitize(text));
}

/// `report!("format", args...)`: [`line`] of the formatted text.
macro_rules! report {
    ($($arg:tt)*) => {
        $crate::diag::line(&format!($($arg)*))
    };
}
pub(crate) use report;

#[cfg(test)]
mod tests {
    #[test]
    fn network_text_is_escaped() {
        assert_eq!(
            crate::render::sanitize("127.0.0.1:\u{1b}]0;pwned\u{7}\u{1b}[2J:9"),
            "127.0.0.1:\\x1b]0;pwned\\x07\\x1b[2J:9"
        );
    }
}
