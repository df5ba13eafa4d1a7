//! Every way a request or a connection can fail, as the server tells the client: [`wire`]
//! turns a [`Failure`] into the error code and the text of an `error` reply. It is the only
//! place the server words an error; handlers and the hub only say *what* went wrong. (The
//! client shows its own lines, chosen by code; these texts are for other clients and logs.)

use proto::{DecodeError, ErrorCode};

use crate::hub::{PrivateError, Refusal};

/// Why a request (or a connection) failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection was not accepted.
    Refused(Refusal),
    /// A line over the limit; the connection closes.
    LineTooLong { limit: usize },
    /// No login within the login timeout; the connection closes.
    LoginTimeout,
    /// `limits.max_bad_lines` lines in a row failed to decode; the connection closes.
    TooManyBadLines { limit: u32 },
    /// Not a request.
    BadFrame(DecodeError),
    /// A command that needs a logged-in session.
    NotLoggedIn { request: &'static str },
    /// `login` or `password` after login.
    AlreadyAuthenticated { user: String },
    /// The user name breaks the rules.
    InvalidUsername,
    /// The account is locked.
    AccountLocked,
    /// The name is logged in on another connection.
    AlreadyLoggedIn { user: String },
    /// An unknown name while registration is off.
    RegistrationDisabled { user: String },
    /// An unknown name from an address that registered its hourly share of accounts.
    RegistrationLimited,
    /// `change_password` with a wrong old password, more tries left.
    WrongOldPassword,
    /// `password` before `login`.
    PasswordBeforeName,
    /// A new password breaks the rules.
    InvalidPasswordFormat,
    /// The new account could not be saved.
    NotRegistered,
    /// The login could not go online (its connection is closing).
    LoginInterrupted,
    /// A wrong password, more tries left.
    WrongPassword,
    /// A wrong password that locked the account.
    LockedNow,
    /// Message to self.
    CannotMessageSelf,
    /// No such account.
    InvalidUser,
    /// Over the message rate.
    RateLimited,
    /// The recipient blocks the sender.
    BlockedByRecipient,
    /// The recipient's offline queue is at its cap.
    OfflineQueueFull { to: String },
    /// The offline message could not be committed.
    NotStored,
    /// Block self.
    CannotBlockSelf,
    /// Unblock self.
    CannotUnblockSelf,
    /// Unblock someone not blocked.
    NotBlocked { user: String },
    /// A block-list change could not be committed.
    NotSaved,
    /// `startprivate` with self.
    CannotPrivateSelf,
    /// A private-messaging request refused, about `user`.
    Private { error: PrivateError, user: String },
    /// `private_listen` with a fingerprint that is not 64 hex digits.
    BadFingerprint,
    /// `private_listen` with a host that is no host name or IP address.
    InvalidHost,
}

/// The wire code and text of `failure`.
pub(crate) fn wire(failure: &Failure) -> (ErrorCode, String) {
    use ErrorCode as C;
    use Failure as F;
    let fixed = |code, text: &str| (code, text.to_string());
    match failure {
        F::Refused(Refusal::Total) => fixed(C::TooManyConnections, "The server is full"),
        F::Refused(Refusal::PerIp) => fixed(
            C::TooManyConnections,
            "Too many connections from your address",
        ),
        F::Refused(Refusal::ShuttingDown) => {
            fixed(C::TooManyConnections, "The server is shutting down")
        }
        F::LineTooLong { limit } => (
            C::LineTooLong,
            format!("Line longer than {limit} bytes; closing the connection"),
        ),
        F::LoginTimeout => fixed(
            C::LoginTimeout,
            "Login took too long; closing the connection",
        ),
        F::TooManyBadLines { limit } => (
            C::TooManyBadLines,
            format!("{limit} lines in a row could not be read; closing the connection"),
        ),
        F::BadFrame(e) => (e.code(), e.to_string()),
        F::NotLoggedIn { request } => (
            C::NotLoggedIn,
            format!("Log in first ({request} needs a logged-in session)"),
        ),
        F::AlreadyAuthenticated { user } => (
            C::AlreadyAuthenticated,
            format!("Already logged in as {user}"),
        ),
        F::InvalidUsername => fixed(
            C::InvalidUsername,
            "Invalid username: use 1-32 letters, digits, '_', '-' or '.', not starting with '-'",
        ),
        F::AccountLocked => fixed(
            C::AccountLocked,
            "Your account is blocked due to multiple login failures. Please try again later",
        ),
        F::AlreadyLoggedIn { user } => (C::AlreadyLoggedIn, format!("{user} is already logged in")),
        F::RegistrationDisabled { user } => (
            C::RegistrationDisabled,
            format!("Registration is disabled and {user} is not a known user"),
        ),
        F::RegistrationLimited => fixed(
            C::RegistrationLimited,
            "Too many new accounts from your address; please try again later",
        ),
        F::WrongOldPassword => fixed(
            C::InvalidPassword,
            "Invalid Password. Your password was not changed",
        ),
        F::PasswordBeforeName => fixed(
            C::NotLoggedIn,
            "Send a user name (login) before the password",
        ),
        F::InvalidPasswordFormat => fixed(
            C::InvalidPasswordFormat,
            "Invalid password: use 1-1024 printable characters without spaces",
        ),
        F::NotRegistered => fixed(
            C::Internal,
            "The server could not save the new account; please try again later",
        ),
        F::LoginInterrupted => fixed(
            C::Internal,
            "The server could not complete the login; please try again",
        ),
        F::WrongPassword => fixed(C::InvalidPassword, "Invalid Password. Please try again"),
        F::LockedNow => fixed(
            C::AccountBlocked,
            "Invalid Password. Your account has been blocked. Please try again later",
        ),
        F::CannotMessageSelf => fixed(C::CannotMessageSelf, "Cannot message self"),
        F::InvalidUser => fixed(C::InvalidUser, "Invalid user"),
        F::RateLimited => fixed(C::RateLimited, "Too many messages; slow down"),
        F::BlockedByRecipient => fixed(
            C::BlockedByRecipient,
            "Your message could not be delivered as the recipient has blocked you",
        ),
        F::OfflineQueueFull { to } => (
            C::OfflineQueueFull,
            format!("{to} has too many stored messages; your message was not stored"),
        ),
        F::NotStored => fixed(
            C::Internal,
            "The server could not store your message; please try again later",
        ),
        F::CannotBlockSelf => fixed(C::CannotBlockSelf, "Cannot block self"),
        F::CannotUnblockSelf => fixed(C::CannotUnblockSelf, "Cannot unblock self"),
        F::NotBlocked { user } => (C::NotBlocked, format!("{user} was not blocked")),
        F::NotSaved => fixed(
            C::Internal,
            "The server could not save the change; please try again later",
        ),
        F::CannotPrivateSelf => fixed(
            C::CannotPrivateSelf,
            "Cannot start private messaging with self",
        ),
        F::BadFingerprint => fixed(
            C::BadRequest,
            "Invalid fingerprint: give the SHA-256 of the listener's certificate as 64 hex digits",
        ),
        F::InvalidHost => (
            C::InvalidHost,
            format!(
                "Invalid host: give a host name (at most {} characters) or an IP address",
                proto::MAX_HOST_LEN
            ),
        ),
        F::Private { error, user } => match error {
            PrivateError::UserOffline => (C::UserOffline, format!("{user} is offline")),
            PrivateError::BlockedByUser => (C::BlockedByUser, format!("{user} has blocked you")),
            PrivateError::AlreadyActive => (
                C::PrivateAlreadyActive,
                format!("Private messaging with {user} is already active"),
            ),
            PrivateError::Unavailable => (
                C::PrivateUnavailable,
                format!("{user} cannot accept private messages"),
            ),
            PrivateError::NoRequest => (
                C::NoPrivateRequest,
                format!("No private messaging request from {user}"),
            ),
        },
    }
}
