//! Robustness of the decoders: whatever bytes arrive, decoding returns an error or a message,
//! never a panic. (Round trips of every message type are in `tests/round_trips.rs`.)

use crate::peer::{PeerMessage, PeerReply};
use crate::staff::{StaffReply, StaffRequest};
use crate::wire::{decode_body, decode_frame};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame::<PeerMessage>(&bytes);
        let _ = decode_frame::<PeerReply>(&bytes);
        let _ = decode_body::<StaffRequest>(&bytes);
        let _ = decode_body::<StaffReply>(&bytes);
    }

    #[test]
    fn a_valid_version_header_with_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut body = crate::wire::PROTOCOL_VERSION.to_be_bytes().to_vec();
        body.extend_from_slice(&tail);
        let _ = decode_body::<PeerMessage>(&body);
        let _ = decode_body::<StaffRequest>(&body);
    }
}
