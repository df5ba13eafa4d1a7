//! Interactive mode through a pseudo-terminal against a real `chatd`: prompts and password
//! entry, tab completion, history across runs, messages arriving while a line is half typed,
//! escaping, Ctrl-C and Ctrl-D, a server shutdown in the middle of a line edit, local times,
//! completion of offline names, the consent question setting the half-typed line aside,
//! `help <command>`, multi-line pastes, the idle warning and colours.

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

/// `chat` on a pty, with its history in `histfile`; times in UTC, no colours.
fn interactive(port: u16, histfile: &Path) -> Pty {
    let mut cmd = Command::new(chat_bin());
    cmd.arg(port.to_string())
        .env("CHAT_HISTFILE", histfile)
        .env("CHAT_SEEN_DIR", "")
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .env_remove("CHAT_PASSWORD");
    Pty::spawn(cmd)
}

/// `HH:MM ` just before `rest` at the end of `shown`.
fn assert_timed(shown: &str, rest: &str) {
    let before = shown
        .strip_suffix(rest)
        .unwrap_or_else(|| panic!("{shown:?} does not end in {rest:?}"));
    let time = &before[before.len() - 6..];
    let digits = time.replace(':', "");
    assert!(
        time.ends_with(' ') && time.as_bytes()[2] == b':' && digits.trim().parse::<u32>().is_ok(),
        "no time before {rest:?}: {shown:?}"
    );
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
    .env("CHAT_SEEN_DIR", "")
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

    // The question appears while hans sits at the command prompt, as the prompt; not y or n:
    // it is asked again.
    luke.send("startprivate hans");
    hans.expect("luke would like to private message, enter y or n: ");
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

#[test]
fn incoming_lines_show_their_time_and_the_prompt_names_the_user() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    assert!(hans.text().contains("\r\x1b[Khans> "), "{:?}", hans.text());
    let mut luke = online(&server, "luke", "light==saber");
    assert_timed(&hans.expect("luke logged in"), "luke logged in");
    luke.send("message hans Hey Dude");
    assert_timed(&hans.expect("luke: Hey Dude"), "luke: Hey Dude");
    luke.send("broadcast vader is evil");
    assert_timed(&hans.expect("luke: vader is evil"), "luke: vader is evil");
    // A message for someone offline is stored, and the terminal says so.
    hans.send("message vader for later\r");
    hans.expect("(vader is offline: stored)");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    // vader gets it at login, saying when it was sent.
    let mut vader = interactive(server.port(), &dir.path().join("history2"));
    // (Shown right after the welcome, before the prompt `login` waits for.)
    login(&mut vader, "vader", "sithlord**");
    let shown = vader.text();
    let end = shown.find("hans: for later").expect("the stored message") + 15;
    let sent = shown[..end].rfind("(sent ").expect("the sent time");
    assert_eq!(
        shown[sent..end].len(),
        "(sent 14:02) hans: for later".len(),
        "{shown:?}"
    );
    vader.send("logout\r");
    assert_eq!(vader.finish(), 0);
    luke.close_stdin();
}

#[test]
fn tab_completes_an_offline_account_for_message() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    // vader is not online: only the account list knows him.
    hans.send("message va\t");
    hans.expect("der ");
    hans.send("see you later\r");
    hans.expect("(vader is offline: stored)");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
}

#[test]
fn the_consent_question_gives_the_half_typed_line_back() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    let mut yoda = online(&server, "yoda", "wise@!man");
    let mut luke = online(&server, "luke", "light==saber");
    hans.expect("luke logged in");
    hans.send("message yoda an important note");
    hans.expect("an important note");
    luke.send("startprivate hans");
    hans.expect("luke would like to private message, enter y or n: ");
    hans.send("y\r");
    hans.expect("Start private messaging with luke");
    // The line is back, cursor at its end: typing goes on where it stopped.
    hans.expect("hans> message yoda an important note");
    hans.send(", indeed\r");
    assert_eq!(yoda.expect("hans: "), "hans: an important note, indeed");
    luke.expect("Start private messaging with hans");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
    yoda.close_stdin();
}

#[test]
fn help_for_one_command_and_familiar_words() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    hans.send("help message\r");
    hans.expect("Usage: message <user> <message>");
    hans.expect("Example: message yoda Hey Dude");
    hans.expect("hans> ");
    hans.send("? block\r");
    hans.expect("Usage: block <user>");
    hans.expect("hans> ");
    hans.send("?\r");
    hans.expect("Commands:");
    hans.expect("help <command>");
    hans.expect("hans> ");
    hans.send("help dance\r");
    hans.expect("Error. No command dance (type help for the list)");
    hans.expect("hans> ");
    hans.send("dance\r");
    hans.expect("Error. Invalid command (type help for the list)");
    hans.expect("hans> ");
    hans.send("quit\r");
    assert_eq!(hans.finish(), 0);
}

#[test]
fn a_multi_line_paste_runs_each_line_as_a_command() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    let mut luke = online(&server, "luke", "light==saber");
    hans.expect("luke logged in");
    // Bracketed paste, as a terminal sends it, then Enter.
    hans.send("\x1b[200~message luke one\rmessage luke two\r\x1b[201~");
    hans.send("\r");
    assert_eq!(luke.expect("hans: "), "hans: one");
    assert_eq!(luke.expect("hans: "), "hans: two");
    hans.expect("hans> message luke two");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(
        history.contains("message luke one\n") && history.contains("message luke two\n"),
        "{history:?}"
    );
    luke.close_stdin();
}

#[test]
fn the_idle_warning_is_shown_before_the_inactivity_logout() {
    // A 4 s timeout: the warning comes at half time, 2 s before the logout.
    let server = ChatdProcess::start("timeout = 4\n");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    hans.expect("You will be logged out in 2 seconds due to inactivity");
    hans.expect("You have been logged out due to inactivity");
    assert_eq!(hans.finish(), 3);
}

#[test]
fn names_and_errors_are_coloured_unless_no_color() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chat_bin());
    cmd.arg(server.port().to_string())
        .env("CHAT_HISTFILE", dir.path().join("history"))
        .env("CHAT_SEEN_DIR", "")
        .env("TZ", "UTC")
        .env_remove("NO_COLOR")
        .env_remove("CHAT_PASSWORD");
    let mut hans = Pty::spawn(cmd);
    login(&mut hans, "hans", "falcon*solo");
    let mut luke = online(&server, "luke", "light==saber");
    hans.expect("\x1b[1;36mluke\x1b[0m logged in");
    luke.send("message hans hi");
    hans.expect("\x1b[1;36mluke\x1b[0m: hi");
    hans.send("message nobody x\r");
    hans.expect("\x1b[31mError. Invalid user\x1b[0m");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
    luke.close_stdin();
}

#[test]
fn dash_c_on_a_terminal_asks_for_the_login_and_runs_the_commands() {
    let server = ChatdProcess::start("");
    let _luke = online(&server, "luke", "light==saber");
    let mut cmd = Command::new(chat_bin());
    cmd.arg(server.port().to_string())
        .args(["-c", "whoelse", "-c", "help whoelse"])
        .env("CHAT_HISTFILE", "")
        .env("CHAT_SEEN_DIR", "")
        .env_remove("CHAT_PASSWORD");
    let mut hans = Pty::spawn(cmd);
    hans.expect("Username: ");
    hans.send("hans\r");
    hans.expect("Password: ");
    hans.send("falcon*solo\r");
    hans.expect(WELCOME);
    hans.expect("luke");
    hans.expect("Usage: whoelse");
    assert_eq!(hans.finish(), 0);
    assert!(!hans.text().contains("falcon"), "{:?}", hans.text());
}

#[test]
fn a_new_account_is_learned_for_completion_when_it_logs_in() {
    let server = ChatdProcess::start("");
    let dir = tempfile::tempdir().unwrap();
    let mut hans = interactive(server.port(), &dir.path().join("history"));
    login(&mut hans, "hans", "falcon*solo");
    // newbie registers, then leaves: only the refreshed account list knows the name.
    let mut newbie = Piped::script("newbie", server.port(), "newbie\nfirst*pass\n");
    assert_eq!(newbie.finish(), 0);
    hans.expect("newbie logged out");
    // A round trip: the account list, asked for before it, has arrived. (Keys are typed once
    // the next prompt shows.)
    hans.send("whoelsesince 600\r");
    hans.expect("newbie\r\n");
    hans.expect("hans> ");
    hans.send("message newb\t");
    hans.expect("ie ");
    hans.send("welcome!\r");
    hans.expect("(newbie is offline: stored)");
    hans.expect("hans> ");
    hans.send("logout\r");
    assert_eq!(hans.finish(), 0);
}
