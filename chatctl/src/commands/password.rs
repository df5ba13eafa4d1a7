//! Reading a new password for `user add` and `user passwd`: from the terminal without echo,
//! asked twice (a mismatch changes nothing), or, when standard input is not a terminal, its
//! first line (for scripts: `printf '%s\n' "$pw" | chatctl user add rey`).

use std::io::{BufRead, IsTerminal};

use crate::client::Failure;

/// The new password, as above. `prompt` is shown on the terminal.
///
/// # Errors
/// [`Failure::Request`] (exit 1) when the two entries differ, nothing could be read, or the
/// terminal failed.
pub fn new_password(prompt: &str) -> Result<String, Failure> {
    let failed = |code: &str, message: String| Failure::Request {
        code: code.into(),
        message,
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let read = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| failed("no_password", format!("cannot read the password: {e}")))
        };
        let first = read(prompt)?;
        let again = read("Retype it: ")?;
        if first != again {
            return Err(failed(
                "password_mismatch",
                "the two passwords differ; nothing changed".into(),
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    let n = stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| failed("no_password", format!("cannot read the password: {e}")))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if n == 0 || password.is_empty() {
        return Err(failed(
            "no_password",
            "no password: give it on the terminal, or as the first line of standard input".into(),
        ));
    }
    Ok(password.to_string())
}
