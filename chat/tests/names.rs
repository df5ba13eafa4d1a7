//! User names in any case (issue 11) through the real `chat` and `chatd`: a name typed in
//! another case is the account as registered, in the server's commands and in the client's
//! own (`private`, `stopprivate`); a look-alike name cannot register.

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
