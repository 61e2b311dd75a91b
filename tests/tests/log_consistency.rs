//! End-to-end: every checkpoint of a peer's log that reaches a node is checked against the one
//! the node cosigned as that log's witness, and inconsistent ones are refused and kept as
//! evidence (transparency-log.md §7.3); a node whose store lost what its witnesses cosigned
//! halts its log rather than sign a new or shorter one (§7.4).

use protocol_spec::ids::Role;
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{
    InclusionProof, LeafProof, MAX_PROOFS, PeerMessage, PeerReply, ReceiptProofs,
};
use protocol_spec::staff::{StaffReply, StaffRequest};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::{Checkpoint, Hash, Tree, leaf_hash, sign_checkpoint};
use std::path::Path;
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

/// Stops `id`, does `f` to its data directory (the store), and starts it again.
async fn restart_with(s: &mut Setup, id: &str, f: impl FnOnce(&Path)) {
    s.fed.node_mut(id).stop().await;
    f(&s.node(id).dir.join("data"));
    s.fed.node_mut(id).start().await.unwrap();
}

async fn status(s: &Setup, id: &str) -> protocol_spec::staff::NodeStatus {
    match call(&s.node(id).admin, StaffRequest::Status).await.unwrap() {
        StaffReply::Status(st) => st,
        other => panic!("{other:?}"),
    }
}

fn held_size(s: &Setup, at: &str, log: &str) -> u64 {
    let sql = format!("SELECT size FROM witness_state WHERE origin = 'ne-cii.passerelle/{log}'");
    count(s, at, &sql) as u64
}

/// The log refuses to sign (staff), to serve (peers) and says why in the node status.
async fn assert_halted(s: &Setup, id: &str, expected: &[String]) {
    let e = call(&s.node(id).auditor, StaffRequest::LogCheckpoint)
        .await
        .expect_err("no checkpoint is signed");
    let msg = format!("{e:#}");
    assert!(msg.contains("log is halted"), "{msg}");
    for part in expected {
        assert!(msg.contains(part.as_str()), "{part:?} not in: {msg}");
    }
    let halted = status(s, id).await.log_halted.expect("the status says why");
    for part in expected {
        assert!(halted.contains(part.as_str()), "{part:?} not in: {halted}");
    }
    let key = s.node("ne.sas").signing_key().unwrap();
    let conn = s.raw_peer(&key, id).await.unwrap();
    for msg in [
        PeerMessage::LogTile("checkpoint".into()),
        PeerMessage::LogTile("tile/0/000.p/1".into()),
        PeerMessage::ProveInclusion { index: 0 },
    ] {
        let r: PeerReply = daemon::transport::request(&conn, &msg).await.unwrap();
        assert!(
            matches!(&r, PeerReply::Rejected { reason } if reason.contains("halted")),
            "{msg:?}: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_store_was_lost_halts_its_log_until_it_is_given_a_new_log_key() {
    let mut s = Setup::new().await;
    let cosigned = checkpoint(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint).await;
    assert!(cosigned.size > 0);
    assert_eq!(held_size(&s, "ne.oai", "ne.orp"), cosigned.size);

    // The store is lost: the node starts on an empty one, which knows only the bootstrap
    // administrator. Registering the auditor again is the new log's first entry.
    restart_with(&mut s, "ne.orp", |data| {
        std::fs::remove_dir_all(data).unwrap()
    })
    .await;
    let auditor = &s.node("ne.orp").auditor;
    call(
        &s.node("ne.orp").admin,
        StaffRequest::StaffIssue {
            staff: auditor.staff.clone(),
            role: Role::Auditor,
            key: auditor.key.public(),
        },
    )
    .await
    .unwrap();
    let expected = [
        format!("cosigned at {} entries", cosigned.size),
        "lost".to_string(),
    ];
    assert_halted(&s, "ne.orp", &expected).await;
    let halted = status(&s, "ne.orp").await.log_halted.unwrap();
    assert!(
        halted.contains("witness ne.oai") || halted.contains("witness ne.sas"),
        "names the witness: {halted}"
    );

    // No checkpoint of the new log was signed: the witnesses still hold the old one, and
    // have no fork to keep as evidence.
    for w in ["ne.oai", "ne.sas"] {
        assert_eq!(held_size(&s, w, "ne.orp"), cosigned.size);
        assert_eq!(status(&s, w).await.witness_evidence, 0);
    }

    // Restarted as it is, the node still reports the problem and signs nothing.
    restart_with(&mut s, "ne.orp", |_| {}).await;
    assert!(status(&s, "ne.orp").await.log_halted.is_some());
    assert_halted(&s, "ne.orp", &expected).await;

    // No copy holds the lost entries. The steering group gives ne.orp a new log key in a new
    // roster; its witnesses follow the new log from the empty tree.
    let new_key = SigningKey::from_seed(daemon::clock::random());
    let roster = s.fed.roster.clone();
    let v2 = cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        let m = r
            .members
            .iter_mut()
            .find(|m| m.id.as_str() == "ne.orp")
            .unwrap();
        m.log_key = new_key.public();
        Ok(())
    })
    .unwrap();
    for key in [&s.fed.authority_keys[0], &s.fed.authority_keys[2]] {
        cli::federation::sign(&roster, key).unwrap();
    }
    let v2 = cli::federation::load_roster(&roster)
        .map(|r| (v2.roster.version, r))
        .unwrap();
    for w in ["ne.oai", "ne.sas"] {
        // The first install passes the roster on: the second may find it adopted already.
        let _ = call(&s.node(w).admin, StaffRequest::InstallRoster(v2.1.clone())).await;
        assert_eq!(status(&s, w).await.roster_version, v2.0);
    }
    let dir = s.node("ne.orp").dir.clone();
    restart_with(&mut s, "ne.orp", |_| {
        cli::files::write_private(&dir.join("keys/log.key"), new_key.to_file().as_bytes()).unwrap();
        std::fs::copy(&roster, dir.join("roster.toml")).unwrap();
    })
    .await;
    let restarted = checkpoint(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint).await;
    assert_eq!(status(&s, "ne.orp").await.log_halted, None);
    for w in ["ne.oai", "ne.sas"] {
        assert_eq!(held_size(&s, w, "ne.orp"), restarted.size);
        assert_eq!(status(&s, w).await.witness_evidence, 0);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_older_copy_halts_until_the_newest_copy_is_back() {
    let mut s = Setup::new().await;
    let first = checkpoint(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint).await;
    let (backup, newest) = (s.dir.path().join("backup"), s.dir.path().join("newest"));
    restart_with(&mut s, "ne.orp", |data| copy_dir(data, &backup, &[])).await;
    grow(&s, "ne.orp", 2, 40).await;
    let second = checkpoint(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint).await;
    assert!(second.size > first.size);
    assert_eq!(held_size(&s, "ne.oai", "ne.orp"), second.size);

    // The older copy is restored: its log is a prefix of what the witnesses cosigned.
    restart_with(&mut s, "ne.orp", |data| {
        copy_dir(data, &newest, &[]);
        std::fs::remove_dir_all(data).unwrap();
        copy_dir(&backup, data, &[]);
    })
    .await;
    let expected = [
        format!("cosigned at {} entries", second.size),
        format!("more than the {} of this store's newest", first.size),
    ];
    assert_halted(&s, "ne.orp", &expected).await;

    // The newest copy turns up: once it is back, the witnesses confirm and the log goes on.
    restart_with(&mut s, "ne.orp", |data| {
        std::fs::remove_dir_all(data).unwrap();
        copy_dir(&newest, data, &[]);
    })
    .await;
    let again = checkpoint(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint).await;
    assert_eq!(again, second);
    assert_eq!(status(&s, "ne.orp").await.log_halted, None);
    s.stop().await;
}

/// Bilateral recording in batches (transparency-log.md §8): many leaves are proven under one
/// checkpoint, and a batch of receipt proofs is kept whole or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inclusion_proofs_travel_in_batches_kept_all_or_none() {
    let s = Setup::new().await;
    let origin = "ne-cii.passerelle/ne.oai";
    let key = log_key(&s, "ne.oai");
    grow(&s, "ne.oai", 3, 20).await;
    grow(&s, "ne.orp", 3, 21).await;
    let conn = s
        .raw_peer(&s.node("ne.oai").signing_key().unwrap(), "ne.orp")
        .await
        .unwrap();
    let ask = |m: PeerMessage| {
        let conn = conn.clone();
        async move {
            let r: PeerReply = daemon::transport::request(&conn, &m).await.unwrap();
            r
        }
    };

    // Two of ne.orp's leaves, proven under one checkpoint it signs.
    let r = ask(PeerMessage::ProveInclusions {
        indices: vec![0, 2],
    })
    .await;
    let PeerReply::Inclusions { checkpoint, proofs } = r else {
        panic!("inclusion proofs expected, got {r:?}")
    };
    let cp = Checkpoint::parse(&Note::parse(&checkpoint).unwrap().text).unwrap();
    let orp = tree_of(&s, "ne.orp");
    for (index, path) in [0u64, 2].into_iter().zip(&proofs) {
        protocol_spec::tlog::verify_inclusion(
            &orp.leaf(index).unwrap(),
            index,
            cp.size,
            &path.0,
            &cp.root,
        )
        .unwrap();
    }
    let r = ask(PeerMessage::ProveInclusions {
        indices: vec![0; MAX_PROOFS + 1],
    })
    .await;
    assert!(
        matches!(&r, PeerReply::Rejected { reason } if reason.contains("1 to 256 leaves")),
        "{r:?}"
    );

    // ne.oai's receipt proofs: one of two does not verify, so neither is kept.
    let oai = tree_of(&s, "ne.oai");
    let size = oai.size();
    let batch = |tamper: bool| {
        let proofs: Vec<InclusionProof> = [size - 2, size - 1]
            .into_iter()
            .map(|i| receipt_proof(origin, &key, &oai, size, i))
            .collect();
        let mut leaves: Vec<LeafProof> = proofs
            .iter()
            .map(|p| LeafProof {
                request_digest: p.request_digest,
                leaf_index: p.leaf_index,
                leaf_hash: p.leaf_hash,
                proof: p.proof.clone(),
            })
            .collect();
        if tamper {
            leaves[1].leaf_hash[0] ^= 1;
        }
        PeerMessage::ReceiptProofs(Box::new(ReceiptProofs {
            checkpoint: proofs[0].checkpoint.clone(),
            leaves,
        }))
    };
    let r = ask(batch(true)).await;
    assert!(
        matches!(&r, PeerReply::Rejected { reason } if reason.contains("proof 1")),
        "{r:?}"
    );
    let kept = |s: &Setup| {
        count(
            s,
            "ne.orp",
            "SELECT COUNT(*) FROM peer_inclusion WHERE peer = 'ne.oai'",
        )
    };
    assert_eq!(kept(&s), 0, "nothing of a refused batch is kept");
    assert_eq!(ask(batch(false)).await, PeerReply::Accepted);
    assert_eq!(kept(&s), 2, "both proofs of the batch are kept");
    s.stop().await;
}
