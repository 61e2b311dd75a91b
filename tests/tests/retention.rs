//! Retention on real nodes (spec §7.9): a purged summary can no longer be opened, its purge is
//! logged, and the audit of both logs still verifies and reconciles.

use cli::audit::ExportOptions;
use protocol_spec::category::Category::*;
use protocol_spec::staff::{StaffReply, StaffRequest, SummaryOutcome};
use std::time::Duration;
use tests::*;

const ASSESS: &str = "coordinated-assessment";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_summary_cannot_be_opened_and_the_audit_still_verifies() {
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
    let worker = &s.node("ne.oai").worker;
    let open = StaffRequest::SummaryOpen {
        summary_id: info.summary_id,
    };
    assert!(matches!(
        call(worker, open.clone()).await.unwrap(),
        StaffReply::Opened { .. }
    ));
    let r = call(
        worker,
        StaffRequest::SummaryPurge {
            summary_id: info.summary_id,
        },
    )
    .await
    .unwrap();
    assert_eq!(r, StaffReply::Done);

    // Gone for good: it cannot be opened, and the list says when it was purged.
    let err = call(worker, open).await.expect_err("purged");
    assert!(format!("{err:#}").contains("purged"), "{err:#}");
    let StaffReply::Summaries(list) = call(worker, StaffRequest::SummaryList).await.unwrap() else {
        panic!()
    };
    assert_eq!(list.len(), 1);
    assert!(list[0].purged_at.is_some());
    assert_eq!(
        list[0].sealed_digest, info.sealed_digest,
        "the digest its receipt names is kept"
    );
    let db = node_core::store::open(&s.node("ne.oai").dir.join("data/node.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row(
            "SELECT disclosure FROM summaries WHERE summary_id = ?1",
            [info.summary_id.0.to_vec()],
            |r| r.get(0),
        )
        .unwrap();
    let d: protocol_spec::exchange::Disclosure = postcard::from_bytes(&stored).unwrap();
    assert!(
        d.sealed.ciphertext.is_empty(),
        "the sealed content is destroyed"
    );
    assert!(log_kinds(s.node("ne.oai")).contains(&"summary-purged".to_string()));

    // The signed records of the exchange still verify and reconcile.
    let wait = ExportOptions {
        wait: Duration::from_secs(30),
        allow_uncosigned: false,
    };
    let oai = s.dir.path().join("oai");
    let orp = s.dir.path().join("orp");
    for (id, out) in [("ne.oai", &oai), ("ne.orp", &orp)] {
        let e = cli::audit::export(&s.node(id).auditor, out, &wait)
            .await
            .unwrap();
        assert!(
            e.verified.report.ok(),
            "{id}: {:?}",
            e.verified.report.findings
        );
    }
    assert!(
        cli::audit::reconcile(&orp, &oai, None, true).unwrap(),
        "the disclosure still has its receipt"
    );
    s.stop().await;
}
