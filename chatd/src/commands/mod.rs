//! The commands: one module per command, the [table](commands) that says for each when it may
//! be used and whether it counts as activity, and one [`dispatch`]. A handler gets the
//! session, the shared state and the request's arguments, and returns an [`Answer`] or a
//! [`Failure`]; it never writes to a socket, and it never words an error (that is
//! [`errors`]' job). A front-end turns lines into [`Request`]s and answers into lines.
//!
//! Adding a command: a new file here with its `run`, and one row in the table.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{Request, Response};

use crate::clock::Clock;
use crate::hub::Acks;
use crate::seams::ConnId;
use crate::state::Shared;

mod accounts;
mod ack;
mod activity;
mod block;
mod broadcast;
pub(crate) mod errors;
mod login;
mod logout;
mod message;
mod passwd;
mod password;
mod private;
#[cfg(test)]
mod tests;
mod whoelse;

pub(crate) use errors::Failure;

/// Where the login dialogue stands.
pub(crate) enum Phase {
    /// Waiting for `login`.
    Name,
    /// `login` answered; waiting for `password`.
    Password { user: String, new: bool },
    /// Logged in (`session`: the store's login record, if it could be made).
    In { user: String, session: Option<i64> },
}

/// A token bucket: `rate` per second, `burst` at once. Time is the clock's coarse reading
/// ([`Clock::coarse`](crate::clock::Clock::coarse)): it is read per message, and a few
/// milliseconds of grain make no difference to a limit of messages per second.
pub(crate) struct RateLimit {
    tokens: f64,
    last: Duration,
}

impl RateLimit {
    pub(crate) fn new(burst: u32, now: Duration) -> Self {
        RateLimit {
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn allow(&mut self, now: Duration, rate: u32, burst: u32) -> bool {
        let refill = now.saturating_sub(self.last).as_secs_f64() * f64::from(rate);
        self.tokens = (self.tokens + refill).min(f64::from(burst));
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One client's session, whatever front-end it came through.
pub(crate) struct Session {
    /// Its connection in the hub.
    pub id: ConnId,
    /// The client's address (in log lines an operator acts on, and the registration limit).
    pub addr: SocketAddr,
    /// The login dialogue.
    pub phase: Phase,
    /// When the connection opened (drives the login timeout).
    pub opened: Instant,
    /// When the last command that counts as activity came (drives the inactivity timeout).
    pub last_valid: Instant,
    /// The same, in wall-clock ms, shared with the hub for `chatctl who`.
    pub last_active: Arc<AtomicI64>,
    /// The message rate limit.
    pub rate: RateLimit,
    /// The messages written to this connection and not yet acknowledged.
    pub acks: Acks,
}

impl Session {
    /// The logged-in user's name (empty before login; handlers that need it run after login).
    fn user(&self) -> &str {
        match &self.phase {
            Phase::In { user, .. } => user,
            _ => "",
        }
    }
}

/// What a handler needs besides the session.
pub(crate) struct Ctx<'a> {
    /// The server's state.
    pub shared: &'a Arc<Shared>,
    /// The request's id, for an answer the handler queues itself (the welcome, which must
    /// precede the backlog and held frames).
    pub reply_to: Option<u64>,
    /// When a request that counts as activity was noted as such (the clock's `now_ms`): read
    /// once per request, for the session's last activity and the handler alike.
    pub at_ms: Option<i64>,
}

/// A handler's success.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer {
    /// Send this reply.
    Reply(Response),
    /// The reply is already queued, in order with other frames.
    Queued,
    /// Send this reply, then close the connection.
    Close(Response),
}

/// When a command may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// Only before login.
    LoggedOut,
    /// Only after login.
    LoggedIn,
    /// Either.
    Any,
}

/// A command's row in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    /// When it may be used.
    pub when: When,
    /// Whether it resets the inactivity timeout (only ever after login).
    pub activity: bool,
}

/// The table: for each request, when it is allowed, whether it counts as activity, and its
/// handler. Generates [`spec`] and the dispatch match from the same rows.
macro_rules! commands {
    ($( $variant:ident { $($field:ident),* } => $when:ident, $activity:literal, $handler:path; )*) => {
        /// The table row of `request`.
        pub(crate) fn spec(request: &Request) -> Spec {
            match request {
                $( Request::$variant { .. } => Spec { when: When::$when, activity: $activity }, )*
            }
        }

        async fn run(s: &mut Session, cx: &Ctx<'_>, request: Request) -> Result<Answer, Failure> {
            match request {
                $( Request::$variant { $($field),* } => $handler(s, cx, $($field),*).await, )*
            }
        }
    };
}

commands! {
    // request                            when       activity  handler
    Login { user }                     => LoggedOut, false, login::run;
    Password { password }              => LoggedOut, false, password::run;
    Message { to, text }               => LoggedIn,  true,  message::run;
    Broadcast { text }                 => LoggedIn,  true,  broadcast::run;
    Whoelse {}                         => LoggedIn,  true,  whoelse::whoelse;
    Whoelsesince { seconds }           => LoggedIn,  true,  whoelse::since;
    Block { user }                     => LoggedIn,  true,  block::block;
    Unblock { user }                   => LoggedIn,  true,  block::unblock;
    Logout {}                          => LoggedIn,  true,  logout::run;
    Activity {}                        => LoggedIn,  true,  activity::run;
    // Allowed before login, so that the listener is known by the time others see the user
    // log in and try `startprivate`.
    PrivateListen { port, host, fingerprint } => Any, true, private::listen;
    StartPrivate { user }              => LoggedIn,  true,  private::start;
    PrivateAnswer { user, accept }     => LoggedIn,  true,  private::answer;
    PrivateEnded { user }              => LoggedIn,  true,  private::ended;
    Accounts {}                        => LoggedIn,  false, accounts::run;
    ChangePassword { old, new }        => LoggedIn,  true,  passwd::run;
    // Sent by the client on its own, after showing messages: not activity.
    Ack { msg_id }                     => LoggedIn,  false, ack::run;
}

/// Runs one request for session `s`: checks the table, notes activity, calls the handler.
pub(crate) async fn dispatch(
    s: &mut Session,
    shared: &Arc<Shared>,
    reply_to: Option<u64>,
    request: Request,
) -> Result<Answer, Failure> {
    let spec = spec(&request);
    let mut at_ms = None;
    match (&s.phase, spec.when) {
        (Phase::In { user, .. }, When::LoggedOut) => {
            return Err(Failure::AlreadyAuthenticated { user: user.clone() })
        }
        (Phase::In { .. }, _) if spec.activity => {
            s.last_valid = shared.clock.now();
            let now_ms = shared.clock.now_ms();
            s.last_active.store(now_ms, Ordering::Relaxed);
            at_ms = Some(now_ms);
        }
        // Logged in, and the request is not activity (`accounts`, `ack`).
        (Phase::In { .. }, _) => {}
        (_, When::LoggedIn) => {
            return Err(Failure::NotLoggedIn {
                request: request.type_name(),
            })
        }
        _ => {}
    }
    let cx = Ctx {
        shared,
        reply_to,
        at_ms,
    };
    run(s, &cx, request).await
}
