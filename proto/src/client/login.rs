//! The protocol's logic of a client's first steps, without I/O: checking the greeting
//! ([`check_hello`]) and the `login`/`password` conversation ([`Login`]). The blocking
//! [`super::Client`] drives them over its socket; an asynchronous client (the load generator
//! `chat-bench`) drives the same code over its own, so the rules live in one place.
//!
//! Matching replies to requests by id stays with the caller, who owns the ids.

use super::error::ClientError;
use crate::frames::{Hello, Request, Response, ServerFrame, PROTOCOL_VERSION};

/// Accepts the server's first frame if it is a `hello` of this protocol version.
///
/// # Errors
/// [`ClientError::Version`]; [`ClientError::Refused`] when the server answered the
/// connection with an error instead (`too_many_connections`); [`ClientError::NoHello`] for
/// any other frame.
pub fn check_hello(first: ServerFrame) -> Result<Hello, ClientError> {
    match first {
        ServerFrame::Hello(hello) if hello.protocol == PROTOCOL_VERSION => Ok(hello),
        ServerFrame::Hello(hello) => Err(ClientError::Version {
            theirs: hello.protocol,
        }),
        ServerFrame::Reply {
            response: Response::Error { code, message },
            ..
        } => Err(ClientError::Refused { code, message }),
        _ => Err(ClientError::NoHello(
            "the first frame was not a greeting".into(),
        )),
    }
}

/// What a successful login returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The account name.
    pub user: String,
    /// How many stored messages follow as events.
    pub offline: u64,
    /// `true` when the password created the account (`new_user`).
    pub created: bool,
}

/// What to do after a reply of the login conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginStep {
    /// Send this request and hand its reply to [`Login::on_reply`].
    Send(Request),
    /// Logged in.
    Done(Welcome),
}

/// The `login`/`password` conversation for one user name and password.
///
/// ```
/// use proto::client::{Login, LoginStep};
/// use proto::{Request, Response};
///
/// let mut login = Login::new("hans", "falcon*solo");
/// assert_eq!(login.start(), Request::Login { user: "hans".into() });
/// // ... send it with an id, await the reply with that id ...
/// let step = login.on_reply(Response::PasswordRequired).unwrap();
/// assert_eq!(step, LoginStep::Send(Request::Password { password: "falcon*solo".into() }));
/// let welcome = Response::Welcome { user: "hans".into(), offline: 0 };
/// assert!(matches!(login.on_reply(welcome), Ok(LoginStep::Done(_))));
/// ```
#[derive(Debug)]
pub struct Login {
    user: String,
    /// Taken when the `password` request is made.
    password: Option<String>,
    /// The answer to `login` was `new_user`.
    created: bool,
}

impl Login {
    /// A conversation logging in `user` with `password`.
    pub fn new(user: &str, password: &str) -> Login {
        Login {
            user: user.to_string(),
            password: Some(password.to_string()),
            created: false,
        }
    }

    /// The first request: `login`.
    pub fn start(&self) -> Request {
        Request::Login {
            user: self.user.clone(),
        }
    }

    /// The reply to the last request sent: the next request, or the end.
    ///
    /// # Errors
    /// [`ClientError::Refused`] for an error reply (with the server's code);
    /// [`ClientError::Unexpected`] for a reply of the wrong type, or one after the end.
    pub fn on_reply(&mut self, response: Response) -> Result<LoginStep, ClientError> {
        match response {
            Response::PasswordRequired | Response::NewUser if self.password.is_some() => {
                self.created = response == Response::NewUser;
                let password = self.password.take().unwrap_or_default();
                Ok(LoginStep::Send(Request::Password { password }))
            }
            Response::Welcome { user, offline } if self.password.is_none() => {
                Ok(LoginStep::Done(Welcome {
                    user,
                    offline,
                    created: self.created,
                }))
            }
            other => Err(refusal(other)),
        }
    }
}

/// An error reply as [`ClientError::Refused`], anything else as unexpected.
pub(super) fn refusal(response: Response) -> ClientError {
    match response {
        Response::Error { code, message } => ClientError::Refused { code, message },
        other => ClientError::Unexpected(Box::new(ServerFrame::Reply {
            id: None,
            response: other,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::ErrorCode;

    #[test]
    fn a_new_account() {
        let mut login = Login::new("leia", "pw");
        assert_eq!(
            login.on_reply(Response::NewUser).unwrap(),
            LoginStep::Send(Request::Password {
                password: "pw".into()
            })
        );
        assert_eq!(
            login
                .on_reply(Response::Welcome {
                    user: "leia".into(),
                    offline: 2
                })
                .unwrap(),
            LoginStep::Done(Welcome {
                user: "leia".into(),
                offline: 2,
                created: true
            })
        );
    }

    #[test]
    fn refusals_and_replies_out_of_order() {
        let mut login = Login::new("hans", "pw");
        assert!(matches!(
            login.on_reply(Response::error(ErrorCode::AccountLocked, "locked")),
            Err(ClientError::Refused {
                code: ErrorCode::AccountLocked,
                ..
            })
        ));
        let mut login = Login::new("hans", "pw");
        // A welcome before the password was asked for.
        assert!(matches!(
            login.on_reply(Response::Welcome {
                user: "hans".into(),
                offline: 0
            }),
            Err(ClientError::Unexpected(_))
        ));
        login.on_reply(Response::PasswordRequired).unwrap();
        // A second password_required.
        assert!(matches!(
            login.on_reply(Response::PasswordRequired),
            Err(ClientError::Unexpected(_))
        ));
    }

    #[test]
    fn greetings() {
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            server: "s".into(),
            max_line: 10,
        };
        assert_eq!(
            check_hello(ServerFrame::Hello(hello.clone())).unwrap(),
            hello
        );
        assert!(matches!(
            check_hello(ServerFrame::Hello(Hello {
                protocol: 9,
                ..hello
            })),
            Err(ClientError::Version { theirs: 9 })
        ));
        assert!(matches!(
            check_hello(ServerFrame::Event(crate::frames::Event::Shutdown)),
            Err(ClientError::NoHello(_))
        ));
    }
}
