//! The staff client: talks to the staff member's own node over the staff protocol only.

use crate::credential::Credential;
use crate::output::{Classified, ErrorKind};
use anyhow::{Context, anyhow};
use daemon::transport::{self, Presented};
use protocol_spec::keys::PublicKey;
use protocol_spec::staff::{STAFF_ALPN, StaffErrorKind, StaffReply, StaffRequest};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The TLS alert a node sends when a client key is not admitted (rustls answers its
/// verifier's refusal with `access_denied`, spec §4.2).
const ACCESS_DENIED: u8 = 49;

/// Whether the node closed the connection because it does not admit this credential's key.
/// In TLS 1.3 the client finishes its handshake before the server judges the client's
/// certificate, so the refusal shows on the first request, not at connection.
fn credential_refused(conn: &quinn::Connection) -> bool {
    matches!(
        conn.close_reason(),
        Some(quinn::ConnectionError::ConnectionClosed(c))
            if c.error_code == quinn::TransportErrorCode::crypto(ACCESS_DENIED)
    )
}

/// Longer than the node's own wait for an outcome (the driver's `STAFF_REPLY_TIMEOUT`).
const STAFF_CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    conn: quinn::Connection,
    _endpoint: quinn::Endpoint,
    /// The key the node presented: the pinned one, or one it endorsed (spec §4.4).
    node_key: PublicKey,
}

impl Client {
    pub async fn connect(cred: &Credential) -> anyhow::Result<Client> {
        let addr = daemon::transport::resolve(&cred.node_address)
            .await
            .with_context(|| format!("cannot resolve node address {}", cred.node_address))?;
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let endpoint = transport::client_endpoint(bind)?;
        let (cfg, presented) =
            transport::staff_client_config(&cred.key, cred.node_key, STAFF_ALPN)?;
        let connected = transport::connect(&endpoint, cfg, addr).await;
        let met = *presented.lock().unwrap();
        let conn = match (connected, met) {
            (Ok(conn), _) => conn,
            // The node answered, with a key this credential neither pins nor can follow.
            (Err(e), Some(Presented::Refused(k))) => {
                return Err(e.context(Classified::new(
                    ErrorKind::Failed,
                    format!(
                        "the node of {} at {addr} presented a key that this credential does not pin ({}) and that no endorsement by the pinned key vouches for: its keys were replaced, or this is another node; ask its administrator for the node's current key (`node_key`) or a new credential",
                        cred.institution, k
                    ),
                )));
            }
            (Err(e), _) => {
                return Err(e.context(Classified::new(
                    ErrorKind::Unreachable,
                    format!(
                        "cannot reach the node of {} at {addr} (is it running, and is this credential still valid?)",
                        cred.institution
                    ),
                )));
            }
        };
        let node_key = match met {
            Some(Presented::Accepted(k)) => k,
            _ => cred.node_key,
        };
        Ok(Client {
            conn,
            _endpoint: endpoint,
            node_key,
        })
    }

    /// The node's current signing key, as it proved it in the handshake.
    pub fn node_key(&self) -> PublicKey {
        self.node_key
    }

    /// Connects with the credential file at `path`. When the node presents a newer key that
    /// the pinned one endorsed (its keys were rotated), the file is rewritten in place with
    /// the new key (atomically, 0600), so the chain is followed once.
    pub async fn connect_file(path: &Path) -> anyhow::Result<(Client, Credential)> {
        let mut cred = Credential::load(path)?;
        let client = Client::connect(&cred).await?;
        if client.node_key != cred.node_key {
            cred.node_key = client.node_key;
            crate::files::write_private(path, cred.to_text().as_bytes()).with_context(|| {
                format!(
                    "the node of {} rotated its key; cannot record the new key in {}",
                    cred.institution,
                    path.display()
                )
            })?;
            eprintln!(
                "note: the node of {} rotated its signing key; {} now pins the new key {}",
                cred.institution,
                path.display(),
                cred.node_key
            );
        }
        Ok((client, cred))
    }

    /// Sends one request; a node-side error comes back as `Err` with the node's message.
    pub async fn call(&self, req: StaffRequest) -> anyhow::Result<StaffReply> {
        // Longer than the node waits for a peer, so the node's own answer (possibly "not
        // known yet") always arrives before the CLI gives up.
        let reply = transport::request_within(&self.conn, &req, STAFF_CALL_TIMEOUT).await;
        if reply.is_err() && credential_refused(&self.conn) {
            return Err(anyhow!(
                "the node refused this credential's key: it is not registered there, or it was revoked. Ask the node's administrator for a credential (`passerelle staff list` shows who is registered)"
            ))
            .context(Classified::new(ErrorKind::Forbidden, "credential not accepted"));
        }
        let reply: StaffReply = reply.context(Classified::new(
                ErrorKind::Unreachable,
                "the node did not answer; an exchange may still complete: check `passerelle summary requests` before asking again",
            ))?;
        match reply {
            StaffReply::Error(e) => Err(anyhow!(e.message)).context(Classified::new(
                e.kind.into(),
                match e.kind {
                    StaffErrorKind::BadRequest => "the node refused the request",
                    StaffErrorKind::Forbidden => "not allowed",
                    StaffErrorKind::Peer => "a peer node failed",
                    StaffErrorKind::Internal => "the node failed",
                    StaffErrorKind::Pending => "not settled yet",
                },
            )),
            other => Ok(other),
        }
    }

    pub fn close(&self) {
        self.conn.close(0u32.into(), b"done");
    }
}
