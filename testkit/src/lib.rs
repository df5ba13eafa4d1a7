//! Test support shared by the workspace's integration tests (a dev-only crate, never
//! published).
//!
//! It owns the one way tests get at the real programs and a running server:
//! - [`bins`]: the workspace binaries (`chatd`, `chat`, `chatctl`), built once per test process
//!   with the running test's own profile and target directory, so a test never runs a stale one;
//! - [`server`]: a temp dir with the sample accounts and a `config.toml`, the real `chatd`
//!   process on 127.0.0.1 port 0 (its bound address read from its log), stopped with SIGTERM;
//! - [`certs`]: certificates for TLS tests (self-signed, a CA and what it issues);
//! - [`client`]: a wire-protocol client (request with id, await the reply, events) with deadlines;
//! - [`ctl`]: runs `chatctl` and parses what it printed;
//! - [`wait`]: [`DEADLINE`] and the waits built on it (conditions, child processes, pipes).
//!
//! It does not own anything about one crate's tests: the in-process `TestServer` (it needs
//! chatd's library) stays in `chatd/tests/common`, the piped and pseudo-terminal `chat` drivers
//! in `chat/tests/common`.

pub mod bins;
pub mod certs;
pub mod client;
pub mod ctl;
pub mod server;
pub mod wait;

pub use bins::{chat_bin, chatctl_bin, chatd_bin};
pub use client::{msg, Client};
pub use ctl::{chatctl, Ctl};
pub use server::{
    password, run_chatd, write_config, write_credentials, ChatdProcess, ADMIN_SOCKET, CREDENTIALS,
};
pub use wait::{alive, collect_lines, drain_lines, wait_child, wait_output, wait_until, DEADLINE};
