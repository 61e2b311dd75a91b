#![no_main]
//! A signed roster in its binary form (postcard), as peers and the store hand it over: the
//! structural checks, verification under the vector authorities and as the successor of the
//! vector roster, and the policy lookups a node then makes.

use fuzz::check::postcard_round_trip;
use fuzz::vectors::vectors;
use libfuzzer_sys::fuzz_target;
use protocol_spec::roster::SignedRoster;

fuzz_target!(|bytes: &[u8]| {
    let Ok(signed) = postcard::from_bytes::<SignedRoster>(bytes) else {
        return;
    };
    postcard_round_trip(&signed);
    let current = &vectors().roster.roster;
    let well_formed = signed.roster.check_well_formed();
    let verified = signed.verify(&current.authorities);
    // Verification includes the structural checks.
    if well_formed.is_err() {
        assert_eq!(verified, well_formed);
    }
    let _ = signed.verify_successor(current);
    let _ = signed.digest();
    let r = &signed.roster;
    for m in &r.members {
        assert_eq!(r.member(&m.id).map(|x| &x.id), Some(&m.id));
        let _ = r.member_by_key(&m.signing_key);
    }
    for p in &r.policy {
        assert!(r.policy_allows(&p.sector, &p.purpose, &p.categories));
    }
});
