//! End-to-end audit: bundles exported from real nodes verify offline, reconcile, give a
//! person's access report, and every tampering the auditor must catch is reported.

use cli::audit::ExportOptions;
use protocol_spec::category::Category::*;
use protocol_spec::exchange::SummaryRequest;
use protocol_spec::ids::RequestId;
use protocol_spec::ids::Role;
use protocol_spec::keys::SigningKey;
use protocol_spec::peer::{PeerMessage, PeerReply};
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use protocol_spec::tlog::note::Note;
use protocol_spec::tlog::witness::AddCheckpoint;
use protocol_spec::tlog::{Checkpoint, sign_checkpoint, tiles};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

/// One granted exchange and one refusal between ne.oai and ne.orp, then cosigned checkpoints.
async fn audited() -> Setup {
    let s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment],
        (now() - DAY, now() + DAY),
    )
    .await;
    let o = s
        .request("ne.oai", "ne.orp", ASSESS, &[Employment], case)
        .await;
    let SummaryOutcome::Received(info) = o else {
        panic!("{o:?}")
    };
    call(
        &s.node("ne.oai").worker,
        StaffRequest::SummaryOpen {
            summary_id: info.summary_id,
        },
    )
    .await
    .unwrap();
    let o = s.request("ne.oai", "ne.orp", ASSESS, &[Health], case).await;
    assert!(matches!(o, SummaryOutcome::Refused { .. }));
    s
}

fn waiting(seconds: u64, allow_uncosigned: bool) -> ExportOptions {
    ExportOptions {
        wait: Duration::from_secs(seconds),
        allow_uncosigned,
    }
}

/// Exports right away: export itself waits for the witness quorum.
async fn export(s: &Setup, id: &str, name: &str) -> PathBuf {
    let out = s.dir.path().join(name);
    let e = cli::audit::export(&s.node(id).auditor, &out, &waiting(30, false))
        .await
        .unwrap();
    assert!(
        e.verified.report.ok(),
        "export verifies what it wrote: {:?}",
        e.verified.report.findings
    );
    out
}

/// Every directory of the bundle is 0700 and every file 0600.
fn assert_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            assert_private(&p);
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

fn verify(bundle: &Path, kept: Option<&Path>) -> Vec<String> {
    let v = cli::audit::verify(bundle, kept, None, false).unwrap();
    v.report
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.location, f.problem))
        .collect()
}

fn entries_file(bundle: &Path) -> PathBuf {
    let size: u64 = std::fs::read_to_string(bundle.join("checkpoint"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let (path, _) = tiles::entry_bundle_paths(size).last().unwrap();
    bundle.join(path)
}

fn rewrite_entries(bundle: &Path, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let file = entries_file(bundle);
    let mut entries = tiles::parse_bundle("x", &std::fs::read(&file).unwrap()).unwrap();
    f(&mut entries);
    std::fs::write(file, tiles::encode_bundle(&entries).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_logs_verify_reconcile_and_answer_a_person() {
    let s = audited().await;
    let orp = export(&s, "ne.orp", "orp").await;
    let oai = export(&s, "ne.oai", "oai").await;
    assert_eq!(verify(&orp, None), Vec::<String>::new());
    assert_eq!(verify(&oai, None), Vec::<String>::new());
    let v = cli::audit::verify(&orp, None, None, false).unwrap();
    assert!(
        !v.report.cosigned_by.is_empty(),
        "the checkpoint carries a witness cosignature"
    );

    // The bundle is plain C2SP: the checkpoint note names the log and its witnesses.
    let note = Note::parse(&std::fs::read_to_string(orp.join("checkpoint")).unwrap()).unwrap();
    assert!(note.signatures.len() >= 2);
    assert!(
        std::fs::read_to_string(orp.join("log.vkey"))
            .unwrap()
            .starts_with("ne-cii.passerelle/ne.orp+")
    );

    assert!(
        cli::audit::reconcile(&orp, &oai, None, true).unwrap(),
        "disclosure and receipt match"
    );

    // Tile indexes near 2^56 would start at entry 0 if multiplied modulo 2^64: the node
    // refuses them rather than serving bundle 0 under another name.
    let tile = |path: String| call(&s.node("ne.orp").auditor, StaffRequest::LogTile { path });
    assert!(matches!(
        tile(tiles::entries_path(0, 1)).await,
        Ok(StaffReply::LogData(_))
    ));
    for (index, width) in [(1 << 56, 1), ((1 << 56) - 1, 256), (u64::MAX, 1)] {
        let r = tile(tiles::entries_path(index, width)).await;
        assert!(r.is_err(), "bundle {index}.p/{width} served: {r:?}");
    }
    let r = tile(tiles::tile_path(0, 1 << 56, 1)).await;
    assert!(r.is_err(), "{r:?}");

    // Each side holds the other's verified inclusion proof for the exchange.
    for id in ["ne.orp", "ne.oai"] {
        let db = node_core::store::open(&s.node(id).dir.join("data/node.db")).unwrap();
        let mut n: i64 = 0;
        for _ in 0..50 {
            n = db
                .query_row("SELECT COUNT(*) FROM peer_inclusion", [], |r| r.get(0))
                .unwrap();
            if n > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(n, 1, "{id} keeps the peer's inclusion proof");
    }

    let views = cli::audit::verified_views(&[orp.clone(), oai.clone()], None).unwrap();
    let report = protocol_spec::audit::person_report(&shared_person(), &views);
    let kinds: Vec<(&str, &str)> = report
        .iter()
        .map(|a| (a.logged_by.as_str(), a.kind.as_str()))
        .collect();
    assert!(kinds.contains(&("ne.orp", "disclosure")), "{kinds:?}");
    assert!(kinds.contains(&("ne.oai", "receipt")));
    assert!(kinds.contains(&("ne.oai", "summary-opened")));
    assert!(kinds.contains(&("ne.orp", "refusal")));
    let disclosure = report.iter().find(|a| a.kind == "disclosure").unwrap();
    assert_eq!(disclosure.peer.as_deref(), Some("ne.oai"));
    assert_eq!(disclosure.categories.as_deref(), Some("employment"));
    assert!(protocol_spec::audit::person_report(&sas_only_person(), &views).is_empty());
    // No social insurance number in any entry.
    for v in &views {
        for e in &v.entries {
            let text = String::from_utf8(e.to_bytes()).unwrap();
            assert!(
                !text.contains(&shared_person().digits()),
                "entry leaks a number: {text}"
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_waits_for_the_witness_quorum_and_writes_a_private_bundle() {
    let mut s = audited().await;
    // Right after the exchanges, with no checkpoint asked for beforehand: the newest one is
    // not cosigned yet, and export waits for the witnesses rather than write it as is.
    let out = s.dir.path().join("orp");
    let e = cli::audit::export(&s.node("ne.orp").auditor, &out, &waiting(30, false))
        .await
        .unwrap();
    assert_eq!(e.verified.report.findings, []);
    assert!(e.verified.report.cosigned_by.len() >= e.quorum && e.quorum >= 1);
    assert_eq!(verify(&out, None), Vec::<String>::new());
    assert_private(&out);

    // Both witnesses of ne.orp down, and its log grows: no quorum can come.
    for id in ["ne.oai", "ne.sas"] {
        let id = s.id(id);
        let node = s.fed.nodes.iter_mut().find(|n| n.id == id).unwrap();
        node.stop().await;
    }
    call(
        &s.node("ne.orp").admin,
        StaffRequest::StaffIssue {
            staff: "auditor-2".parse().unwrap(),
            role: Role::Auditor,
            key: SigningKey::from_seed([5; 32]).public(),
        },
    )
    .await
    .unwrap();
    let late = s.dir.path().join("late");
    let err = cli::audit::export(&s.node("ne.orp").auditor, &late, &waiting(1, false))
        .await
        .err()
        .expect("no bundle without the quorum");
    let msg = format!("{err:#}");
    for part in [
        "is not yet cosigned: 0 of the 1 witness cosignature(s)",
        "Nothing was written",
        "--wait",
        "ne-cii.passerelle/ne.oai/witness",
    ] {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    assert!(!late.exists(), "nothing written");
    // Asked to, export writes it, and its own verify says what is missing.
    let e = cli::audit::export(&s.node("ne.orp").auditor, &late, &waiting(0, true))
        .await
        .unwrap();
    let f: Vec<String> = e
        .verified
        .report
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.location, f.problem))
        .collect();
    assert_eq!(
        f,
        ["checkpoint: 0 valid cosignature(s), below the witness quorum of 1"]
    );
    assert_private(&late);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_bundles_are_caught_with_a_precise_report() {
    let s = audited().await;
    let good = export(&s, "ne.orp", "orp").await;
    let dir = s.dir.path();

    // One entry altered (same length, one byte).
    let altered = dir.join("altered");
    copy_dir(&good, &altered, &[]);
    rewrite_entries(&altered, |e| {
        let last = e.len() - 2;
        let pos = e[last].iter().position(|b| *b == b'\n').unwrap() - 1;
        e[last][pos] ^= 1;
    });
    let f = verify(&altered, None);
    assert!(
        f.iter().any(|x| x.contains("does not match its leaf hash")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|x| x.contains("do not produce the signed root")),
        "{f:?}"
    );

    // Truncated: the last entry removed.
    let truncated = dir.join("truncated");
    copy_dir(&good, &truncated, &[]);
    rewrite_entries(&truncated, |e| {
        e.pop();
    });
    let f = verify(&truncated, None);
    assert!(f.iter().any(|x| x.contains("truncated")), "{f:?}");

    // Two entries swapped.
    let swapped = dir.join("swapped");
    copy_dir(&good, &swapped, &[]);
    rewrite_entries(&swapped, |e| e.swap(1, 2));
    let f = verify(&swapped, None);
    let mismatched: Vec<&String> = f
        .iter()
        .filter(|x| x.contains("does not match its leaf hash"))
        .collect();
    assert_eq!(
        mismatched.len(),
        2,
        "both swapped positions are named: {f:?}"
    );

    // A fork: the log key signs a second checkpoint of the same size with another root.
    let log_key = SigningKey::from_file(
        &std::fs::read_to_string(s.node("ne.orp").dir.join("keys/log.key")).unwrap(),
    )
    .unwrap();
    let note = Note::parse(&std::fs::read_to_string(good.join("checkpoint")).unwrap()).unwrap();
    let cp = Checkpoint::parse(&note.text).unwrap();
    let forked = Checkpoint {
        root: [0x42; 32],
        ..cp.clone()
    };
    let fork = dir.join("fork");
    copy_dir(&good, &fork, &[]);
    std::fs::write(
        fork.join("checkpoint"),
        sign_checkpoint(&forked, &cp.origin, &log_key),
    )
    .unwrap();
    let f = verify(&fork, Some(&good.join("checkpoint")));
    assert!(f.iter().any(|x| x.contains("fork")), "{f:?}");

    // A checkpoint claiming 2^62 entries: signed by the log key, it is checked against the
    // tiles that exist; signed by anyone else, nothing past its signature is looked at.
    // Neither makes the verifier allocate for the claimed size.
    let huge = Checkpoint {
        size: 1 << 62,
        ..cp.clone()
    };
    let claim = dir.join("huge");
    copy_dir(&good, &claim, &[]);
    std::fs::write(
        claim.join("checkpoint"),
        sign_checkpoint(&huge, &cp.origin, &log_key),
    )
    .unwrap();
    let f = verify(&claim, None);
    assert!(
        f.iter().any(|x| x.contains("log truncated")
            && x.contains("for a checkpoint of 4611686018427387904")),
        "{f:?}"
    );
    std::fs::write(
        claim.join("checkpoint"),
        sign_checkpoint(&huge, &cp.origin, &SigningKey::from_seed([9; 32])),
    )
    .unwrap();
    let f = verify(&claim, None);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("checkpoint: log signature"), "{f:?}");

    // An entry bundle beyond the checkpoint: entries the signed checkpoint does not cover.
    let extra = dir.join("extra");
    copy_dir(&good, &extra, &[]);
    let next = tiles::entries_path(cp.size.div_ceil(256) + 1, 1);
    std::fs::create_dir_all(extra.join(&next).parent().unwrap()).unwrap();
    std::fs::write(extra.join(&next), [0, 0]).unwrap();
    assert_eq!(
        verify(&extra, None),
        [format!(
            "{next}: entry bundle beyond the checkpoint's {} entries: the bundle holds entries \
             the signed checkpoint does not cover",
            cp.size
        )]
    );

    // A receipt dropped: a disclosure ne.orp made that ne.oai's log never recorded (the
    // request came from ne.oai's key but not through its node).
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    // Peers get the checkpoint and hash tiles, never entries (salted commitments of a small
    // number space would be open to brute force).
    let r: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::LogTile("checkpoint".into()))
            .await
            .unwrap();
    assert!(matches!(r, PeerReply::LogData(_)), "{r:?}");
    let r: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::LogTile("tile/entries/000.p/1".into()))
            .await
            .unwrap();
    assert!(
        matches!(&r, PeerReply::Rejected { reason } if reason.contains("auditors only")),
        "{r:?}"
    );
    let case = match call(&s.node("ne.orp").worker, StaffRequest::CaseList)
        .await
        .unwrap()
    {
        StaffReply::Cases(c) => c[0].case_id,
        other => panic!("{other:?}"),
    };
    let req = SummaryRequest {
        request_id: RequestId(daemon::clock::random()),
        requester: s.id("ne.oai"),
        responder: s.id("ne.orp"),
        case_id: case,
        purpose: ASSESS.parse().unwrap(),
        categories: vec![Employment],
        issued_at: now(),
    }
    .sign(&key);
    let r: PeerReply = daemon::transport::request(&conn, &PeerMessage::Summary(req))
        .await
        .unwrap();
    assert!(matches!(r, PeerReply::Disclosure { .. }));
    let orp2 = export(&s, "ne.orp", "orp2").await;
    let oai2 = export(&s, "ne.oai", "oai2").await;
    let views = cli::audit::verified_views(&[orp2.clone(), oai2], None).unwrap();
    let diffs = protocol_spec::audit::reconcile(&views[0], &views[1]);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].institution, "ne.orp");
    assert!(diffs[0].what.contains("without a receipt"));

    // The newer bundle is consistent with the checkpoint kept from the first export.
    assert_eq!(
        verify(&orp2, Some(&good.join("checkpoint"))),
        Vec::<String>::new()
    );
    // And the first bundle, judged against the newer kept checkpoint, is a roll-back.
    let f = verify(&good, Some(&orp2.join("checkpoint")));
    assert!(f.iter().any(|x| x.contains("rolled back")), "{f:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_refuses_an_inconsistent_checkpoint_and_keeps_evidence() {
    let s = audited().await;
    // ne.oai witnesses ne.orp's log: get a cosigned checkpoint first.
    call(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint)
        .await
        .unwrap();
    let StaffReply::Checkpoint { note } =
        call(&s.node("ne.orp").auditor, StaffRequest::LogCheckpoint)
            .await
            .unwrap()
    else {
        panic!()
    };
    let cp = Checkpoint::parse(&Note::parse(&note).unwrap().text).unwrap();

    // A forked checkpoint of the same size, validly signed by ne.orp's log key.
    let log_key = SigningKey::from_file(
        &std::fs::read_to_string(s.node("ne.orp").dir.join("keys/log.key")).unwrap(),
    )
    .unwrap();
    let forked = sign_checkpoint(
        &Checkpoint {
            root: [7; 32],
            ..cp.clone()
        },
        &cp.origin,
        &log_key,
    );
    let req = AddCheckpoint {
        old_size: cp.size,
        proof: vec![],
        checkpoint: forked,
    };
    let orp_key = s.node("ne.orp").signing_key().unwrap();
    let conn = s.raw_peer(&orp_key, "ne.oai").await.unwrap();
    let r: PeerReply =
        daemon::transport::request(&conn, &PeerMessage::AddCheckpoint(req.to_text()))
            .await
            .unwrap();
    let PeerReply::WitnessRefused { status, reason, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(status, 422, "{reason}");
    let StaffReply::Status(st) = call(&s.node("ne.oai").admin, StaffRequest::Status)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        st.witness_evidence, 1,
        "the two signed checkpoints are kept and reported"
    );
    let StaffReply::Evidence(ev) = call(&s.node("ne.oai").auditor, StaffRequest::WitnessEvidence)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].origin, cp.origin);
    assert_eq!(
        Checkpoint::parse(&Note::parse(&ev[0].offered).unwrap().text)
            .unwrap()
            .root,
        [7; 32]
    );
    assert_eq!(
        Checkpoint::parse(&Note::parse(&ev[0].cosigned).unwrap().text)
            .unwrap()
            .root,
        cp.root
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_garbage_log_request_gets_a_refusal_that_fits_a_frame() {
    use protocol_spec::wire::MAX_FRAME_LEN;
    let s = Setup::new().await;
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    // The largest path a frame can carry: a refusal quoting all of it would not fit in one.
    let path = format!("tile/{}", "9".repeat(MAX_FRAME_LEN - 6 - 5));
    let r: PeerReply = daemon::transport::request(&conn, &PeerMessage::LogTile(path.clone()))
        .await
        .expect("a refusal arrives");
    let PeerReply::Rejected { reason } = r else {
        panic!("{r:?}")
    };
    assert!(reason.contains("not a tlog-tiles path"), "{reason}");
    assert!(reason.len() <= 1024, "{} bytes", reason.len());

    // A frame of the largest size holding no message at all.
    let mut garbage = vec![0xff; 4 + MAX_FRAME_LEN];
    garbage[..4].copy_from_slice(&(MAX_FRAME_LEN as u32).to_be_bytes());
    garbage[4..6].copy_from_slice(&protocol_spec::wire::PROTOCOL_VERSION.to_be_bytes());
    let bytes = daemon::transport::request_raw(&conn, &garbage)
        .await
        .expect("a refusal arrives");
    let r: PeerReply = protocol_spec::wire::decode_body(&bytes).unwrap();
    assert!(matches!(r, PeerReply::Rejected { .. }), "{r:?}");

    // The same path from the node's own auditor.
    let e = call(&s.node("ne.orp").auditor, StaffRequest::LogTile { path })
        .await
        .expect_err("refused");
    let msg = format!("{e:#}");
    assert!(msg.contains("not a tlog-tiles path"), "{msg}");
    assert!(msg.len() <= 1024 + 100, "{} bytes", msg.len());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_proof_for_a_leaf_beyond_what_a_store_can_index_is_refused() {
    let s = Setup::new().await;
    // ne.oai's log key signs a checkpoint claiming 2^63 + 1 entries, and a valid inclusion
    // proof of leaf 2^63 under it: stored as a signed 64-bit integer it would become negative.
    let log_key = SigningKey::from_file(
        &std::fs::read_to_string(s.node("ne.oai").dir.join("keys/log.key")).unwrap(),
    )
    .unwrap();
    let leaf = protocol_spec::tlog::leaf_hash(b"receipt");
    let left = [1u8; 32];
    let origin = "ne-cii.passerelle/ne.oai";
    let checkpoint = sign_checkpoint(
        &Checkpoint {
            origin: origin.into(),
            size: (1 << 63) + 1,
            root: protocol_spec::tlog::node_hash(&left, &leaf),
        },
        origin,
        &log_key,
    );
    let p = protocol_spec::peer::InclusionProof {
        request_digest: [3; 32],
        leaf_index: 1 << 63,
        leaf_hash: leaf,
        checkpoint,
        proof: vec![left],
    };
    let key = s.node("ne.oai").signing_key().unwrap();
    let conn = s.raw_peer(&key, "ne.orp").await.unwrap();
    let r: PeerReply = daemon::transport::request(&conn, &PeerMessage::ReceiptProof(p))
        .await
        .unwrap();
    assert!(
        matches!(&r, PeerReply::Rejected { reason } if reason.contains("beyond")),
        "{r:?}"
    );
    let db = node_core::store::open(&s.node("ne.orp").dir.join("data/node.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM peer_inclusion", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "nothing kept");
    s.stop().await;
}
