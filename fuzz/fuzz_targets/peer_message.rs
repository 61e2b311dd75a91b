#![no_main]
//! Frame bodies a peer sends (`PeerMessage`), then what the node does first with each: the
//! request's signature and digest, a case history replayed and merged, a roster verified, a
//! witness request decided, a tile path parsed, a receipt proof checked.

use fuzz::check::{frame_round_trip, postcard_round_trip};
use fuzz::vectors::{key_of, public_of, vectors};
use libfuzzer_sys::fuzz_target;
use protocol_spec::case::{CoordinatedCase, SignedCaseEvent};
use protocol_spec::peer::PeerMessage;
use protocol_spec::tlog::note::VerifierKey;
use protocol_spec::tlog::witness::{AddCheckpoint, WitnessState, decide};
use protocol_spec::tlog::{open_checkpoint, tiles, verify_inclusion};
use protocol_spec::wire::decode_body;

/// Replays a history under the roster's keys, as received, then re-signed by per-author
/// keys so the case rules behind the signatures are reached.
fn case_history(events: &[SignedCaseEvent]) {
    let roster = &vectors().roster.roster;
    let _ = CoordinatedCase::replay(events, |id| roster.case_event_keys(id));
    let resigned: Vec<SignedCaseEvent> = events
        .iter()
        .map(|e| e.event.clone().sign(&key_of(e.event.author.as_str())))
        .collect();
    let key = |id: &protocol_spec::ids::InstitutionId| vec![public_of(id.as_str())];
    if let Ok(mut case) = CoordinatedCase::replay(&resigned, key) {
        // What a node stored it restores as it was, and merging it again adds nothing.
        let restored = CoordinatedCase::restore(case.history.clone()).expect("restores");
        assert_eq!(restored, case);
        let history = case.history.clone();
        assert_eq!(case.merge(&history, key), Ok(0));
        assert_eq!(case.merge(&resigned, key), Ok(0));
    }
}

fuzz_target!(|body: &[u8]| {
    let Ok(message) = decode_body::<PeerMessage>(body) else {
        return;
    };
    postcard_round_trip(&message);
    frame_round_trip(&message);
    let v = vectors();
    match &message {
        PeerMessage::Summary(request) => {
            let _ = request.request.is_well_formed();
            let _ = request.digest();
            if let Some(m) = v.roster.roster.member(&request.request.requester) {
                let _ = request.verify(&m.signing_key);
            }
        }
        PeerMessage::CaseHistory { events, .. } => case_history(events),
        PeerMessage::Roster(roster) => {
            let _ = roster.verify(&v.roster.roster.authorities);
            let _ = roster.verify_successor(&v.roster.roster);
            let _ = roster.digest();
        }
        PeerMessage::AddCheckpoint(text) => {
            if let Ok(request) = AddCheckpoint::parse(text) {
                let _ = decide(WitnessState::default(), Some(&v.log_key), &request);
            }
        }
        PeerMessage::LogTile(path) => {
            if let Some(tile) = tiles::parse_path(path) {
                assert_eq!(&tile.path(), path);
            }
        }
        PeerMessage::ProveInclusion { .. }
        | PeerMessage::ProveInclusions { .. }
        | PeerMessage::ChangeNotice { .. }
        | PeerMessage::RosterVersion { .. } => {}
        PeerMessage::StatsReport(signed) => {
            let _ = signed.digest();
            // As the dashboard member would, with the report's own institution as the sender.
            let sender = &signed.report.institution;
            let _ = protocol_spec::stats::delivery::verify_delivery(
                &v.roster.roster,
                sender,
                sender,
                signed,
            );
        }
        PeerMessage::PsiStart(start) => {
            // The checks a participant makes before it takes part (statistics.md §10.3).
            if start.round.check().is_ok() {
                let _ = start.round.id();
                for p in &start.round.participants {
                    let _ = start.round.position(p);
                }
            }
            if let Some(m) = v.roster.roster.member(&start.round.dashboard) {
                let _ = start.verify(&m.signing_key);
            }
        }
        PeerMessage::PsiSet(set) => {
            // Every element decoded and checked as a receiver does (§10.5).
            let _ = set.digest();
            let _ = protocol_spec::stats::psi::check_set(&set.set.set, 2);
        }
        PeerMessage::PsiOutcome(outcome) => {
            let _ = outcome.outcome.signing_input();
        }
        PeerMessage::ReceiptProof(proof) => receipt_proof(proof, &v.log_key),
        PeerMessage::ReceiptProofs(proofs) => {
            for proof in (**proofs).clone().into_proofs() {
                receipt_proof(&proof, &v.log_key);
            }
        }
    }
});

fn receipt_proof(proof: &protocol_spec::peer::InclusionProof, log_key: &VerifierKey) {
    if let Ok((cp, _)) = open_checkpoint(&proof.checkpoint, log_key) {
        let _ = verify_inclusion(
            &proof.leaf_hash,
            proof.leaf_index,
            cp.size,
            &proof.proof,
            &cp.root,
        );
    }
}
