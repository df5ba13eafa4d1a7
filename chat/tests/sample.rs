//! The original assignment's sample interaction, replayed by the scripts in `examples/` with
//! three piped `chat` clients (hans, yoda, luke) against a real `chatd`: each client's exact
//! transcript is compared.

mod common;

use common::{assert_lines, ChatdProcess, Piped};

const HANS: &str = include_str!("../../examples/sample-hans.chat");
const YODA: &str = include_str!("../../examples/sample-yoda.chat");
const LUKE: &str = include_str!("../../examples/sample-luke.chat");
const LUKE_AGAIN: &str = include_str!("../../examples/sample-luke-again.chat");
const WELCOME: &str = "Welcome to the greatest messaging application ever!";

#[test]
fn sample_interaction_transcripts() {
    let server = ChatdProcess::start("");
    // Start order fixes the order of presence lines: hans, then yoda, then luke.
    let mut hans = Piped::script("hans", server.port(), HANS);
    hans.expect(WELCOME);
    let mut yoda = Piped::script("yoda", server.port(), YODA);
    hans.expect("yoda logged in");
    let mut luke = Piped::script("luke", server.port(), LUKE);
    // luke comes back only after yoda has left the offline message and logged out.
    assert_eq!(
        luke.finish(),
        0,
        "luke's exit status; stderr: {}",
        luke.stderr()
    );
    assert_eq!(
        yoda.finish(),
        0,
        "yoda's exit status; stderr: {}",
        yoda.stderr()
    );
    let mut luke_again = Piped::script("luke-again", server.port(), LUKE_AGAIN);
    assert_eq!(
        luke_again.finish(),
        0,
        "luke-again's exit status; stderr: {}",
        luke_again.stderr()
    );
    assert_eq!(
        hans.finish(),
        0,
        "hans's exit status; stderr: {}",
        hans.stderr()
    );

    assert_lines(
        "hans",
        &hans.lines,
        &[
            WELCOME,
            "yoda logged in",
            "luke logged in",
            "luke",
            "yoda",
            "yoda: Hi hans",
            "yoda: I blocked you",
            "Your message could not be delivered as the recipient has blocked you",
            "Your message could not be delivered to some recipients",
            "luke",
            "yoda: I unblocked you",
            "luke logged out",
            "yoda logged out",
            "luke logged in",
            "luke: I am back",
            "luke",
            "luke",
            "yoda",
        ],
    );
    assert_lines(
        "yoda",
        &yoda.lines,
        &[
            WELCOME,
            "luke logged in",
            "hans: Hey Dude",
            "hans: vader is evil",
            "hans is blocked",
            "luke: hans is done",
            "hans is unblocked",
            "Error. hans was not blocked",
            "Error. Cannot block self",
            "Error. Cannot unblock self",
            "hans: thanks",
            "luke logged out",
        ],
    );
    assert_lines(
        "luke",
        &luke.lines,
        &[
            WELCOME,
            "hans: vader is evil",
            "hans: anyone?",
            "hans: yoda blocked me",
            "hans: bye",
            "Error. Cannot message self",
            "Error. Invalid user",
        ],
    );
    assert_lines(
        "luke-again",
        &luke_again.lines,
        &[WELCOME, "yoda: see you later", "hans", "hans logged out"],
    );
}
