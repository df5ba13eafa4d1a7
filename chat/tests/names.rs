//! Accounts (issue 11) through the real `chat` and `chatd`: a name typed in another case is
//! the account as registered, in the server's commands and in the client's own (`private`,
//! `stopprivate`); a look-alike name cannot register; a deleted account's session is told.

mod common;

use common::{online, ChatdProcess, Piped};

#[test]
fn a_name_in_any_case_is_the_registered_account() {
    let server = ChatdProcess::start("");
    // `HANS` at the prompt logs into hans.
    let mut hans = Piped::start("hans", server.port(), &[], &[]);
    hans.send("HANS");
    hans.send("falcon*solo");
    hans.expect("Welcome to the greatest messaging application ever!");
    let mut luke = online(&server, "luke");
    hans.expect("luke logged in");
    luke.send("message Hans hi from luke");
    hans.expect("luke: hi from luke");
    hans.send("startprivate LUKE");
    luke.expect("hans would like to private message, enter y or n: ");
    luke.send("y");
    hans.expect("Start private messaging with luke");
    luke.expect("Start private messaging with hans");
    hans.send("private Luke psst");
    luke.expect("hans(private): psst");
    hans.send("stopprivate LUKE");
    hans.expect("Stopped private messaging with luke");
    luke.expect("hans stopped private messaging");
    hans.send("block LUKE");
    hans.expect("LUKE is blocked");
    luke.send("message hans still there?");
    luke.expect("Your message could not be delivered as the recipient has blocked you");
    hans.close_stdin();
    assert_eq!(hans.finish(), 0);

    // `Hans` is hans, not a new account: the password is asked, not a new one.
    let mut other = Piped::script("Hans", server.port(), "Hans\nnot-the-password\n");
    assert_eq!(other.finish(), 2);
    assert_eq!(other.lines, ["Invalid Password. Please try again"]);
}

#[test]
fn a_deleted_account_is_told_and_its_session_ends() {
    let server = ChatdProcess::start("");
    let mut leia = online(&server, "leia");
    let del = testkit::chatctl(server.dir(), &["user", "del", "leia"]);
    assert_eq!(
        del.ok(),
        "account leia deleted (it was online: disconnected)\n"
    );
    leia.expect("You have been disconnected by the administrator");
    leia.expect("Reason: Your account has been deleted");
    assert_eq!(leia.finish(), 3);
    // The name is free again: a new account.
    let mut again = Piped::script("leia", server.port(), "leia\nnew#leia\n");
    assert_eq!(again.finish(), 0);
    assert_eq!(
        again.lines,
        [
            "This is a new user. Enter a password: ",
            "Welcome to the greatest messaging application ever!"
        ]
    );
}
