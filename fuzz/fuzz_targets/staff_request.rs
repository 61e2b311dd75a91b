#![no_main]
//! Frame bodies a staff member's CLI sends to its own node (`StaffRequest`), then the checks
//! the node runs first: the role a request needs, imported records validated, a roster to
//! install verified, a tile path parsed.

use fuzz::check::{frame_round_trip, postcard_round_trip, reason_echoes_nothing};
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::staff::StaffRequest;
use protocol_spec::tlog::tiles;
use protocol_spec::wire::decode_body;

fuzz_target!(|body: &[u8]| {
    let Ok(request) = decode_body::<StaffRequest>(body) else {
        return;
    };
    postcard_round_trip(&request);
    frame_round_trip(&request);
    let _ = request.required_role();
    let v = vectors();
    match &request {
        StaffRequest::ImportRecords(set) => {
            if let Err(e) = set.validate() {
                for p in &e.problems {
                    reason_echoes_nothing(&p.reason);
                }
            }
        }
        StaffRequest::InstallRoster(roster) => {
            let _ = roster.verify_successor(&v.roster.roster);
        }
        StaffRequest::LogTile { path } => {
            if let Some(tile) = tiles::parse_path(path) {
                assert_eq!(&tile.path(), path);
            }
        }
        _ => {}
    }
});
