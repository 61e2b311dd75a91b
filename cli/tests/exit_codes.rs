//! Exit statuses and JSON documents of staff commands against real nodes: a granted summary
//! exits 0, a refusal 3 with its kebab-case code, a queued request 4, an unreachable node 5,
//! and errors from the node are JSON documents of their kind.

mod common;
use common::run;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_have_distinct_exit_statuses() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (spec, mut fed) = common::example_federation(d).await;
    fed.import_records(&spec).await.unwrap();
    for (id, file) in [("ne.oai", "oai.cred"), ("ne.orp", "orp.cred")] {
        fed.node(id).worker.save(&d.join(file)).unwrap();
    }
    fed.node("ne.oai")
        .auditor
        .save(&d.join("auditor.cred"))
        .unwrap();
    let person = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/records/demo-person.txt"),
    )
    .unwrap();
    let oai = |args: &[&str]| {
        let mut all = vec!["--json", "--credential", "oai.cred"];
        all.extend(args);
        run(d, &all)
    };

    let r = oai(&[
        "case",
        "open",
        "--person",
        person.trim(),
        "--invite",
        "ne.orp",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let case = r.json()["case-opened"]["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run(
        d,
        &[
            "--json",
            "--credential",
            "orp.cred",
            "case",
            "accept",
            "--case",
            &case,
        ],
    );
    assert_eq!(
        (r.code, r.json()),
        (
            0,
            serde_json::json!({"case-updated": {"delivered": [{"institution": "ne.oai", "delivered": true}]}})
        ),
        "{r:?}"
    );
    let r = oai(&[
        "consent",
        "record",
        "--case",
        &case,
        "--participants",
        "ne.oai,ne.orp",
        "--purposes",
        "coordinated-assessment",
        "--categories",
        "employment,measures",
        "--from",
        "2020-01-01",
        "--until",
        "2099-12-31",
    ]);
    assert_eq!(r.code, 0, "{r:?}");

    let request = |categories: &str| {
        oai(&[
            "summary",
            "request",
            "--case",
            &case,
            "--from",
            "ne.orp",
            "--purpose",
            "coordinated-assessment",
            "--categories",
            categories,
        ])
    };
    let r = request("employment,measures");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.json()["summary"]["received"]["summary_id"].is_string(),
        "{r:?}"
    );

    // Refused: exit 3, the code in kebab-case, as the text output and the spec write it.
    let r = request("health");
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({"summary": {"refused": {"code": "category-not-consented"}}})
    );
    let text = run(
        d,
        &[
            "--credential",
            "oai.cred",
            "summary",
            "request",
            "--case",
            &case,
            "--from",
            "ne.orp",
            "--purpose",
            "coordinated-assessment",
            "--categories",
            "health",
        ],
    );
    assert_eq!(text.code, 3, "{text:?}");
    assert!(
        text.stdout.contains("refused: category-not-consented"),
        "{text:?}"
    );

    // Errors the node reports keep their kind.
    let r = run(
        d,
        &["--json", "--credential", "auditor.cred", "case", "list"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let (kind, message) = r.json_error();
    assert_eq!(kind, "forbidden");
    assert!(message.contains("case-worker role"), "{message}");
    let r = oai(&[
        "case",
        "accept",
        "--case",
        "00000000000000000000000000000000",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json_error().0, "bad-request");

    // The responder is down: the request waits in the outbox.
    fed.node_mut("ne.orp").stop().await;
    let r = request("employment");
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(r.json(), serde_json::json!({"summary": "queued"}));

    // The credential's own node is down.
    fed.node_mut("ne.oai").stop().await;
    let r = oai(&["whoami"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert_eq!(r.json_error().0, "unreachable");
    fed.stop().await;
}
