//! QUIC transport: quinn over rustls, TLS 1.3 only, mutual authentication where each side is
//! identified by its Ed25519 key, pinned against the roster (peers) or the staff table (staff),
//! never by a CA chain. Certificates are self-signed carriers for the key.

use anyhow::Context;
use protocol_spec::endorsement::{self, ENDORSEMENT_OID, KeyEndorsement, MAX_ENDORSEMENTS};
use protocol_spec::keys::{PublicKey, SigningKey};
use protocol_spec::wire::{self, HEADER_LEN, WireError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The one address resolver: a socket address as written, or a DNS name.
pub async fn resolve(address: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = address.parse() {
        return Ok(a);
    }
    tokio::net::lookup_host(address)
        .await
        .with_context(|| format!("cannot resolve {address}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{address} resolves to no address"))
}

/// An endpoint on `socket` whose stateless-reset tokens and connection-id check derive from
/// the node's signing key. After a restart the node recognises the connection ids it issued
/// before and resets those connections at once, so peers reconnect immediately instead of
/// waiting out their read timeout on a dead connection.
pub(crate) fn node_endpoint(
    socket: std::net::UdpSocket,
    identity: &SigningKey,
) -> anyhow::Result<quinn::Endpoint> {
    let seed = identity.seed();
    let reset = protocol_spec::keys::sha256(&[b"passerelle/v1 stateless-reset\n", &seed[..]]);
    let cid = protocol_spec::keys::sha256(&[b"passerelle/v1 connection-id\n", &seed[..]]);
    let cid_key = u64::from_le_bytes(cid[..8].try_into().expect("8 bytes"));
    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset,
    )));
    // Connection ids carry a keyed check; with a per-process key the restarted node would
    // drop the old ids as invalid instead of resetting their connections.
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    Ok(quinn::Endpoint::new(
        config,
        None,
        socket,
        Arc::new(quinn::TokioRuntime),
    )?)
}

/// Name placed in every certificate; verification ignores names and checks the key only.
pub(crate) const SERVER_NAME: &str = "passerelle.node";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 } BIT STRING { 32 bytes } }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Extracts the Ed25519 key a certificate carries, or `None` for any other kind of key.
pub(crate) fn certificate_key(cert: &CertificateDer<'_>) -> Option<PublicKey> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = ee.subject_public_key_info();
    let bytes = spki.as_ref();
    if bytes.len() == 44 && bytes[..12] == ED25519_SPKI_PREFIX {
        let mut k = [0u8; 32];
        k.copy_from_slice(&bytes[12..]);
        Some(PublicKey(k))
    } else {
        None
    }
}

/// DER of an OCTET STRING holding `bytes` (X.690 §8.7, definite length).
fn der_octet_string(bytes: &[u8]) -> Vec<u8> {
    let len = bytes.len();
    let mut out = vec![0x04];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(bytes);
    out
}

/// The key endorsements a certificate carries (spec §4.4); none when it has no such
/// extension or it does not decode.
pub(crate) fn certificate_endorsements(cert: &CertificateDer<'_>) -> Vec<KeyEndorsement> {
    use x509_parser::der_parser::der::parse_der_octetstring;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let Ok(oid) = x509_parser::asn1_rs::Oid::from(&ENDORSEMENT_OID) else {
        return Vec::new();
    };
    parsed
        .extensions()
        .iter()
        .find(|e| e.oid == oid)
        .and_then(|e| parse_der_octetstring(e.value).ok())
        .and_then(|(_, o)| o.as_slice().ok().map(<[u8]>::to_vec))
        .and_then(|b| postcard::from_bytes::<Vec<KeyEndorsement>>(&b).ok())
        .unwrap_or_default()
}

/// A self-signed certificate carrying `key`, and the key in PKCS#8 form for rustls.
pub(crate) fn self_signed(
    key: &SigningKey,
) -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    endorsed_certificate(key, &[])
}

/// [`self_signed`], the certificate also carrying the newest of the node's key endorsements.
pub(crate) fn endorsed_certificate(
    key: &SigningKey,
    endorsements: &[KeyEndorsement],
) -> anyhow::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let dalek = ed25519_dalek::SigningKey::from_bytes(&key.seed());
    let doc = dalek.to_pkcs8_der().context("encoding key as PKCS#8")?;
    let pkcs8 = PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec());
    let kp = rcgen::KeyPair::try_from(&pkcs8).context("loading key for certificate")?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
        .context("certificate parameters")?;
    if !endorsements.is_empty() {
        let newest = &endorsements[endorsements.len().saturating_sub(MAX_ENDORSEMENTS)..];
        let payload = postcard::to_stdvec(newest).context("encoding key endorsements")?;
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &ENDORSEMENT_OID,
                der_octet_string(&payload),
            ));
    }
    let cert = params
        .self_signed(&kp)
        .context("self-signing certificate")?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(pkcs8)))
}

/// Decides which client keys may complete a handshake. Consulted on every handshake, so a
/// roster update or a staff revocation takes effect for the next connection at once.
pub trait Admission: Send + Sync + 'static {
    fn admits(&self, key: &PublicKey) -> bool;
}

struct PinnedClients {
    admission: Arc<dyn Admission>,
    algs: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for PinnedClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinnedClients")
    }
}

/// TLS 1.2 is never negotiated (the configs offer TLS 1.3 only); refuse if asked anyway.
fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOffered,
    ))
}

fn unknown_key() -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match certificate_key(end_entity) {
            Some(k) if self.admission.admits(&k) => Ok(ClientCertVerified::assertion()),
            _ => Err(unknown_key()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[derive(Debug)]
struct PinnedServer {
    expected: PublicKey,
    /// Staff clients also accept a key the pinned one endorsed (spec §4.4); peers never do.
    follow_endorsements: bool,
    /// The key the server presented, and whether it was accepted.
    presented: PresentedCell,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(k) = certificate_key(end_entity) else {
            return Err(unknown_key());
        };
        let endorsed = || {
            self.follow_endorsements
                && endorsement::follows(&certificate_endorsements(end_entity), &self.expected, &k)
        };
        if k == self.expected || endorsed() {
            *self.presented.lock().unwrap() = Some(Presented::Accepted(k));
            Ok(ServerCertVerified::assertion())
        } else {
            *self.presented.lock().unwrap() = Some(Presented::Refused(k));
            Err(unknown_key())
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Concurrent requests (bidirectional streams) a client may have open on a new connection.
/// quinn keeps state for each stream a client may open, used or not: about 100 bytes a stream
/// on every idle connection.
pub const INITIAL_STREAMS: u32 = 64;

/// Concurrent requests a connection may carry at most: the node's driver doubles a connection's
/// allowance each time its client has three quarters of it open. A case worker's session, or a
/// node asking a peer for all its case workers, has this many requests in flight on one
/// connection. With 64 at most, the benchmark's 128 in flight were 64 (the rest waited for a
/// stream), and the nodes' group commits smaller: 128 in flight, builds in turn, 4,693-4,845
/// exchanges/s instead of 3,836-4,229.
pub const MAX_STREAMS: u32 = 256;

/// Bytes a connection may have sent that the node has not read yet, all streams together:
/// 16 frames of the largest size (spec §3.1).
const RECEIVE_WINDOW: u32 = 16 * protocol_spec::wire::MAX_FRAME_LEN as u32;

/// The transport of a connection whose peer opens streams (`server`: the node's side), or only
/// this side does (a client: a server never opens a stream, spec §4.3).
fn transport_config(server: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        Duration::from_secs(30).try_into().expect("idle timeout"),
    ));
    t.keep_alive_interval(Some(Duration::from_secs(10)));
    t.max_concurrent_bidi_streams(if server { INITIAL_STREAMS } else { 0 }.into());
    // What a connection may have buffered unread, its streams together: more streams do not
    // let a peer hold more of the node's memory (quinn bounds each stream, not their sum).
    t.receive_window(RECEIVE_WINDOW.into());
    t.max_concurrent_uni_streams(0u32.into());
    Arc::new(t)
}

/// Server configuration accepting the given ALPNs from admitted keys, its certificate carrying
/// the node's key endorsements.
pub fn server_config(
    key: &SigningKey,
    endorsements: &[KeyEndorsement],
    admission: Arc<dyn Admission>,
    alpns: &[&[u8]],
) -> anyhow::Result<quinn::ServerConfig> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls(
        key,
        endorsements,
        admission,
        alpns,
    )?)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport_config(true));
    Ok(cfg)
}

/// The TLS side of [`server_config`]: TLS 1.3 only, client keys pinned by `admission`, no
/// early data and no session resumption (spec §4.1).
fn server_tls(
    key: &SigningKey,
    endorsements: &[KeyEndorsement],
    admission: Arc<dyn Admission>,
    alpns: &[&[u8]],
) -> anyhow::Result<rustls::ServerConfig> {
    let provider = provider();
    let verifier = Arc::new(PinnedClients {
        admission,
        algs: provider.signature_verification_algorithms,
    });
    let (cert, pk) = endorsed_certificate(key, endorsements)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], pk)?;
    tls.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    tls.max_early_data_size = 0; // no 0-RTT: requests must not be replayable at the TLS layer
    // No resumption: a resumed handshake skips the client certificate, hence the admission
    // check, so a revoked staff key or a removed member could reconnect on an old session.
    // The default stateless ticketer already issues none; keep no session cache and announce
    // no tickets either.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    Ok(tls)
}

/// Client configuration presenting `key` and accepting only a server holding `server_key`.
pub fn client_config(
    key: &SigningKey,
    server_key: PublicKey,
    alpn: &[u8],
) -> anyhow::Result<quinn::ClientConfig> {
    let (tls, _) = client_tls(key, server_key, false, alpn)?;
    quic_client(tls)
}

/// What a client's verifier made of the key the server presented: after a refused handshake
/// the client can say which key it met instead of the pinned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The pinned key, or one it endorsed.
    Accepted(PublicKey),
    Refused(PublicKey),
}

/// Filled by a client's verifier during the handshake.
pub type PresentedCell = Arc<std::sync::Mutex<Option<Presented>>>;

/// A staff client's configuration: like [`client_config`], also accepting a server key that
/// the pinned `node_key` endorsed (spec §4.4). The cell receives the key the server presented.
pub fn staff_client_config(
    key: &SigningKey,
    node_key: PublicKey,
    alpn: &[u8],
) -> anyhow::Result<(quinn::ClientConfig, PresentedCell)> {
    let (tls, presented) = client_tls(key, node_key, true, alpn)?;
    Ok((quic_client(tls)?, presented))
}

fn quic_client(tls: rustls::ClientConfig) -> anyhow::Result<quinn::ClientConfig> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport_config(false));
    Ok(cfg)
}

/// The TLS side of [`client_config`]: TLS 1.3 only, the server key pinned, and every handshake
/// a full one (spec §4.1): no session is stored, so none is offered for resumption.
fn client_tls(
    key: &SigningKey,
    server_key: PublicKey,
    follow_endorsements: bool,
    alpn: &[u8],
) -> anyhow::Result<(rustls::ClientConfig, PresentedCell)> {
    let provider = provider();
    let presented = Arc::new(std::sync::Mutex::new(None));
    let verifier = Arc::new(PinnedServer {
        expected: server_key,
        follow_endorsements,
        presented: presented.clone(),
        algs: provider.signature_verification_algorithms,
    });
    let (cert, pk) = self_signed(key)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], pk)?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    Ok((tls, presented))
}

/// The authenticated key and negotiated ALPN of an established connection.
pub(crate) fn peer_of(conn: &quinn::Connection) -> Option<(PublicKey, Vec<u8>)> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    let key = certificate_key(certs.first()?)?;
    let alpn = conn
        .handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol?;
    Some((key, alpn))
}

/// Opens a client endpoint on an ephemeral loopback-or-any port.
pub fn client_endpoint(bind: SocketAddr) -> anyhow::Result<quinn::Endpoint> {
    quinn::Endpoint::client(bind).context("opening QUIC client endpoint")
}

pub async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
) -> anyhow::Result<quinn::Connection> {
    let connecting = endpoint
        .connect_with(config, addr, SERVER_NAME)
        .with_context(|| format!("connecting to {addr}"))?;
    tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .with_context(|| format!("handshake with {addr} timed out"))?
        .with_context(|| format!("handshake with {addr} failed"))
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("stream ended before a complete frame")]
    Eof,
    #[error("stream error: {0}")]
    Stream(String),
    #[error("timed out waiting for the peer")]
    Timeout,
}

/// Reads one reply that fits a frame, refusing an oversized length before reading the body.
pub(crate) async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
) -> Result<T, FrameError> {
    let message = read_message(recv, PEER_TIMEOUT, wire::MAX_FRAME_LEN).await?;
    Ok(message.decode()?)
}

/// Messages spanning several frames being read at once in this process: each may hold up to
/// `MAX_MESSAGE_LEN` in memory, so only a few at a time (spec §3.1, §14.8).
static LARGE_MESSAGES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// How long a sequence of frames may take in all: a 32 MiB overlap set at 2.3 Mbit/s or more.
pub const LARGE_MESSAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads one message, a frame or a sequence of frames of at most `max_len` payload bytes in
/// all: each frame within `limit`, and a sequence within [`LARGE_MESSAGE_TIMEOUT`] in all.
pub(crate) async fn read_message(
    recv: &mut quinn::RecvStream,
    limit: Duration,
    max_len: usize,
) -> Result<wire::Reassembly, FrameError> {
    let whole = if max_len > wire::MAX_FRAME_LEN {
        limit.max(LARGE_MESSAGE_TIMEOUT)
    } else {
        limit
    };
    let read = async {
        let mut message = wire::Reassembly::new(max_len);
        let mut permit = None;
        loop {
            let body = tokio::time::timeout(limit, read_body(recv))
                .await
                .map_err(|_| FrameError::Timeout)??;
            if message.push(&body)? {
                note_end(recv);
                return Ok(message);
            }
            if permit.is_none() {
                permit = Some(
                    LARGE_MESSAGES
                        .acquire()
                        .await
                        .map_err(|_| FrameError::Timeout)?,
                );
            }
        }
    };
    tokio::time::timeout(whole, read)
        .await
        .map_err(|_| FrameError::Timeout)?
}

/// Takes note of the stream's end when it came with the message, as a sender's end comes with
/// its last frame; nothing is waited for. A stream dropped before its end was read asks the peer
/// to stop sending (a STOP_SENDING frame, a packet of its own each way for a stream that is
/// already complete).
fn note_end(recv: &mut quinn::RecvStream) {
    let mut probe = [0u8; 1];
    let read = std::pin::pin!(recv.read(&mut probe));
    let _ = read.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
}

/// Reads one frame's body (version and payload), refusing an oversized length first.
async fn read_body(recv: &mut quinn::RecvStream) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    recv.read_exact(&mut header).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(_) => FrameError::Eof,
        quinn::ReadExactError::ReadError(e) => FrameError::Stream(e.to_string()),
    })?;
    let len = wire::frame_len(header)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(_) => FrameError::Eof,
        quinn::ReadExactError::ReadError(e) => FrameError::Stream(e.to_string()),
    })?;
    Ok(body)
}

/// How long a node waits for a peer's frame.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) async fn read_frame_bytes(recv: &mut quinn::RecvStream) -> Result<Vec<u8>, FrameError> {
    read_frame_bytes_within(recv, PEER_TIMEOUT).await
}

pub(crate) async fn read_frame_bytes_within(
    recv: &mut quinn::RecvStream,
    limit: Duration,
) -> Result<Vec<u8>, FrameError> {
    tokio::time::timeout(limit, read_body(recv))
        .await
        .map_err(|_| FrameError::Timeout)?
}

/// Sends one request on a fresh bidirectional stream and reads the single reply.
pub async fn request<Q: Serialize, A: DeserializeOwned>(
    conn: &quinn::Connection,
    message: &Q,
) -> Result<A, FrameError> {
    let mut recv = send_on_new_stream(conn, wire::encode_message(message)?.into()).await?;
    read_frame(&mut recv).await
}

/// Opens a bidirectional stream, sends `encoded` on it and ends its sending side; the reply
/// comes on the stream returned. The bytes are handed to the stream, not copied.
async fn send_on_new_stream(
    conn: &quinn::Connection,
    encoded: bytes::Bytes,
) -> Result<quinn::RecvStream, FrameError> {
    let (mut send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    send.write_chunk(encoded)
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    send.finish()
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    Ok(recv)
}

/// Like [`request`], waiting up to `limit` for the one-frame reply: a receiver that checks
/// and reblinds an overlap set answers only once the next hop is durable.
pub async fn request_waiting<Q: Serialize, A: DeserializeOwned>(
    conn: &quinn::Connection,
    message: &Q,
    limit: Duration,
) -> Result<A, FrameError> {
    request_limited(conn, message, limit, wire::MAX_FRAME_LEN).await
}

/// How long a sender waits for the answer to an overlap set message: the receiver checks and
/// reblinds up to a million elements (about 45 s on two shared cores) before it answers.
pub const PSI_SET_TIMEOUT: Duration = Duration::from_secs(120);

/// Like [`request`], waiting up to `limit` for the reply, which may span frames.
pub async fn request_within<Q: Serialize, A: DeserializeOwned>(
    conn: &quinn::Connection,
    message: &Q,
    limit: Duration,
) -> Result<A, FrameError> {
    // The staff client's own node may answer with a message larger than a frame (a roster).
    request_limited(conn, message, limit, wire::MAX_MESSAGE_LEN).await
}

/// One request, and its reply of at most `max_len` bytes within `limit`.
async fn request_limited<Q: Serialize, A: DeserializeOwned>(
    conn: &quinn::Connection,
    message: &Q,
    limit: Duration,
    max_len: usize,
) -> Result<A, FrameError> {
    let mut recv = send_on_new_stream(conn, wire::encode_message(message)?.into()).await?;
    let reply = read_message(&mut recv, limit, max_len).await?;
    Ok(reply.decode()?)
}

/// Like [`request_waiting`], for a message already encoded: its bytes are shared with the
/// stream, not copied (a roster sent whole to many members at once).
pub async fn request_encoded<A: DeserializeOwned>(
    conn: &quinn::Connection,
    encoded: bytes::Bytes,
    limit: Duration,
) -> Result<A, FrameError> {
    let mut recv = send_on_new_stream(conn, encoded).await?;
    let reply = read_message(&mut recv, limit, wire::MAX_FRAME_LEN).await?;
    Ok(reply.decode()?)
}

/// Like [`request`], but sends raw frame bytes (tests use it to send malformed frames).
pub async fn request_raw(conn: &quinn::Connection, bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut recv = send_on_new_stream(conn, bytes::Bytes::copy_from_slice(bytes)).await?;
    read_frame_bytes(&mut recv).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Admits one key while `allowed` holds, and counts how often it was asked.
    struct Toggle {
        key: PublicKey,
        allowed: AtomicBool,
        asked: AtomicUsize,
    }

    impl Admission for Toggle {
        fn admits(&self, key: &PublicKey) -> bool {
            self.asked.fetch_add(1, Ordering::SeqCst);
            *key == self.key && self.allowed.load(Ordering::SeqCst)
        }
    }

    fn toggle(key: &SigningKey) -> Arc<Toggle> {
        Arc::new(Toggle {
            key: key.public(),
            allowed: AtomicBool::new(true),
            asked: AtomicUsize::new(0),
        })
    }

    const ALPN: &[u8] = b"passerelle-staff/1";

    /// Moves every pending TLS record from one side to the other; whether anything moved.
    fn pump(
        from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
        to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
    ) -> Result<bool, rustls::Error> {
        let mut bytes = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut bytes).expect("write to memory");
        }
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).expect("read from memory");
            to.process_new_packets()?;
        }
        Ok(!bytes.is_empty())
    }

    /// One TLS 1.3 handshake in memory, with everything the server sends after it (tickets
    /// included) delivered to the client; the kind of handshake each side saw.
    fn handshake(
        client: &Arc<rustls::ClientConfig>,
        server: &Arc<rustls::ServerConfig>,
    ) -> Result<(rustls::HandshakeKind, rustls::HandshakeKind), rustls::Error> {
        let name = ServerName::try_from(SERVER_NAME).expect("server name");
        let mut c = rustls::ClientConnection::new(client.clone(), name)?;
        let mut s = rustls::ServerConnection::new(server.clone())?;
        while pump(&mut c, &mut s)? | pump(&mut s, &mut c)? {}
        assert!(!c.is_handshaking() && !s.is_handshaking());
        Ok((
            c.handshake_kind().expect("client handshake done"),
            s.handshake_kind().expect("server handshake done"),
        ))
    }

    #[test]
    fn every_handshake_is_a_full_one() {
        let (server_key, client_key) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let admission = toggle(&client_key);
        let server = Arc::new(server_tls(&server_key, &[], admission.clone(), &[ALPN]).unwrap());
        let client = Arc::new(
            client_tls(&client_key, server_key.public(), false, ALPN)
                .unwrap()
                .0,
        );
        assert_eq!(server.send_tls13_tickets, 0);
        assert!(!server.ticketer.enabled());
        for n in 1..=3 {
            let kinds = handshake(&client, &server).unwrap();
            assert_eq!(
                kinds,
                (rustls::HandshakeKind::Full, rustls::HandshakeKind::Full)
            );
            assert_eq!(
                admission.asked.load(Ordering::SeqCst),
                n,
                "admission asked every time"
            );
        }

        // The same harness sees a resumption when both sides allow one, as rustls does by
        // default: the check above is not vacuous.
        let mut lax_server = server_tls(&server_key, &[], admission.clone(), &[ALPN]).unwrap();
        lax_server.session_storage = rustls::server::ServerSessionMemoryCache::new(16);
        lax_server.send_tls13_tickets = 2;
        let mut lax_client = client_tls(&client_key, server_key.public(), false, ALPN)
            .unwrap()
            .0;
        lax_client.resumption = rustls::client::Resumption::in_memory_sessions(16);
        let (lax_server, lax_client) = (Arc::new(lax_server), Arc::new(lax_client));
        handshake(&lax_client, &lax_server).unwrap();
        admission.allowed.store(false, Ordering::SeqCst);
        assert_eq!(
            handshake(&lax_client, &lax_server).unwrap().1,
            rustls::HandshakeKind::Resumed,
            "a resumed handshake skips the admission check"
        );
        // Without resumption the revoked key is refused.
        assert!(handshake(&client, &server).is_err());
    }

    /// A node whose signing key was replaced presents its new key with the old key's
    /// endorsement: a staff client pinned to the old key accepts it and learns the new key; a
    /// forged or missing endorsement is refused, and a peer never follows endorsements.
    #[test]
    fn a_staff_client_follows_its_node_key_endorsements_and_peers_do_not() {
        let (old, new, client_key) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([3; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let admission = toggle(&client_key);
        let server = |chain: &[KeyEndorsement]| {
            Arc::new(server_tls(&new, chain, admission.clone(), &[ALPN]).unwrap())
        };
        let genuine = vec![KeyEndorsement::sign(&old, new.public())];
        let (tls, presented) = client_tls(&client_key, old.public(), true, ALPN).unwrap();
        handshake(&Arc::new(tls), &server(&genuine)).expect("the endorsed key is accepted");
        assert_eq!(
            *presented.lock().unwrap(),
            Some(Presented::Accepted(new.public()))
        );

        let mut forged = KeyEndorsement::sign(&SigningKey::from_seed([9; 32]), new.public());
        forged.old = old.public();
        for chain in [vec![forged], vec![]] {
            let (tls, presented) = client_tls(&client_key, old.public(), true, ALPN).unwrap();
            assert!(handshake(&Arc::new(tls), &server(&chain)).is_err());
            assert_eq!(
                *presented.lock().unwrap(),
                Some(Presented::Refused(new.public()))
            );
        }
        let peer = client_tls(&client_key, old.public(), false, ALPN)
            .unwrap()
            .0;
        assert!(handshake(&Arc::new(peer), &server(&genuine)).is_err());
        // The certificate carries what the client reads back.
        let (cert, _) = endorsed_certificate(&new, &genuine).unwrap();
        assert_eq!(certificate_endorsements(&cert), genuine);
        assert_eq!(certificate_key(&cert), Some(new.public()));
        assert!(certificate_endorsements(&self_signed(&new).unwrap().0).is_empty());
    }

    /// Over QUIC: a key admitted once and revoked since is refused at its next handshake, even
    /// from a client that keeps its configuration (and so would hold any session it was given).
    #[tokio::test]
    async fn revoked_key_is_refused_at_the_next_handshake() {
        let (server_key, client_key) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let admission = toggle(&client_key);
        let server = quinn::Endpoint::server(
            server_config(&server_key, &[], admission.clone(), &[ALPN]).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, mut handshakes) = tokio::sync::mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    match incoming.await {
                        Ok(conn) => {
                            let _ = tx.send(true);
                            conn.closed().await;
                        }
                        Err(_) => {
                            let _ = tx.send(false);
                        }
                    }
                });
            }
        });
        let endpoint = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = client_config(&client_key, server_key.public(), ALPN).unwrap();

        let first = connect(&endpoint, config.clone(), addr).await.unwrap();
        assert_eq!(handshakes.recv().await, Some(true));
        // Give the server time to send whatever it sends after the handshake.
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.close(0u32.into(), b"done");

        admission.allowed.store(false, Ordering::SeqCst);
        // The client may finish its side of the handshake before the server's refusal arrives;
        // the connection is then closed at once, never usable.
        if let Ok(second) = connect(&endpoint, config, addr).await {
            let closed = tokio::time::timeout(Duration::from_secs(5), second.closed()).await;
            assert!(closed.is_ok(), "the refused connection is closed");
        }
        assert_eq!(
            handshakes.recv().await,
            Some(false),
            "the server refused the handshake"
        );
        assert_eq!(
            admission.asked.load(Ordering::SeqCst),
            2,
            "the revoked key was checked"
        );
        accept.abort();
    }

    /// A server on loopback admitting one client key, and a client endpoint and configuration
    /// with that key.
    fn loopback() -> (
        quinn::Endpoint,
        std::net::SocketAddr,
        quinn::Endpoint,
        quinn::ClientConfig,
    ) {
        let (server_key, client_key) = (
            SigningKey::from_seed([1; 32]),
            SigningKey::from_seed([2; 32]),
        );
        let server = quinn::Endpoint::server(
            server_config(&server_key, &[], toggle(&client_key), &[ALPN]).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let endpoint = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = client_config(&client_key, server_key.public(), ALPN).unwrap();
        (server, addr, endpoint, config)
    }

    /// A request and its reply each end with their last frame; neither side asks the other to
    /// stop sending a stream it read whole, which would cost a packet each way per request.
    #[tokio::test]
    async fn a_stream_read_whole_is_not_stopped() {
        let (server, addr, endpoint, config) = loopback();
        let serve = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            for _ in 0..8 {
                let (mut send, mut recv) = conn.accept_bi().await.unwrap();
                let asked: String = read_frame(&mut recv).await.unwrap();
                drop(recv);
                let answer = wire::encode_message(&format!("{asked}, answered")).unwrap();
                send.write_all(&answer).await.unwrap();
                send.finish().unwrap();
            }
            conn.closed().await;
            conn.stats().frame_tx.stop_sending
        });
        let conn = connect(&endpoint, config, addr).await.unwrap();
        for i in 0..8 {
            let reply: String = request(&conn, &format!("request {i}")).await.unwrap();
            assert_eq!(reply, format!("request {i}, answered"));
        }
        // Whatever the client had to send about the streams has left before it closes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(conn.stats().frame_tx.stop_sending, 0, "client");
        conn.close(0u32.into(), b"done");
        assert_eq!(serve.await.unwrap(), 0, "server");
    }

    /// A new connection carries 64 requests at once (the node's driver allows more to a
    /// connection that keeps three quarters of them open), and whatever a peer sends on them
    /// that the node has not read stays within 16 MiB: a 65th stream waits for a stream to end,
    /// and a 17th MiB for the node to read.
    #[tokio::test]
    async fn a_new_connection_carries_64_requests_and_16_mib_unread() {
        let (server, addr, endpoint, config) = loopback();
        // Accepts the connection and never reads a stream.
        let serve = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            conn.closed().await;
        });
        let conn = connect(&endpoint, config, addr).await.unwrap();
        let open = || tokio::time::timeout(Duration::from_millis(500), conn.open_bi());
        let mut streams = Vec::new();
        for _ in 0..INITIAL_STREAMS {
            streams.push(open().await.expect("within the limit").unwrap());
        }
        assert!(
            open().await.is_err(),
            "stream {} waits",
            INITIAL_STREAMS + 1
        );

        let mib = vec![7u8; 1 << 20];
        let mut written = 0;
        for (send, _) in streams.iter_mut().take(20) {
            match tokio::time::timeout(Duration::from_secs(2), send.write_all(&mib)).await {
                Ok(r) => {
                    r.unwrap();
                    written += 1;
                }
                Err(_) => break,
            }
        }
        assert_eq!(written, 16, "MiB sent before the node reads");
        conn.close(0u32.into(), b"done");
        serve.await.unwrap();
    }
}
