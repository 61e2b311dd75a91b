#![no_main]
//! Sequences of frames as a node reads them (spec §3.1): parts gathered until a frame without
//! the CONTINUED bit, bounded in all, then decoded as one message of each of the four types.
//! One frame alone reads as it always did, a bound is never exceeded, and a decoded message
//! encodes back to a sequence that decodes to it.

use libfuzzer_sys::fuzz_target;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::wire::{
    CONTINUED, HEADER_LEN, MAX_MESSAGE_LEN, Reassembly, WireError, decode_frame, decode_message,
    encode_message, frame_len,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A small bound, so that inputs can cross it.
const LIMIT: usize = 256;

fn as_message<T>(bytes: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded = decode_message::<T>(bytes);
    // One frame without the CONTINUED bit and nothing after it: exactly the one-frame rules.
    if let Some(header) = bytes.first_chunk::<HEADER_LEN>()
        && let Ok(len) = frame_len(*header)
        && bytes.len() == HEADER_LEN + len
        && u16::from_be_bytes([bytes[4], bytes[5]]) & CONTINUED == 0
    {
        assert_eq!(decoded, decode_frame::<T>(bytes));
    }
    if let Ok(message) = &decoded {
        let again = encode_message(message).expect("a decoded message encodes");
        assert_eq!(decode_message::<T>(&again).as_ref(), Ok(message));
    }
}

/// Feeds the frames to a bounded reassembly: it never holds more than its bound.
fn bounded(mut bytes: &[u8]) {
    let mut r = Reassembly::new(LIMIT);
    let mut held = 0usize;
    while let Some(header) = bytes.first_chunk::<HEADER_LEN>() {
        let Ok(len) = frame_len(*header) else { return };
        let Some(body) = bytes.get(HEADER_LEN..HEADER_LEN + len) else {
            return;
        };
        bytes = &bytes[HEADER_LEN + len..];
        match r.push(body) {
            Ok(done) => {
                held += body.len() - 2;
                assert!(held <= LIMIT && held <= MAX_MESSAGE_LEN);
                if done {
                    return;
                }
            }
            Err(WireError::MessageTooLarge { len, max }) => {
                assert!(len > max && max == LIMIT);
                return;
            }
            Err(_) => return,
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    as_message::<PeerMessage>(bytes);
    as_message::<PeerReply>(bytes);
    as_message::<StaffRequest>(bytes);
    as_message::<StaffReply>(bytes);
    bounded(bytes);
});
