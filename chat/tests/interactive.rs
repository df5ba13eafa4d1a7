//! Interactive mode through a pseudo-terminal against a real `chatd`: prompts and password
//! entry, tab completion, history across runs, messages arriving while a line is half typed,
//! escaping, Ctrl-C and Ctrl-D, and a server shutdown in the middle of a line edit.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::pty::Pty;
use common::{chat_bin, ChatdProcess, Piped};

const WELCOME: &str = "Welcome to the greatest messaging application ever!";
const UP: &str = "\x1b[A";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";

/// `chat` on a pty, with its history in `histfile`.
fn interactive(port: u16, histfile: &Path) -> Pty {
    let mut cmd = Command::new(chat_bin());
    cmd.arg(port.to_string())
        .env("CHAT_HISTFILE", histfile)
        .env_remove("CHAT_PASSWORD");
    Pty::spawn(cmd)
}

/// Logs in through the prompts and checks the password never reaches the screen.
fn login(pty: &mut Pty, user: &str, password: &str) {
    pty.expect("Username: ");
    pty.send(&format!("{user}\r"));
    pty.expect("Password: ");
    pty.send(&format!("{password}\r"));
    let shown = pty.expect(WELCOME);
    assert!(
        !shown.contains(password),
        "the password was echoed: {shown:?}"
    );
    pty.expect("> ");
}

/// A piped client that stays logged in until its stdin is closed.
fn online(server: &ChatdProcess, user: &str, password: &str) -> Piped {
    let mut p = Piped::start(user, server.port(), &[], &[]);
    p.send(user);
    p.send(password);
    p.expect(WELCOME);
    p
}

#[test]
fn password_is_not_echoed_and_ctrl_d_logs_out() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    hans.send(CTRL_D);
    assert_eq!(hans.finish(), 0);
    assert!(!hans.text().contains("falcon"), "{:?}", hans.text());
}

#[test]
fn wrong_password_prompts_again_without_echo() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    hans.expect("Username: ");
    hans.send("hans\r");
    hans.expect("Password: ");
    hans.send("wrong-one\r");
    hans.expect("Invalid Password. Please try again");
    hans.expect("Password: ");
    hans.send("falcon*solo\r");
    hans.expect(WELCOME);
    assert!(!hans.text().contains("wrong-one"), "{:?}", hans.text());
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
}

#[test]
fn tab_completes_commands_and_online_users() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");

    // "whoe" + Tab completes to the command (whoelse is the only match); it runs and lists luke.
    hans.send("whoe\t");
    hans.expect("lse");
    hans.send("\r");
    hans.expect("luke\r\n");
    hans.expect("> ");

    // A user name completes in a user position.
    hans.send("message lu\t");
    hans.expect("ke");
    hans.send("completed by tab\r");
    luke.expect("hans: completed by tab");
    hans.expect("> ");

    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn history_is_recalled_in_the_next_run() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let histfile = dir.path().join("state").join("chat").join("history");

    let mut first = interactive(server.port(), &histfile);
    login(&mut first, "hans", "falcon*solo");
    first.send("message luke from the first run\r");
    luke.expect("hans: from the first run");
    first.expect("> ");
    first.send(CTRL_D);
    assert_eq!(first.finish(), 0);

    let saved = std::fs::read_to_string(&histfile).expect("history file written");
    assert!(saved.contains("message luke from the first run"), "{saved}");
    assert!(
        !saved.contains("falcon"),
        "a password in the history: {saved}"
    );
    let mode = std::fs::metadata(&histfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "history file mode");

    let mut second = interactive(server.port(), &histfile);
    login(&mut second, "hans", "falcon*solo");
    second.send(UP);
    second.expect("from the first run");
    second.send("\r");
    luke.expect("hans: from the first run");
    second.expect("> ");
    second.send("logout\r");
    assert_eq!(second.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn incoming_message_keeps_the_half_typed_line() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");

    hans.send("message luke hel");
    hans.expect("message luke hel");
    luke.send("message hans ping while you type");
    // The message appears, then the prompt and the half-typed line are drawn again below it.
    hans.expect("luke: ping while you type");
    hans.expect("> message luke hel");
    // Finishing the line sends the whole text.
    hans.send("lo there\r");
    assert_eq!(luke.expect("hans: "), "hans: hello there");

    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn escapes_are_shown_not_obeyed() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");

    luke.send_raw(b"message hans clear \x1b[2J\x1b[31mred\x07 done\n");
    hans.expect("luke: clear \\x1b[2J\\x1b[31mred\\x07 done");
    let text = hans.text();
    assert!(
        !text.contains("\x1b[2J"),
        "a raw escape reached the terminal"
    );
    assert!(
        !text.contains("\x1b[31m"),
        "a raw escape reached the terminal"
    );
    assert!(!text.contains('\x07'), "a raw BEL reached the terminal");

    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn ctrl_c_clears_the_line() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");

    hans.send("message luke never sent");
    hans.expect("never sent");
    hans.send(CTRL_C);
    hans.expect("> ");
    hans.send("message luke after ctrl-c\r");
    assert_eq!(luke.expect("hans: "), "hans: after ctrl-c");

    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn shutdown_while_typing_exits_3() {
    let mut server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    hans.send("half a line");
    hans.expect("half a line");
    server.signal(libc::SIGTERM);
    hans.expect("The server is shutting down");
    assert_eq!(hans.finish(), 3);
    server.wait_exit();
}

#[test]
fn refused_user_names_prompt_again() {
    let server = ChatdProcess::start("");
    let mut luke = online(&server, "luke", "light==saber");
    let dir = tempfile::tempdir().unwrap();
    let mut c = interactive(server.port(), &dir.path().join("history"));
    c.expect("Username: ");
    c.send("luke\r");
    c.expect("Error. luke is already logged in");
    c.expect("Username: ");
    c.send("no such name!\r");
    c.expect("Error. ");
    c.expect("Username: ");
    c.send("hans\r");
    c.expect("Password: ");
    c.send("falcon*solo\r");
    c.expect(WELCOME);
    // Wait for the command prompt: a Ctrl-D typed ahead, while the terminal is still in
    // canonical mode, is an end-of-file for that mode and is lost when the editor starts.
    c.expect("> ");
    c.send(CTRL_D);
    assert_eq!(c.finish(), 0);
    luke.close_stdin();
    assert_eq!(luke.finish(), 0);
}

#[test]
fn user_flag_and_environment_password_skip_the_prompts() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chat_bin());
    cmd.args([
        "--server",
        &format!("127.0.0.1:{}", server.port()),
        "--user",
        "hans",
    ])
    .env("CHAT_HISTFILE", dir.path().join("history"))
    .env("CHAT_PASSWORD", "falcon*solo");
    let mut c = Pty::spawn(cmd);
    let shown = c.expect(WELCOME);
    assert!(
        !shown.contains("Username:") && !shown.contains("Password:"),
        "{shown:?}"
    );
    c.expect("> ");
    c.send("logout\r");
    assert_eq!(c.finish(), 0);
}

#[test]
fn ctrl_d_at_the_user_name_prompt_exits_2() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut c = interactive(server.port(), &dir.path().join("history"));
    c.expect("Username: ");
    c.send(CTRL_D);
    assert_eq!(c.finish(), 2);
}

#[test]
fn private_consent_at_the_prompt_and_peer_completion() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    let mut luke = online(&server, "luke", "light==saber");
    let _leia = online(&server, "leia", "$blasterpistol$");
    hans.expect("leia logged in");

    // The question appears while hans sits at the command prompt; his next line answers it.
    // Not y or n: the question becomes the prompt.
    luke.send("startprivate hans");
    hans.expect("luke would like to private message, enter y or n: ");
    hans.expect("> ");
    hans.send("maybe\r");
    hans.expect("luke would like to private message, enter y or n: ");
    hans.send("n\r");
    luke.expect("hans declines private messaging");
    hans.expect("> ");

    luke.send("startprivate hans");
    hans.expect("luke would like to private message, enter y or n: ");
    hans.send("y\r");
    hans.expect("Start private messaging with luke");
    luke.expect("Start private messaging with hans");
    luke.send("private hans hi \u{1b}[2J");
    hans.expect("luke(private): hi \\x1b[2J");

    // `stopprivate` completes private peers only: luke, not leia, although both are online.
    hans.send("stopp\t");
    hans.expect("rivate ");
    hans.send("l\t");
    hans.expect("uke ");
    hans.send("\r");
    hans.expect("Stopped private messaging with luke");
    luke.expect("hans stopped private messaging");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
}
