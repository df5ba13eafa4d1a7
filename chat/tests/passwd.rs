//! `passwd` against a real `chatd`: in piped mode (the old and the new password from the next
//! script lines, taken verbatim) and on a pseudo-terminal (the new password asked twice without
//! echo, asked again when the two differ).

mod common;

use std::process::Command;

use common::pty::Pty;
use common::{assert_lines, chat_bin, ChatdProcess, Piped};

const WELCOME: &str = "Welcome to the greatest messaging application ever!";

#[test]
fn piped_passwd_reads_old_and_new_from_the_next_lines() {
    let server = ChatdProcess::start("");
    // A wrong old password changes nothing; then a new password that starts with `#` (a
    // password line is never a comment).
    let script = "hans\nfalcon*solo\npasswd\nwrong\nn3w#pass\npasswd\nfalcon*solo\n#n3w.pass\n\
                  passwd\n#n3w.pass\nhas space\nlogout\n";
    let mut c = Piped::script("hans", server.port(), script);
    assert_eq!(c.finish(), 0);
    assert_lines(
        "hans",
        &c.lines,
        &[
            WELCOME,
            "Error. Invalid Password. Your password was not changed",
            "Password changed",
            "Error. Invalid password: use 1-1024 printable characters without spaces",
        ],
    );
    let mut old = Piped::script("hans-old", server.port(), "hans\nfalcon*solo\n");
    assert_eq!(old.finish(), 2, "the old password no longer logs in");
    assert_eq!(old.lines[0], "Invalid Password. Please try again");
    let mut new = Piped::script("hans-new", server.port(), "hans\n#n3w.pass\nwhoelse\n");
    assert_eq!(new.finish(), 0);
    assert_lines("hans-new", &new.lines, &[WELCOME]);
}

#[test]
fn passwd_under_strict_fails_the_script_on_a_wrong_old_password() {
    let server = ChatdProcess::start("");
    let mut c = Piped::script_with(
        "yoda",
        server.port(),
        "yoda\nwise@!man\npasswd\nnope\nother#1\nbroadcast never sent\n",
        &["--strict"],
        &[],
    );
    assert_eq!(c.finish(), 1);
    assert_lines(
        "yoda",
        &c.lines,
        &[
            WELCOME,
            "Error. Invalid Password. Your password was not changed",
        ],
    );
}

#[test]
fn interactive_passwd_asks_twice_without_echo() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chat_bin());
    cmd.arg(server.port().to_string())
        .env("CHAT_HISTFILE", dir.path().join("history"))
        .env("CHAT_SEEN_DIR", "")
        .env_remove("CHAT_PASSWORD");
    let mut pty = Pty::spawn(cmd);
    pty.expect("Username: ");
    pty.send("luke\r");
    pty.expect("Password: ");
    pty.send("light==saber\r");
    pty.expect(WELCOME);
    pty.expect("> ");
    pty.send("passwd\r");
    pty.expect("Old password: ");
    pty.send("light==saber\r");
    pty.expect("New password: ");
    pty.send("first#try\r");
    pty.expect("Retype new password: ");
    pty.send("other#try\r");
    pty.expect("Passwords do not match. Please try again");
    pty.expect("New password: ");
    pty.send("dark==saber\r");
    pty.expect("Retype new password: ");
    pty.send("dark==saber\r");
    pty.expect("Password changed");
    pty.expect("> ");
    // Ctrl-C at a password prompt cancels.
    pty.send("passwd\r");
    pty.expect("Old password: ");
    pty.send("\x03");
    pty.expect("Password not changed");
    pty.expect("> ");
    pty.send("\x04");
    assert_eq!(pty.finish(), 0);
    let screen = pty.text();
    for secret in ["light==saber", "first#try", "other#try", "dark==saber"] {
        assert!(!screen.contains(secret), "{secret} was echoed: {screen:?}");
    }
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap_or_default();
    assert!(!history.contains("saber"), "{history:?}");
    let mut again = Piped::script("luke", server.port(), "luke\ndark==saber\n");
    assert_eq!(again.finish(), 0);
    assert_lines("luke", &again.lines, &[WELCOME]);
}
