//! `passwd`: the old password, then the new one (asked twice on a terminal, again from the
//! start of the new one when the two differ; read once from the next script line in piped
//! mode), then one `change_password` request. Passwords are read as secrets: never echoed,
//! never in the history, and in piped mode taken verbatim (a line starting with `#` or `.` is a
//! password there, not a comment or directive).

use proto::Request;

use super::{Flow, Next, Session};
use crate::commands::Command;
use crate::inbox::Ask;
use crate::render;

impl Session {
    /// Runs `passwd` and prints its result.
    pub(super) fn passwd(&mut self) -> Flow<()> {
        let Some(old) = self.secret(render::OLD_PASSWORD_PROMPT)? else {
            return Ok(());
        };
        let new = loop {
            let Some(new) = self.secret(render::NEW_PASSWORD_PROMPT)? else {
                return Ok(());
            };
            if self.options.piped {
                break new;
            }
            let Some(again) = self.secret(render::RETYPE_PASSWORD_PROMPT)? else {
                return Ok(());
            };
            if new == again {
                break new;
            }
            self.screen.line(render::PASSWORDS_DIFFER);
        };
        let response = self.request(Request::ChangePassword { old, new })?;
        self.screen
            .lines(render::command_reply(&Command::Passwd, &response));
        Ok(())
    }

    /// One password after `prompt`; `None` when Ctrl-C cancelled `passwd` (said so). The end
    /// of input logs out, as it does at the command prompt.
    fn secret(&mut self, prompt: &str) -> Flow<Option<String>> {
        loop {
            match self.ask(Ask::Secret(prompt.to_string()))? {
                Next::Line(line) => return Ok(Some(line)),
                Next::Interrupted => {
                    self.screen.line(render::PASSWORD_NOT_CHANGED);
                    return Ok(None);
                }
                Next::EndOfInput => return Err(self.logout(self.final_status())),
                // (Only command lines are set aside.)
                Next::Reply(..) | Next::Shown | Next::Suspended(_) => {}
            }
        }
    }
}
