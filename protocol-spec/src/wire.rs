//! Framing: every message travels as `length (u32 BE) || version (u16 BE) || postcard payload`,
//! where `length` counts the version and payload bytes and may not exceed [`MAX_FRAME_LEN`].
//! A message larger than one frame (a roster of thousands of members, a large records import)
//! travels as a sequence of frames on its stream, each but the last marked [`CONTINUED`] in
//! its version field, up to [`MAX_MESSAGE_LEN`] in all (spec §3.1).

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const PROTOCOL_VERSION: u16 = 1;
/// Hard limit on `length`. Summaries are small text records; 1 MiB leaves ample room while
/// bounding what a peer can make a node buffer.
pub const MAX_FRAME_LEN: usize = 1 << 20;
pub const HEADER_LEN: usize = 4;
/// Set in the version field of every frame of a sequence but the last: the payload continues
/// in the next frame.
pub const CONTINUED: u16 = 0x8000;
/// The most payload bytes one message may carry across a sequence of frames: a 16 MiB
/// records import with room to spare, a roster of about 150,000 members.
pub const MAX_MESSAGE_LEN: usize = 32 << 20;
/// The most payload bytes one frame carries.
const MAX_PART_LEN: usize = MAX_FRAME_LEN - 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge { len: usize, max: usize },
    #[error("frame is shorter than its version field")]
    Truncated,
    #[error("unsupported protocol version {0} (this node speaks version {PROTOCOL_VERSION})")]
    UnsupportedVersion(u16),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("malformed message: {0} trailing byte(s) after the message")]
    Trailing(usize),
}

/// Encodes one message into a complete frame (header included).
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let payload = postcard::to_stdvec(message).map_err(|e| WireError::Malformed(e.to_string()))?;
    let len = 2 + payload.len();
    if len > MAX_FRAME_LEN {
        return Err(WireError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Encodes one message as one frame if it fits, otherwise as a sequence of frames of the
/// largest size, all but the last marked [`CONTINUED`] (spec §3.1).
pub fn encode_message<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let payload = postcard::to_stdvec(message).map_err(|e| WireError::Malformed(e.to_string()))?;
    if payload.len() > MAX_MESSAGE_LEN {
        return Err(WireError::MessageTooLarge {
            len: payload.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    let parts = payload.len().div_ceil(MAX_PART_LEN).max(1);
    let mut out = Vec::with_capacity(payload.len() + parts * (HEADER_LEN + 2));
    let mut chunks = payload.chunks(MAX_PART_LEN).peekable();
    if payload.is_empty() {
        out.extend_from_slice(&2u32.to_be_bytes());
        out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    }
    while let Some(part) = chunks.next() {
        let version = if chunks.peek().is_some() {
            PROTOCOL_VERSION | CONTINUED
        } else {
            PROTOCOL_VERSION
        };
        out.extend_from_slice(&((2 + part.len()) as u32).to_be_bytes());
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Gathers the frames of one message: the payload parts in order, until a frame not marked
/// [`CONTINUED`], refusing a message whose payload would exceed `limit`.
#[derive(Debug)]
pub struct Reassembly {
    payload: Vec<u8>,
    frames: usize,
    limit: usize,
    complete: bool,
}

impl Reassembly {
    pub fn new(limit: usize) -> Reassembly {
        Reassembly {
            payload: Vec::new(),
            frames: 0,
            limit: limit.min(MAX_MESSAGE_LEN),
            complete: false,
        }
    }

    /// Takes the body of the next frame (version and payload part); true once the message is
    /// complete.
    pub fn push(&mut self, body: &[u8]) -> Result<bool, WireError> {
        if body.len() < 2 {
            return Err(WireError::Truncated);
        }
        let version = u16::from_be_bytes([body[0], body[1]]);
        let continued = version & CONTINUED != 0;
        if version & !CONTINUED != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version & !CONTINUED));
        }
        let part = &body[2..];
        // A continued frame with nothing in it would let a sender keep a stream open forever.
        if continued && part.is_empty() {
            return Err(WireError::Malformed("empty continued frame".into()));
        }
        if self.payload.len() + part.len() > self.limit {
            return Err(WireError::MessageTooLarge {
                len: self.payload.len() + part.len(),
                max: self.limit,
            });
        }
        self.payload.extend_from_slice(part);
        self.frames += 1;
        self.complete = !continued;
        Ok(self.complete)
    }

    /// How many frames the message took.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Decodes the complete message; the whole payload must be consumed.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WireError> {
        if !self.complete {
            return Err(WireError::Truncated);
        }
        decode_payload(&self.payload)
    }
}

/// Reads the length header and checks it against the limit before anything is buffered.
pub fn frame_len(header: [u8; HEADER_LEN]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(WireError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    if len < 2 {
        return Err(WireError::Truncated);
    }
    Ok(len)
}

/// Decodes the bytes that follow the header (version and payload). The whole payload must be
/// consumed: trailing bytes are a malformed frame, not something to ignore.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    if body.len() < 2 {
        return Err(WireError::Truncated);
    }
    if body.len() > MAX_FRAME_LEN {
        return Err(WireError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let version = u16::from_be_bytes([body[0], body[1]]);
    if version != PROTOCOL_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    decode_payload(&body[2..])
}

/// Decodes a message's whole payload; bytes left over are a malformed message.
fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, WireError> {
    let (msg, rest) =
        postcard::take_from_bytes(payload).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Decodes a message held in memory as its sequence of frames.
pub fn decode_message<T: DeserializeOwned>(mut bytes: &[u8]) -> Result<T, WireError> {
    let mut r = Reassembly::new(MAX_MESSAGE_LEN);
    loop {
        let header: [u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let len = frame_len(header)?;
        let body = bytes
            .get(HEADER_LEN..HEADER_LEN + len)
            .ok_or(WireError::Truncated)?;
        bytes = &bytes[HEADER_LEN + len..];
        if r.push(body)? {
            if !bytes.is_empty() {
                return Err(WireError::Trailing(bytes.len()));
            }
            return r.decode();
        }
    }
}

/// Decodes a complete frame held in memory (header included).
pub fn decode_frame<T: DeserializeOwned>(frame: &[u8]) -> Result<T, WireError> {
    let header: [u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(WireError::Truncated)?;
    let len = frame_len(header)?;
    let body = &frame[HEADER_LEN..];
    if body.len() != len {
        return Err(WireError::Truncated);
    }
    decode_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let f = encode_frame(&(1u8, String::from("x"))).unwrap();
        assert_eq!(decode_frame::<(u8, String)>(&f).unwrap(), (1, "x".into()));
        assert!(matches!(
            frame_len(((MAX_FRAME_LEN + 1) as u32).to_be_bytes()),
            Err(WireError::TooLarge { .. })
        ));
        let big = vec![0u8; MAX_FRAME_LEN];
        assert!(matches!(
            encode_frame(&big),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_message_larger_than_a_frame_travels_as_a_sequence() {
        let big = vec![7u8; MAX_FRAME_LEN * 2 + 10];
        let bytes = encode_message(&big).unwrap();
        assert!(encode_frame(&big).is_err(), "one frame cannot hold it");
        // Three frames: two full ones marked continued, then the rest.
        let first = frame_len(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(first, MAX_FRAME_LEN);
        assert_eq!(&bytes[4..6], &(PROTOCOL_VERSION | CONTINUED).to_be_bytes());
        assert_eq!(decode_message::<Vec<u8>>(&bytes).unwrap(), big);
        // A small message is the one frame it always was.
        assert_eq!(encode_message(&7u8).unwrap(), encode_frame(&7u8).unwrap());
        // The last frame missing: the message is incomplete, never decoded from its start.
        let cut = HEADER_LEN + first;
        assert_eq!(
            decode_message::<Vec<u8>>(&bytes[..cut]),
            Err(WireError::Truncated)
        );
        // Beyond the receiver's limit: refused at the frame that crosses it.
        let mut r = Reassembly::new(MAX_FRAME_LEN);
        assert!(!r.push(&bytes[4..4 + first]).unwrap());
        let second = &bytes[cut + 4..cut + 4 + MAX_FRAME_LEN];
        assert!(matches!(
            r.push(second),
            Err(WireError::MessageTooLarge { .. })
        ));
        // An empty continued frame is refused: it would hold a stream open for nothing.
        let mut r = Reassembly::new(MAX_MESSAGE_LEN);
        assert!(matches!(
            r.push(&(PROTOCOL_VERSION | CONTINUED).to_be_bytes()),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            encode_message(&vec![0u8; MAX_MESSAGE_LEN + 1]),
            Err(WireError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn wrong_version_and_trailing_bytes_are_refused() {
        let mut f = encode_frame(&7u8).unwrap();
        f[5] = 9;
        assert_eq!(
            decode_frame::<u8>(&f),
            Err(WireError::UnsupportedVersion(9))
        );
        let mut f = encode_frame(&7u8).unwrap();
        f.push(0);
        f[3] += 1;
        assert_eq!(decode_frame::<u8>(&f), Err(WireError::Trailing(1)));
    }
}
