//! Framing: every message travels as `length (u32 BE) || version (u16 BE) || postcard payload`,
//! where `length` counts the version and payload bytes and may not exceed [`MAX_FRAME_LEN`].

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const PROTOCOL_VERSION: u16 = 1;
/// Hard limit on `length`. Summaries are small text records; 1 MiB leaves ample room while
/// bounding what a peer can make a node buffer.
pub const MAX_FRAME_LEN: usize = 1 << 20;
pub const HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
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
    let (msg, rest) =
        postcard::take_from_bytes(&body[2..]).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Trailing(rest.len()));
    }
    Ok(msg)
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
