#![no_main]
//! Frame bodies the CLI reads from its node (`StaffReply`): decoded, re-encoded, and the
//! notes, rosters and log data they carry read as the CLI reads them.

use fuzz::check::{frame_round_trip, postcard_round_trip};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::staff::StaffReply;
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{Checkpoint, tiles};
use protocol_spec::wire::decode_body;

fuzz_target!(|body: &[u8]| {
    let Ok(reply) = decode_body::<StaffReply>(body) else {
        return;
    };
    postcard_round_trip(&reply);
    frame_round_trip(&reply);
    match &reply {
        StaffReply::Checkpoint { note } => {
            if let Ok(n) = Note::parse(note) {
                let _ = Checkpoint::parse(&n.text);
            }
        }
        StaffReply::Roster(roster) => {
            let _ = roster.verify(&vectors().roster.roster.authorities);
        }
        StaffReply::LogData(bytes) => {
            let _ = tiles::parse_bundle("fuzz", bytes);
        }
        StaffReply::Evidence(list) => {
            for e in list {
                let _ = Note::parse(&e.cosigned);
                let _ = Note::parse(&e.offered);
            }
        }
        _ => {}
    }
});
