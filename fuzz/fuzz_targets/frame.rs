#![no_main]
//! Whole frames as a node reads them from a stream: the 4-byte length header, then the body
//! as each of the four message types. The header alone decides a frame's fate when it is
//! refused, and a decoded message travels in a frame of its own and comes back the same.

use fuzz::check::frame_round_trip;
use libfuzzer_sys::fuzz_target;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::wire::{
    HEADER_LEN, MAX_FRAME_LEN, WireError, decode_body, decode_frame, frame_len,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

fn as_message<T>(frame: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded = decode_frame::<T>(frame);
    match frame.first_chunk::<HEADER_LEN>() {
        None => assert_eq!(decoded, Err(WireError::Truncated)),
        Some(header) => match frame_len(*header) {
            Err(e) => assert_eq!(decoded, Err(e)),
            Ok(len) => {
                assert!((2..=MAX_FRAME_LEN).contains(&len));
                let body = &frame[HEADER_LEN..];
                if body.len() == len {
                    assert_eq!(decoded, decode_body::<T>(body));
                } else {
                    assert_eq!(decoded, Err(WireError::Truncated));
                }
            }
        },
    }
    if let Ok(message) = &decoded {
        frame_round_trip(message);
    }
}

fuzz_target!(|frame: &[u8]| {
    as_message::<PeerMessage>(frame);
    as_message::<PeerReply>(frame);
    as_message::<StaffRequest>(frame);
    as_message::<StaffReply>(frame);
});
