//! Key rotation on real nodes, with the commands an administrator and the steering group use
//! (README "Operations: key rotation"): ne.orp replaces all four keys; exchanges work before
//! and after, summaries received before still open, a staff credential issued before keeps
//! working (and learns the new key), the log's audit verifies across the rotation, and a
//! member that witnesses the others' logs is removed in one command.

use protocol_spec::category::Category::*;
use protocol_spec::ids::SummaryId;
use protocol_spec::staff::{NodeStatus, StaffReply, StaffRequest, SummaryOutcome};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

async fn status(s: &Setup, id: &str) -> NodeStatus {
    match call(&s.node(id).admin, StaffRequest::Status).await.unwrap() {
        StaffReply::Status(st) => st,
        other => panic!("{other:?}"),
    }
}

/// A summary `from` discloses to `to`, received and opened at `to`.
async fn exchange(s: &Setup, to: &str, from: &str, case: protocol_spec::ids::CaseId) -> SummaryId {
    let category = if to == "ne.orp" { Measures } else { Employment };
    let o = s.request(to, from, ASSESS, &[category], case).await;
    let SummaryOutcome::Received(info) = o else {
        panic!("{to} from {from}: {o:?}")
    };
    open(s, to, info.summary_id).await;
    info.summary_id
}

async fn open(s: &Setup, at: &str, summary_id: SummaryId) {
    let r = call(&s.node(at).worker, StaffRequest::SummaryOpen { summary_id })
        .await
        .unwrap_or_else(|e| panic!("{at} opens {summary_id:?}: {e:#}"));
    assert!(matches!(r, StaffReply::Opened { .. }), "{r:?}");
}

/// The steering group's next roster version, made by `edit` and signed by two authorities.
fn next_roster(
    s: &Setup,
    edit: impl FnOnce(&mut protocol_spec::roster::Roster) -> anyhow::Result<()>,
) -> protocol_spec::roster::SignedRoster {
    let roster = s.fed.roster.clone();
    cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        edit(r)
    })
    .unwrap();
    for key in [&s.fed.authority_keys[0], &s.fed.authority_keys[2]] {
        cli::federation::sign(&roster, key).unwrap();
    }
    cli::federation::load_roster(&roster).unwrap()
}

async fn export(s: &Setup, id: &str, out: &Path) -> cli::audit::Exported {
    let opts = cli::audit::ExportOptions {
        wait: std::time::Duration::from_secs(60),
        allow_uncosigned: false,
    };
    cli::audit::export(&s.node(id).auditor, out, &opts)
        .await
        .unwrap_or_else(|e| panic!("export of {id}: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_rotates_all_four_keys_without_breaking_credentials_exchanges_or_audits() {
    let mut s = Setup::new().await;
    let case = s.case("ne.oai", shared_person(), &["ne.orp"]).await;
    s.consent(
        "ne.oai",
        case,
        &["ne.oai", "ne.orp"],
        &[ASSESS],
        &[Employment, Measures],
        (now() - DAY, now() + 30 * DAY),
    )
    .await;
    // Exchanges both ways before: ne.orp keeps a summary sealed to its current encryption key.
    exchange(&s, "ne.oai", "ne.orp", case).await;
    let received_before = exchange(&s, "ne.orp", "ne.oai", case).await;
    // A case worker's credential file, issued before the rotation.
    let cred_path = s.dir.path().join("worker.cred");
    s.node("ne.orp").worker.save(&cred_path).unwrap();
    let old_key = s.node("ne.orp").signing_key().unwrap().public();
    // The auditor's visit before: a bundle whose checkpoint the auditor keeps.
    let before = s.dir.path().join("audit-before");
    let e = export(&s, "ne.orp", &before).await;
    assert!(e.verified.report.ok(), "{:?}", e.verified.report.findings);

    // 1. The administrator prepares new keys; the node keeps running on its current ones.
    let config = s.node("ne.orp").config_path();
    let prepared = cli::rotation::prepare(&config, &[]).unwrap();
    assert_eq!(prepared.keys.len(), 4);
    for (_, f) in &prepared.keys {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let again = cli::rotation::prepare(&config, &[]).err().expect("pending");
    assert!(
        format!("{again:#}").contains("already pending"),
        "{again:#}"
    );
    exchange(&s, "ne.oai", "ne.orp", case).await;

    // 2. The steering group puts the member file in the next version, in one command.
    let entry = cli::federation::load_member(&prepared.member).unwrap();
    let v2 = next_roster(&s, |r| {
        let changed = cli::federation::rotate_member(r, &entry)?;
        assert_eq!(changed, ["signing", "encryption", "log", "witness"]);
        Ok(())
    });
    let orp = s.id("ne.orp");
    assert_eq!(
        v2.roster.case_event_keys(&orp),
        vec![entry.signing_key, old_key]
    );
    assert_eq!(
        v2.roster.log_keys(&orp).len(),
        2,
        "the old log key is history"
    );

    // Activation refuses a roster that does not list the pending keys.
    let wrong = cli::rotation::activate(
        &config,
        &s.fed.node("ne.oai").dir.join("roster.toml"),
        true,
        now(),
    )
    .err()
    .expect("the roster in force lists the old keys");
    assert!(format!("{wrong:#}").contains("new keys"), "{wrong:#}");

    // 3. One other member installs the roster; it passes it on. 4. ne.orp activates its new
    // keys with it and restarts.
    call(
        &s.node("ne.oai").admin,
        StaffRequest::InstallRoster(v2.clone()),
    )
    .await
    .unwrap();
    s.fed.node_mut("ne.orp").stop().await;
    let a = cli::rotation::activate(&config, &s.fed.roster, true, now()).unwrap();
    assert_eq!(a.retired.len(), 4);
    assert!(a.endorsed);
    for (_, aside) in &a.retired {
        assert!(aside.exists(), "the old key is kept: {}", aside.display());
    }
    s.fed.node_mut("ne.orp").start().await.unwrap();
    let new_key = s.node("ne.orp").signing_key().unwrap().public();
    assert_eq!(new_key, entry.signing_key);

    // The staff credential issued before works, and from then on pins the new key.
    let (client, cred) = cli::client::Client::connect_file(&cred_path).await.unwrap();
    let r = client.call(StaffRequest::WhoAmI).await.unwrap();
    client.close();
    assert!(matches!(r, StaffReply::Me(_)), "{r:?}");
    assert_eq!(cred.node_key, new_key);
    let reread = cli::credential::Credential::load(&cred_path).unwrap();
    assert_eq!(reread.node_key, new_key, "the file was updated");
    let mode = std::fs::metadata(&cred_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A credential pinned to a key the node's never endorsed is refused.
    let mut stranger = cli::credential::Credential::load(&cred_path).unwrap();
    stranger.node_key = protocol_spec::keys::SigningKey::from_seed([99; 32]).public();
    assert!(cli::client::Client::connect(&stranger).await.is_err());

    // Every member holds version 2; exchanges go on both ways, under the new keys.
    for id in ["ne.orp", "ne.oai", "ne.sas"] {
        let v = v2.roster.version;
        assert!(
            eventually(30, || async { status(&s, id).await.roster_version == v }).await,
            "{id} adopted version {v}"
        );
    }
    exchange(&s, "ne.oai", "ne.orp", case).await;
    exchange(&s, "ne.orp", "ne.oai", case).await;
    // The summary received before, sealed to the replaced encryption key, still opens.
    open(&s, "ne.orp", received_before).await;

    // The log goes on under the new log key, cosigned again; the auditor's bundle verifies,
    // and so does the checkpoint kept from before the rotation, through the key history.
    let after = s.dir.path().join("audit-after");
    let e = export(&s, "ne.orp", &after).await;
    assert!(e.verified.report.ok(), "{:?}", e.verified.report.findings);
    let kept = before.join("checkpoint");
    let v = cli::audit::verify(&after, Some(&kept), None, false).unwrap();
    assert!(v.report.ok(), "{:?}", v.report.findings);
    let old = cli::audit::verify(&before, None, None, false).unwrap();
    assert!(old.report.ok(), "{:?}", old.report.findings);
    // A checkpoint under a key the roster never listed still fails.
    let forged_note = {
        let cp = protocol_spec::tlog::Checkpoint::parse(
            &protocol_spec::tlog::note::Note::parse(&std::fs::read_to_string(&kept).unwrap())
                .unwrap()
                .text,
        )
        .unwrap();
        let stranger = protocol_spec::keys::SigningKey::from_seed([98; 32]);
        protocol_spec::tlog::sign_checkpoint(&cp, &cp.origin, &stranger)
    };
    let forged = s.dir.path().join("forged-checkpoint");
    std::fs::write(&forged, forged_note).unwrap();
    let v = cli::audit::verify(&after, Some(&forged), None, false).unwrap();
    assert!(
        v.report
            .findings
            .iter()
            .any(|f| f.location == "kept checkpoint"),
        "{:?}",
        v.report.findings
    );

    // ne.orp witnesses the others with its new witness key.
    let oai = s.dir.path().join("audit-oai");
    assert!(
        eventually(60, || async {
            let _ = std::fs::remove_dir_all(&oai);
            let e = export(&s, "ne.oai", &oai).await;
            e.verified
                .report
                .cosigned_by
                .iter()
                .any(|w| w.contains("ne.orp"))
        })
        .await,
        "ne.orp cosigns ne.oai's log again"
    );
    assert_eq!(status(&s, "ne.orp").await.log_halted, None);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_witnesses_others_is_removed_in_one_command() {
    let mut s = Setup::new().await;
    // ne.orp's log needs both other members' cosignatures.
    let roster = s.fed.roster.clone();
    let v2 = next_roster(&s, |r| {
        cli::federation::set_witnesses(
            r,
            &"ne.orp".parse()?,
            vec!["ne.oai".parse()?, "ne.sas".parse()?],
            2,
        )
    });
    call(&s.node("ne.orp").admin, StaffRequest::InstallRoster(v2))
        .await
        .unwrap();

    // Removing ne.sas would leave ne.orp's log below its quorum: refused, saying what to do.
    let refused = cli::federation::edit(&roster, now(), |r| {
        r.version += 1;
        cli::federation::remove_member(r, &"ne.sas".parse()?, &Default::default())
    })
    .expect_err("below quorum");
    let msg = format!("{refused:#}");
    assert!(
        msg.contains("ne.orp") && msg.contains("--lower-quorum") && msg.contains("quorum of 2"),
        "{msg}"
    );
    // Nothing was written: the draft is still the signed version 2.
    assert_eq!(
        cli::federation::load_roster(&roster)
            .unwrap()
            .signatures
            .len(),
        2
    );

    let v3 = next_roster(&s, |r| {
        cli::federation::remove_member(
            r,
            &"ne.sas".parse()?,
            &cli::federation::WitnessFallback {
                replacement: None,
                lower_quorum: true,
            },
        )
    });
    let sas = s.id("ne.sas");
    assert!(v3.roster.member(&sas).is_none());
    for m in &v3.roster.members {
        assert!(!m.witnesses.contains(&sas), "{}", m.id);
        assert_eq!(m.witness_quorum, 1, "{}", m.id);
    }
    assert_eq!(v3.roster.log_keys(&sas).len(), 1, "its log key is history");
    call(
        &s.node("ne.oai").admin,
        StaffRequest::InstallRoster(v3.clone()),
    )
    .await
    .unwrap();
    for id in ["ne.orp", "ne.oai"] {
        let v = v3.roster.version;
        assert!(
            eventually(30, || async { status(&s, id).await.roster_version == v }).await,
            "{id}"
        );
    }
    // ne.orp's log is cosigned by its one remaining witness and its audit verifies.
    s.fed.node_mut("ne.sas").stop().await;
    let out = s.dir.path().join("audit-orp");
    let e = export(&s, "ne.orp", &out).await;
    assert!(e.verified.report.ok(), "{:?}", e.verified.report.findings);
    assert_eq!(e.quorum, 1);
    s.stop().await;
}
