#![no_main]
//! The plaintext of a sealed summary, as a peer may seal anything to us: sealed with the
//! vector disclosure's header as associated data, then opened as the requester opens it. A
//! summary that opens holds only the header's categories and re-encodes to itself.

use fuzz::check::postcard_round_trip;
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::seal::{SeededRng, seal};

fuzz_target!(|plaintext: &[u8]| {
    let v = vectors();
    let mut disclosure = v.disclosure.clone();
    let recipient = v.recipient_key.public();
    disclosure.sealed = seal(
        &recipient,
        &disclosure.header.aad(),
        plaintext,
        &mut SeededRng::new([7; 32]),
    )
    .expect("the vector recipient key seals");
    if let Ok(summary) = disclosure.open(&v.recipient_key) {
        postcard_round_trip(&summary);
        for c in summary.categories.keys() {
            assert!(disclosure.header.categories.contains(c));
        }
    }
});
