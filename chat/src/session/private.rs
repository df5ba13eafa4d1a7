//! Private messaging in the session (SPEC section 4): announcing the listener, the consent
//! question and its answer, the server's introductions, the state of every private session,
//! and the `private` and `stopprivate` commands (which go to the peer, not the server).
//!
//! A session with a peer goes through: requested (`outgoing`, we asked; `asked`, they asked
//! us), then being set up (`setting_up`: the requester connecting, or the target waiting for
//! that connection), then established (`links`). Each setup gets a fresh link id, and a report
//! from the socket threads counts only if its id is still the current one, so a late report
//! about a link that already ended never prints anything. Each ending prints one line.
//!
//! The sockets and threads are in [`crate::p2p`]; the wording in [`crate::render`].

use std::collections::{HashMap, HashSet, VecDeque};

use proto::{Event, Request, Response};

use super::{Flow, Session};
use crate::diag::report;
use crate::inbox::{peer_sink, Ask};
use crate::p2p::{self, Link, Listener, PeerEvent, PeerInput};
use crate::render;

/// The private-messaging state of a session.
#[derive(Default)]
pub struct Private {
    /// The listener for peers; `None` when it could not be opened.
    pub listener: Option<Listener>,
    /// This client's user name, once logged in.
    me: String,
    /// `private_listen` was refused before login (an older server): send it after.
    announce_after_login: bool,
    /// Users whose request waits for our `y`/`n`, oldest first.
    asked: VecDeque<String>,
    /// Users we asked, who have not answered yet.
    outgoing: HashSet<String>,
    /// Sessions being set up: peer -> link id.
    setting_up: HashMap<String, u64>,
    /// Established sessions.
    links: HashMap<String, Link>,
    next_link: u64,
}

/// How a consent answer reads.
fn consent(line: &str) -> Option<bool> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

impl Session {
    /// Tells the server where the private listener is, before logging in, so that other
    /// users can ask this client as soon as they see it log in.
    pub(super) fn announce_listener(&mut self) -> Flow<()> {
        let Some(listener) = &self.private.listener else {
            return Ok(());
        };
        let request = Request::PrivateListen {
            port: listener.port(),
            host: self.options.advertise.clone(),
            fingerprint: listener.fingerprint().map(str::to_string),
        };
        if let Response::Error { .. } = self.request(request)? {
            // A server that takes it only after login.
            self.private.announce_after_login = true;
        }
        Ok(())
    }

    /// The login succeeded as `user`.
    pub(super) fn logged_in(&mut self, user: &str) -> Flow<()> {
        self.private.me = user.to_string();
        let Some(listener) = &self.private.listener else {
            return Ok(());
        };
        listener.set_me(user);
        if std::mem::take(&mut self.private.announce_after_login) {
            let port = listener.port();
            let host = self.options.advertise.clone();
            let fingerprint = listener.fingerprint().map(str::to_string);
            if let Response::Error { message, .. } = self.request(Request::PrivateListen {
                port,
                host,
                fingerprint,
            })? {
                report!("private messaging is unavailable: {message}");
            }
        }
        Ok(())
    }

    /// What to read next: in interactive mode an open consent question is the prompt; else
    /// a command, at `hans> `, starting with the line set aside for the question, if any.
    pub(super) fn next_ask(&mut self) -> Ask {
        match self.private.asked.front() {
            Some(from) if !self.options.piped => Ask::Answer(render::consent_question(from)),
            _ => Ask::Command {
                prompt: format!("{}{}", self.user, crate::repl::COMMAND_PROMPT),
                initial: std::mem::take(&mut self.restore),
            },
        }
    }

    /// Whether the next input line answers a consent question.
    pub(super) fn consent_pending(&self) -> bool {
        !self.private.asked.is_empty()
    }

    /// Takes `line` as the answer to the oldest consent question: `y`/`yes` or `n`/`no`
    /// (any case); anything else asks again.
    pub(super) fn answer_consent(&mut self, line: &str) -> Flow<()> {
        let Some(from) = self.private.asked.front().cloned() else {
            return Ok(());
        };
        let Some(accept) = consent(line) else {
            if self.options.piped {
                // Interactive mode asks again through the prompt.
                self.screen.line(render::consent_question(&from));
            }
            return Ok(());
        };
        self.private.asked.pop_front();
        let response = self.request(Request::PrivateAnswer {
            user: from.clone(),
            accept,
        })?;
        if let Response::Error { message, .. } = response {
            self.screen.line(render::generic_error(&message));
        }
        Ok(())
    }

    /// The server accepted our `startprivate`: the target is being asked.
    pub(super) fn private_requested(&mut self, user: &str) {
        self.private.outgoing.insert(user.to_string());
    }

    /// The server's private-messaging events.
    pub(super) fn on_private_event(&mut self, event: Event) -> Flow<()> {
        match event {
            Event::PrivateRequest { from } => {
                if !self.private.asked.contains(&from) {
                    self.private.asked.push_back(from.clone());
                }
                // Piped: the question is a line, the next input line answers it.
                // Interactive: it is the next prompt; but if the editor is already showing the
                // command prompt, say it now (above that prompt), and the line being typed
                // answers it.
                // The line being typed is set aside first when possible: the question is then
                // the next prompt, and the line comes back after the answer.
                let first = self.private.asked.len() == 1;
                if self.options.piped || (self.asking && first && !self.suspend_command_line()) {
                    self.screen.line(render::consent_question(&from));
                }
            }
            Event::PrivateStart {
                peer,
                addr,
                token,
                fingerprint,
            } => {
                self.private.asked.retain(|u| *u != peer);
                self.private.next_link += 1;
                let link = self.private.next_link;
                match addr {
                    Some(addr) => {
                        self.private.outgoing.remove(&peer);
                        self.screen.line(render::private_accepted(&peer));
                        self.private.setting_up.insert(peer.clone(), link);
                        let dial = p2p::Dial {
                            addr,
                            token,
                            me: self.private.me.clone(),
                            peer,
                            link,
                            max_line: self.conn.max_line(),
                            fingerprint,
                        };
                        p2p::connect(dial, peer_sink(&self.inbox_tx));
                    }
                    None => {
                        if let Some(listener) = &self.private.listener {
                            listener.expect(&token, &peer, link);
                            self.private.setting_up.insert(peer, link);
                        }
                    }
                }
            }
            Event::PrivateDeclined { peer } => {
                self.private.outgoing.remove(&peer);
                self.screen.line(render::private_declined(&peer));
            }
            Event::PrivateExpired { peer } => {
                if let Some(i) = self.private.asked.iter().position(|u| *u == peer) {
                    self.private.asked.remove(i);
                    self.screen.line(render::private_request_expired(&peer));
                } else {
                    self.private.outgoing.remove(&peer);
                    self.screen.line(render::private_unanswered(&peer));
                }
            }
            Event::PrivateEnded { peer } => {
                // The server already counts the session as over: nothing to tell it.
                if let Some(link) = self.private.links.remove(&peer) {
                    link.close();
                    self.names.remove_peer(&peer);
                    self.screen.line(render::private_ended(&peer));
                } else if self.private.setting_up.remove(&peer).is_some() {
                    if let Some(listener) = &self.private.listener {
                        listener.forget(&peer);
                    }
                    self.screen.line(render::private_ended(&peer));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// What the socket threads report.
    pub(super) fn on_peer(&mut self, input: PeerInput) -> Flow<()> {
        let PeerInput { peer, link, what } = input;
        let current_setup = self.private.setting_up.get(&peer) == Some(&link);
        let current_link = self.private.links.get(&peer).is_some_and(|l| l.id == link);
        match what {
            PeerEvent::Connected(stream) if current_setup => {
                self.private.setting_up.remove(&peer);
                match Link::start(stream, &peer, link, peer_sink(&self.inbox_tx)) {
                    Ok(l) => {
                        self.private.links.insert(peer.clone(), l);
                        self.names.insert_peer(&peer);
                        self.screen.line(render::private_started(&peer));
                    }
                    Err(e) => {
                        report!("private messaging with {peer}: {e}");
                        self.screen.line(render::private_ended(&peer));
                        self.send_silent(Request::PrivateEnded { user: peer })?;
                    }
                }
            }
            // A connection for a setup that was called off: dropping it closes it.
            PeerEvent::Connected(_) => {}
            PeerEvent::Failed(reason) if current_setup => {
                self.private.setting_up.remove(&peer);
                self.screen.flush();
                report!("private connection to {peer}: {reason}");
                self.screen.line(render::private_connect_failed(&peer));
                self.send_silent(Request::PrivateEnded { user: peer })?;
            }
            PeerEvent::SetupFailed if current_setup => {
                self.private.setting_up.remove(&peer);
                self.screen.line(render::private_setup_failed(&peer));
                self.send_silent(Request::PrivateEnded { user: peer })?;
            }
            PeerEvent::Text(text) if current_link => {
                let line = render::private_text(&peer, &text);
                // Straight from the peer: no server time, so the time it arrived.
                self.screen
                    .line(self.options.style.stamped(None, false, line));
            }
            PeerEvent::Stop if current_link => {
                self.end_link(&peer);
                self.screen.line(render::private_stopped_by_peer(&peer));
                self.send_silent(Request::PrivateEnded { user: peer })?;
            }
            PeerEvent::Closed if current_link => {
                self.end_link(&peer);
                self.screen.line(render::private_ended(&peer));
                self.send_silent(Request::PrivateEnded { user: peer })?;
            }
            // About a link or setup that is already over.
            _ => {}
        }
        Ok(())
    }

    fn end_link(&mut self, peer: &str) {
        if let Some(link) = self.private.links.remove(peer) {
            link.close();
        }
        self.names.remove_peer(peer);
    }

    /// The peer of an established session that `typed` names in any case (user names are
    /// unique regardless of case, and the server names peers as registered), else `typed`.
    fn peer_name(&self, typed: &str) -> String {
        self.private
            .links
            .keys()
            .find(|peer| peer.eq_ignore_ascii_case(typed))
            .map_or_else(|| typed.to_string(), String::clone)
    }

    /// `private <user> <message>`: straight to the peer; the server only hears that we were
    /// active (so a private conversation keeps the user from the inactivity logout).
    pub(super) fn private_message(&mut self, to: &str, text: &str) -> Flow<()> {
        let to = &self.peer_name(to);
        let Some(link) = self.private.links.get(to) else {
            self.screen.line(render::private_not_enabled(to));
            return Ok(());
        };
        if p2p::text_frame_len(text) > self.conn.max_line() {
            self.screen.line(render::MESSAGE_TOO_LONG);
            return Ok(());
        }
        if let Err(e) = link.send_text(text) {
            self.screen.flush();
            report!("private messaging with {to}: {e}");
            self.end_link(to);
            self.screen.line(render::private_ended(to));
            return self.send_silent(Request::PrivateEnded {
                user: to.to_string(),
            });
        }
        // Waiting for the answer keeps a script's transcript in step, as for other commands.
        self.request(Request::Activity)?;
        Ok(())
    }

    /// `stopprivate <user>`: tells the peer, closes the link, and tells the server.
    pub(super) fn stop_private(&mut self, user: &str) -> Flow<()> {
        let user = &self.peer_name(user);
        let Some(link) = self.private.links.remove(user) else {
            self.screen.line(render::no_private_session(user));
            return Ok(());
        };
        link.stop();
        self.names.remove_peer(user);
        self.screen.line(render::private_stopped(user));
        self.request(Request::PrivateEnded {
            user: user.to_string(),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::consent;

    #[test]
    fn consent_answers() {
        for yes in ["y", "Y", "yes", " YES "] {
            assert_eq!(consent(yes), Some(true), "{yes:?}");
        }
        for no in ["n", "N", "no", "No"] {
            assert_eq!(consent(no), Some(false), "{no:?}");
        }
        for other in ["", "yep", "message luke hi", "y n"] {
            assert_eq!(consent(other), None, "{other:?}");
        }
    }
}
