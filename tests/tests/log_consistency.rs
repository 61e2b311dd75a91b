//! End-to-end: every checkpoint of a peer's log that reaches a node is checked against the one
//! the node cosigned as that log's witness, and inconsistent ones are refused and kept as
//! evidence (transparency-log.md §7.3).

use protocol_spec::ids::Role;
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{InclusionProof, PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{Checkpoint, Hash, Tree, leaf_hash, sign_checkpoint};
use tests::*;

fn log_key(s: &Setup, id: &str) -> SigningKey {
    let text = std::fs::read_to_string(s.node(id).dir.join("keys/log.key")).unwrap();
    SigningKey::from_file(&text).unwrap()
}

fn db(s: &Setup, id: &str) -> rusqlite::Connection {
    node_core::store::open(&s.node(id).dir.join("data/node.db")).unwrap()
}

/// The node's log as its store holds it (WAL lets a test read while the node runs).
fn tree_of(s: &Setup, id: &str) -> Tree {
    let db = db(s, id);
    let mut st = db
        .prepare("SELECT leaf_hash FROM log_entries ORDER BY idx")
        .unwrap();
    let leaves: Vec<Hash> = st
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|l| l.unwrap().try_into().unwrap())
        .collect();
    Tree::from_leaves(leaves)
}

fn count(s: &Setup, id: &str, sql: &str) -> i64 {
    db(s, id).query_row(sql, [], |r| r.get(0)).unwrap()
}

async fn checkpoint(cred: &cli::credential::Credential, req: StaffRequest) -> Checkpoint {
    let note = match call(cred, req).await.unwrap() {
        StaffReply::Checkpoint { note } => note,
        StaffReply::LogData(bytes) => String::from_utf8(bytes).unwrap(),
        other => panic!("{other:?}"),
    };
    Checkpoint::parse(&Note::parse(&note).unwrap().text).unwrap()
}

/// Entries appended to `id`'s log by its administrator (one `staff` entry each).
async fn grow(s: &Setup, id: &str, n: u8, seed: u8) {
    for i in 0..n {
        call(
            &s.node(id).admin,
            StaffRequest::StaffIssue {
                staff: format!("reader-{seed}-{i}").parse().unwrap(),
                role: Role::Auditor,
                key: SigningKey::from_seed([seed.wrapping_add(i); 32]).public(),
            },
        )
        .await
        .unwrap();
    }
}

/// A `ReceiptProof` of leaf `index` of `tree`, under a checkpoint of `size` that `key` signs.
fn receipt_proof(
    origin: &str,
    key: &SigningKey,
    tree: &Tree,
    size: u64,
    index: u64,
) -> InclusionProof {
    let cp = Checkpoint {
        origin: origin.into(),
        size,
        root: tree.root_at(size).unwrap(),
    };
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&index.to_be_bytes());
    digest[8] = tree.root_at(size).unwrap()[0];
    InclusionProof {
        request_digest: digest,
        leaf_index: index,
        leaf_hash: tree.leaf(index).unwrap(),
        checkpoint: sign_checkpoint(&cp, origin, key),
        proof: tree.inclusion_proof(index, size).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_proof_checkpoint_inconsistent_with_the_cosigned_one_is_refused_and_kept() {
    let s = Setup::new().await;
    let origin = "ne-cii.passerelle/ne.oai";
    let key = log_key(&s, "ne.oai");
    // ne.orp witnesses ne.oai's log: it cosigns ne.oai's checkpoint.
    let cosigned = checkpoint(&s.node("ne.oai").auditor, StaffRequest::LogCheckpoint).await;
    let held: i64 = count(
        &s,
        "ne.orp",
        "SELECT size FROM witness_state WHERE origin = 'ne-cii.passerelle/ne.oai'",
    );
    assert_eq!(held as u64, cosigned.size);
    let conn = s
        .raw_peer(&s.node("ne.oai").signing_key().unwrap(), "ne.orp")
        .await
        .unwrap();
    let send = |p: InclusionProof| {
        let conn = conn.clone();
        async move {
            let r: PeerReply = daemon::transport::request(&conn, &PeerMessage::ReceiptProof(p))
                .await
                .unwrap();
            r
        }
    };

    // The log grew honestly: its newer checkpoint, proven consistent from its own tiles, is kept.
    grow(&s, "ne.oai", 3, 10).await;
    let newer = checkpoint(
        &s.node("ne.oai").auditor,
        StaffRequest::LogTile {
            path: "checkpoint".into(),
        },
    )
    .await;
    assert!(newer.size > cosigned.size);
    let real = tree_of(&s, "ne.oai");
    let r = send(receipt_proof(
        origin,
        &key,
        &real,
        newer.size,
        newer.size - 1,
    ))
    .await;
    assert_eq!(r, PeerReply::Accepted);

    // Another history of the size ne.orp cosigned, validly signed by ne.oai's log key.
    let other = Tree::from_leaves((0..newer.size as u32).map(|i| leaf_hash(&i.to_be_bytes())));
    let r = send(receipt_proof(origin, &key, &other, cosigned.size, 0)).await;
    let PeerReply::Rejected { reason } = r else {
        panic!("a forked checkpoint accepted: {r:?}")
    };
    assert!(
        reason.contains("cosigned") && reason.contains("evidence"),
        "{reason}"
    );
    // And a larger checkpoint of that other history: no consistency proof from the cosigned
    // checkpoint exists, whatever tiles the log serves.
    let r = send(receipt_proof(origin, &key, &other, newer.size, 1)).await;
    assert!(
        matches!(&r, PeerReply::Rejected { reason } if reason.contains("evidence")),
        "{r:?}"
    );

    let StaffReply::Status(st) = call(&s.node("ne.orp").admin, StaffRequest::Status)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(st.witness_evidence, 2);
    let StaffReply::Evidence(ev) = call(&s.node("ne.orp").auditor, StaffRequest::WitnessEvidence)
        .await
        .unwrap()
    else {
        panic!()
    };
    for e in &ev {
        assert_eq!(e.origin, origin);
        let kept = Checkpoint::parse(&Note::parse(&e.cosigned).unwrap().text).unwrap();
        let offered = Checkpoint::parse(&Note::parse(&e.offered).unwrap().text).unwrap();
        assert_eq!(
            kept.root,
            real.root_at(kept.size).unwrap(),
            "the cosigned one is kept"
        );
        assert_eq!(offered.root, other.root_at(offered.size).unwrap());
    }
    let kinds = log_kinds(s.node("ne.orp"));
    assert_eq!(
        kinds.iter().filter(|k| *k == "witness-evidence").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        count(&s, "ne.orp", "SELECT COUNT(*) FROM peer_inclusion"),
        1,
        "only the consistent proof is kept"
    );
    s.stop().await;
}
