#![no_main]
//! Frame bodies a peer answers with (`PeerReply`), then what the requester does with each: a
//! disclosure's signature, cosignature lines appended to our checkpoint and checked, log data
//! read as an entry bundle, an inclusion proof under a signed checkpoint.

use fuzz::check::{frame_round_trip, postcard_round_trip};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::entry::LogEntry;
use protocol_spec::peer::PeerReply;
use protocol_spec::tlog::cosignature::{cosigners, verify_cosignature};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{open_checkpoint, tiles, verify_inclusion};
use protocol_spec::wire::decode_body;

/// The checkpoint body a witness cosigns in the vectors.
const BODY: &str = "example.org/passerelle/log\n5\nuFW0LWww9bCH4FJmeD+9bjlPe5JgE8yqZ3AKiwxaWW8=\n";

fuzz_target!(|body: &[u8]| {
    let Ok(reply) = decode_body::<PeerReply>(body) else {
        return;
    };
    postcard_round_trip(&reply);
    frame_round_trip(&reply);
    let v = vectors();
    match &reply {
        PeerReply::Disclosure { disclosure, .. } => {
            if let Some(m) = v.roster.roster.member(&disclosure.header.source) {
                let _ = disclosure.verify_signature(&m.signing_key);
            }
            let _ = disclosure.header.aad();
        }
        PeerReply::Cosigned(lines) => {
            // As the daemon reads a witness's answer: our note's text, then its lines, each
            // checked against our text (a blank line among them moves the note's split).
            if let Ok(note) = Note::parse(&format!("{BODY}\n{lines}")) {
                for s in &note.signatures {
                    let _ = verify_cosignature(BODY, s, &v.witness_key);
                }
                let _ = cosigners(&note, std::slice::from_ref(&v.witness_key), Some(u64::MAX));
            }
        }
        PeerReply::LogData(bytes) => {
            if let Ok(entries) = tiles::parse_bundle("fuzz", bytes) {
                for e in &entries {
                    let _ = LogEntry::check(e);
                }
            }
            let _ = Note::parse_bytes(bytes);
        }
        PeerReply::Inclusion { checkpoint, proof } => {
            if let Ok((cp, _)) = open_checkpoint(checkpoint, &v.log_key) {
                let leaf = protocol_spec::tlog::leaf_hash(b"\x00");
                let _ = verify_inclusion(&leaf, 0, cp.size, proof, &cp.root);
            }
        }
        PeerReply::Inclusions { checkpoint, proofs } => {
            if let Ok((cp, _)) = open_checkpoint(checkpoint, &v.log_key) {
                let leaf = protocol_spec::tlog::leaf_hash(b"\x00");
                for (i, path) in proofs.iter().enumerate() {
                    let _ = verify_inclusion(&leaf, i as u64, cp.size, &path.0, &cp.root);
                }
            }
        }
        PeerReply::Refusal(_)
        | PeerReply::Accepted
        | PeerReply::Rejected { .. }
        | PeerReply::WitnessRefused { .. }
        | PeerReply::RosterWanted => {}
    }
});
