//! The admin protocol spoken over chatd's Unix socket by `chatctl`: one [`AdminRequest`] line,
//! one [`AdminResponse`] line, then the server closes the connection.
//!
//! ```json
//! > {"type":"kick","user":"hans","reason":"spamming"}
//! < {"type":"ok","message":"hans was disconnected"}
//! > {"type":"unlock","user":"nobody"}
//! < {"type":"error","code":"not_locked","message":"nobody is not locked"}
//! ```

use serde::{Deserialize, Serialize};

/// What `chatctl` can ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdminRequest {
    /// Online users.
    Who,
    /// Disconnect a user's session.
    Kick {
        /// Who.
        user: String,
        /// Shown to the user.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Server counters.
    Stats,
    /// Clear a login lock.
    Unlock {
        /// Whose.
        user: String,
    },
    /// Reload config and credentials (as SIGHUP).
    Reload,
}

/// One online session, as `chatctl who` lists it.
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
}

/// chatd's answer.
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
        /// Stable code: `not_online`, `not_locked`, `invalid_user`, `reload_failed`,
        /// `bad_request`.
        code: String,
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
    }
}
