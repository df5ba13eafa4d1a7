//! The admin protocol spoken over chatd's Unix socket by `chatctl`: one [`AdminRequest`] line,
//! one [`AdminResponse`] line, then the server closes the connection. Framing is the same as
//! on the TCP side (one JSON object per `\n`-terminated line), bounded by [`MAX_ADMIN_LINE`].
//!
//! ```json
//! > {"type":"kick","user":"hans","reason":"spamming"}
//! < {"type":"ok","message":"hans was disconnected"}
//! > {"type":"unlock","user":"hans"}
//! < {"type":"error","code":"not_locked","message":"hans is not locked"}
//! ```

use serde::{Deserialize, Serialize};

/// Longest admin request or response line accepted, newline excluded. A `who` answer for ten
/// thousand users fits comfortably.
pub const MAX_ADMIN_LINE: usize = 16 << 20;

/// What `chatctl` can ask.
///
/// ```json
/// {"type":"who"}
/// {"type":"kick","user":"hans","reason":"spamming"}
/// {"type":"stats"}
/// {"type":"unlock","user":"hans"}
/// {"type":"reload"}
/// {"type":"users"}
/// {"type":"user_add","user":"rey","password":"jakku#scav"}
/// {"type":"user_del","user":"rey"}
/// {"type":"user_passwd","user":"rey","password":"n3w*pass"}
/// {"type":"status"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Online users; answered with [`AdminResponse::Who`].
    Who,
    /// Disconnect a user's session: they get a `kicked` event with the reason, the others a
    /// logout, and the user's private sessions end.
    Kick {
        /// Who.
        user: String,
        /// Shown to the user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Server counters; answered with [`AdminResponse::Stats`].
    Stats,
    /// Clear a login lock (and the count of failures leading to one).
    Unlock {
        /// Whose.
        user: String,
    },
    /// Reload config and credentials, as SIGHUP does. A config that fails validation is not
    /// applied, and the answer is [`AdminErrorCode::ReloadFailed`] with the reason.
    Reload,
    /// Is chatd running, which one, since when; answered with [`AdminResponse::Status`].
    Status,
    /// Every account; answered with [`AdminResponse::Users`].
    Users,
    /// Create an account (not subject to `registration` or the registration limit).
    UserAdd {
        /// The new name (refused if an account of that name exists, in any case).
        user: String,
        /// Its password; never logged.
        password: String,
    },
    /// Delete an account: its session is disconnected, and its stored messages, block lists
    /// (both directions), login history and lock go with it.
    UserDel {
        /// Whose (any case).
        user: String,
    },
    /// Set an account's password.
    UserPasswd {
        /// Whose (any case).
        user: String,
        /// The new password; never logged.
        password: String,
    },
}

/// One account, as `chatctl users` lists it.
///
/// ```json
/// {"user":"hans","online":true,"locked":false,"last_login":1714564803}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Account name, as registered.
    pub user: String,
    /// Logged in now.
    pub online: bool,
    /// Locked now (three wrong passwords).
    pub locked: bool,
    /// Latest login, seconds since the Unix epoch; `null` if never (or before its history
    /// was pruned).
    pub last_login: Option<u64>,
}

/// One online session, as `chatctl who` lists it.
///
/// ```json
/// {"user":"hans","addr":"127.0.0.1:50412","since":1714564803,"idle":5,"private":["luke"]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineUser {
    /// Account name.
    pub user: String,
    /// Peer address of the connection.
    pub addr: String,
    /// Login time, seconds since the Unix epoch.
    pub since: u64,
    /// Seconds since the last valid command.
    pub idle: u64,
    /// Users this one has a private session with.
    pub private: Vec<String>,
}

/// Server counters, as `chatctl stats` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Seconds since chatd started.
    pub uptime: u64,
    /// Open client connections now (logged in or not).
    pub connections: u64,
    /// Highest number of open connections since start.
    pub peak_connections: u64,
    /// Users logged in now.
    pub online: u64,
    /// Successful logins since the store was created (kept across restarts).
    pub logins: u64,
    /// Wrong passwords since the store was created (kept across restarts).
    pub failed_logins: u64,
    /// Accounts locked now.
    pub locked_accounts: u64,
    /// Messages and broadcast copies written to an online recipient's queue, plus offline
    /// messages handed over at login, since the store was created (kept across restarts).
    pub messages_delivered: u64,
    /// Messages stored for offline recipients since the store was created (kept across
    /// restarts).
    pub messages_stored: u64,
    /// Messages refused (blocked, queue full, rate limited) since the store was created (kept
    /// across restarts).
    pub messages_dropped: u64,
    /// Connections dropped because their send queue overflowed since the store was created
    /// (kept across restarts).
    pub slow_consumers_dropped: u64,
    /// The same cumulative counters, counted since this chatd started.
    #[serde(default)]
    pub since_start: Counts,
}

/// The counters `chatctl stats` shows twice: since the store was created (the flat fields of
/// [`Stats`]) and since chatd started ([`Stats::since_start`]).
///
/// ```json
/// {"logins":3,"failed_logins":1,"messages_delivered":12,"messages_stored":2,"messages_dropped":0,"slow_consumers_dropped":0}
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Successful logins.
    pub logins: u64,
    /// Wrong passwords.
    pub failed_logins: u64,
    /// Messages and broadcast copies written to an online recipient's queue, plus offline
    /// messages handed over at login.
    pub messages_delivered: u64,
    /// Messages stored for offline recipients.
    pub messages_stored: u64,
    /// Messages refused (blocked, queue full, rate limited).
    pub messages_dropped: u64,
    /// Connections dropped because their send queue overflowed.
    pub slow_consumers_dropped: u64,
}

/// Which chatd answers and since when, as `chatctl status` shows it.
///
/// ```json
/// {"type":"status","version":"0.1.0","pid":4242,"started":1714564803,"uptime":3725,"connections":3,"online":2}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// chatd's version (its package version).
    pub version: String,
    /// chatd's process id.
    pub pid: u32,
    /// Start time, seconds since the Unix epoch.
    pub started: u64,
    /// Seconds since chatd started.
    pub uptime: u64,
    /// Open client connections now (logged in or not).
    pub connections: u64,
    /// Users logged in now.
    pub online: u64,
}

/// Why an admin request failed: stable, machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminErrorCode {
    /// `kick`: the user is not logged in.
    NotOnline,
    /// `unlock`: the account is not locked.
    NotLocked,
    /// No such account.
    InvalidUser,
    /// `reload`: the new config or credentials were refused; the old ones stay in force.
    ReloadFailed,
    /// `reload`: applied, but lines of the credentials file are not accounts (malformed,
    /// damaged or cut short); the message gives their numbers, chatd's log the reasons.
    CredentialsSkipped,
    /// The request line was not a valid [`AdminRequest`].
    BadRequest,
    /// The server failed to do what was asked (for example the store refused a write).
    Internal,
    /// `user_add`: an account of that name exists (names are unique regardless of case).
    UserExists,
    /// `user_add`: the name breaks the rules (1-32 letters, digits, `_`, `-`, `.`).
    InvalidUsername,
    /// `user_add`, `user_passwd`: the password breaks the rules.
    InvalidPassword,
}

/// chatd's answer.
///
/// ```json
/// {"type":"ok","message":"hans was disconnected"}
/// {"type":"error","code":"not_online","message":"hans is not online"}
/// {"type":"who","users":[{"user":"hans","addr":"127.0.0.1:50412","since":1714564803,"idle":5,"private":[]}]}
/// {"type":"stats","uptime":5,"connections":1,"peak_connections":2,"online":1,"logins":3,...,"since_start":{"logins":1,...}}
/// {"type":"status","version":"0.1.0","pid":4242,"started":1714564803,"uptime":5,"connections":1,"online":1}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdminResponse {
    /// Done.
    Ok {
        /// What happened, for humans.
        message: String,
    },
    /// The request failed.
    Error {
        /// Stable code.
        code: AdminErrorCode,
        /// For humans.
        message: String,
    },
    /// Answer to `who`.
    Who {
        /// Sorted by name.
        users: Vec<OnlineUser>,
    },
    /// Answer to `stats`.
    Stats(Stats),
    /// Answer to `users`.
    Users {
        /// Sorted by name, regardless of case.
        users: Vec<Account>,
    },
    /// Answer to `status`.
    Status(Status),
}

impl AdminResponse {
    /// An [`AdminResponse::Ok`].
    pub fn ok(message: impl Into<String>) -> Self {
        AdminResponse::Ok {
            message: message.into(),
        }
    }

    /// An [`AdminResponse::Error`].
    pub fn error(code: AdminErrorCode, message: impl Into<String>) -> Self {
        AdminResponse::Error {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_round_trip() {
        let req = AdminRequest::Kick {
            user: "hans".into(),
            reason: Some("spam".into()),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(line, r#"{"type":"kick","user":"hans","reason":"spam"}"#);
        assert_eq!(serde_json::from_str::<AdminRequest>(&line).unwrap(), req);
        let resp = AdminResponse::Stats(Stats {
            uptime: 5,
            ..Stats::default()
        });
        let line = serde_json::to_string(&resp).unwrap();
        assert!(line.starts_with(r#"{"type":"stats","uptime":5"#), "{line}");
        assert_eq!(serde_json::from_str::<AdminResponse>(&line).unwrap(), resp);
        // An answer without `since_start` (an older chatd) still reads.
        let old = r#"{"type":"stats","uptime":5,"connections":0,"peak_connections":0,"online":0,"logins":0,"failed_logins":0,"locked_accounts":0,"messages_delivered":0,"messages_stored":0,"messages_dropped":0,"slow_consumers_dropped":0}"#;
        assert_eq!(serde_json::from_str::<AdminResponse>(old).unwrap(), resp);

        let status = AdminResponse::Status(Status {
            version: "0.1.0".into(),
            pid: 42,
            started: 1_714_564_803,
            uptime: 5,
            connections: 1,
            online: 1,
        });
        let line = serde_json::to_string(&status).unwrap();
        assert!(
            line.starts_with(r#"{"type":"status","version":"0.1.0","pid":42"#),
            "{line}"
        );
        assert_eq!(
            serde_json::from_str::<AdminResponse>(&line).unwrap(),
            status
        );
        assert_eq!(
            serde_json::from_str::<AdminRequest>(r#"{"type":"status"}"#).unwrap(),
            AdminRequest::Status
        );
    }

    #[test]
    fn error_codes_are_snake_case() {
        let resp = AdminResponse::error(AdminErrorCode::NotOnline, "hans is not online");
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            line,
            r#"{"type":"error","code":"not_online","message":"hans is not online"}"#
        );
        assert_eq!(serde_json::from_str::<AdminResponse>(&line).unwrap(), resp);
        assert!(serde_json::from_str::<AdminRequest>(r#"{"type":"shutdown"}"#).is_err());
        let resp = AdminResponse::error(AdminErrorCode::UserExists, "hans exists");
        assert!(serde_json::to_string(&resp)
            .unwrap()
            .contains(r#""code":"user_exists""#));
    }

    #[test]
    fn account_requests_and_answers() {
        let req = AdminRequest::UserPasswd {
            user: "rey".into(),
            password: "n3w*pass".into(),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(
            line,
            r#"{"type":"user_passwd","user":"rey","password":"n3w*pass"}"#
        );
        assert_eq!(serde_json::from_str::<AdminRequest>(&line).unwrap(), req);
        for (req, line) in [
            (AdminRequest::Users, r#"{"type":"users"}"#),
            (
                AdminRequest::UserDel { user: "rey".into() },
                r#"{"type":"user_del","user":"rey"}"#,
            ),
            (
                AdminRequest::UserAdd {
                    user: "rey".into(),
                    password: "p".into(),
                },
                r#"{"type":"user_add","user":"rey","password":"p"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&req).unwrap(), line);
        }
        let resp = AdminResponse::Users {
            users: vec![Account {
                user: "hans".into(),
                online: false,
                locked: true,
                last_login: None,
            }],
        };
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            line,
            r#"{"type":"users","users":[{"user":"hans","online":false,"locked":true,"last_login":null}]}"#
        );
        assert_eq!(serde_json::from_str::<AdminResponse>(&line).unwrap(), resp);
    }
}
