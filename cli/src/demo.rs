//! `passerelle demo`: builds the example federation on loopback ([`crate::harness`]), imports
//! its sample records, then walks through exchanges, saying what each step shows.

use crate::credential::Credential;
use crate::harness::{
    ExampleFederation, ExampleSpec, NodeHandle, call, examples_dir, open_case, record_consent,
};
use anyhow::{Context, bail};
use daemon::clock::now;
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::ids::CaseId;
use protocol_spec::keys::SigningKey;
use protocol_spec::staff::{ConsentDraft, StaffReply, StaffRequest, SummaryOutcome};
use std::path::{Path, PathBuf};

struct Narrator {
    json: bool,
    steps: Vec<serde_json::Value>,
}

impl Narrator {
    fn say(&mut self, text: &str) {
        if !self.json {
            // Narration only: a closed pipe is handled inside, and the closing line reports
            // any other write failure.
            let _ = crate::outln!("{text}");
        }
    }

    fn outcome(
        &mut self,
        what: &str,
        expect_granted: bool,
        o: &SummaryOutcome,
    ) -> anyhow::Result<()> {
        let (granted, detail) = match o {
            SummaryOutcome::Received(s) => (
                true,
                format!("GRANTED: sealed summary {} received", s.summary_id),
            ),
            SummaryOutcome::Refused { code } => (
                false,
                format!("REFUSED: {} ({})", code.as_str(), code.explain()),
            ),
            SummaryOutcome::Queued => (false, "QUEUED: responder unreachable".into()),
        };
        self.say(&format!("    -> {detail}"));
        self.steps
            .push(serde_json::json!({ "step": what, "outcome": o }));
        if granted != expect_granted {
            bail!("demo step `{what}` did not turn out as the rule says it must");
        }
        Ok(())
    }
}

pub async fn run(keep: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let examples = examples_dir()?;
    let mut n = Narrator {
        json,
        steps: vec![],
    };
    n.say("Passerelle demo: an example federation of three institutions on loopback\n");
    n.say("1. Steering group creates federation `ne-cii` (3 authority keys, 2 must sign),");
    n.say("   adds the three institutions, the coordination dashboard ne.cii and the exchange");
    n.say("   policy, and signs the roster (2 of 3).");
    let spec = ExampleSpec::load()?.with_dashboard()?;
    let mut fed = ExampleFederation::create(&dir, &spec).await?;
    for node in &fed.nodes {
        n.say(&format!(
            "   node {} listening on {}",
            node.id, node.admin.node_address
        ));
    }
    // The dashboard outlives the demo's temporary directory, so it can be opened afterwards.
    let dashboard_dir = match &keep {
        Some(d) => d.join("dashboard"),
        None => std::env::temp_dir().join("passerelle-demo-dashboard"),
    };
    let result = walkthrough(&mut n, &fed, &spec, &examples, &dashboard_dir).await;
    fed.stop().await;
    result?;
    if json {
        crate::output::document("demo", serde_json::json!({ "steps": n.steps }))?;
    } else {
        crate::outln!(
            "\nDemo complete: one exchange granted, every other refused as the rule requires."
        )?;
        if let Some(d) = keep {
            crate::outln!(
                "Files kept in {}: the steering group's keys and roster (steering/); each node's config, keys, administrator credential and store, which holds its records, cases and signed transparency log; and the dashboard (dashboard/).",
                d.display()
            )?;
        }
    }
    Ok(())
}

async fn walkthrough(
    n: &mut Narrator,
    fed: &ExampleFederation,
    spec: &ExampleSpec,
    examples: &Path,
    dashboard_dir: &Path,
) -> anyhow::Result<()> {
    let (orp, oai, sas) = (fed.node("ne.orp"), fed.node("ne.oai"), fed.node("ne.sas"));
    n.say("\n2. Administrators import their institution's own records from examples/records.");
    let records = examples.join("records");
    for (id, persons, fields) in fed.import_records(spec).await? {
        n.say(&format!("   {id}: {persons} persons, {fields} fields"));
    }
    match crate::records::read_records(&[records.join("bad-persons.csv")]) {
        Err(e) => n.say(&format!(
            "   a faulty file is rejected whole, with each bad row named:\n   {}",
            format!("{e:#}").replace('\n', "\n   ")
        )),
        Ok(_) => bail!("the faulty example file was accepted"),
    }

    let person: Avs = std::fs::read_to_string(records.join("demo-person.txt"))
        .context("examples/records/demo-person.txt")?
        .trim()
        .parse()?;
    n.say(
        "\n3. A case worker at ne.oai opens a coordinated case for a person followed by all three,",
    );
    n.say("   inviting ne.orp and ne.sas; ne.orp accepts from its own node (ne.sas has not yet).");
    let case_id = open_case(
        &oai.worker,
        person.clone(),
        vec![orp.id.clone(), sas.id.clone()],
    )
    .await?;
    n.say(&format!("   case {case_id}"));
    call(&orp.worker, StaffRequest::CaseAccept { case_id }).await?;

    n.say("\n4. The person signs a consent form: ne.oai and ne.orp may exchange employment and measures");
    n.say("   for a coordinated assessment, valid for one year. It is recorded at ne.oai and propagated.");
    let today = now() / 86400 * 86400;
    call(
        &oai.worker,
        StaffRequest::ConsentRecord(ConsentDraft {
            case_id,
            participants: vec![oai.id.clone(), orp.id.clone()],
            purposes: vec!["coordinated-assessment".parse()?],
            categories: vec![Category::Employment, Category::Measures],
            valid_from: today,
            valid_until: today + 365 * 86400,
            form_digest: Some(protocol_spec::keys::sha256(&[b"scanned consent form"])),
        }),
    )
    .await?;

    let request =
        |worker: &Credential, from: &NodeHandle, purpose: &str, cats: &[Category], case: CaseId| {
            let req = StaffRequest::SummaryRequest {
                case_id: case,
                from: from.id.clone(),
                purpose: purpose.parse().expect("purpose"),
                categories: cats.to_vec(),
            };
            let worker = Credential::new(
                worker.staff.clone(),
                worker.institution.clone(),
                worker.role,
                worker.node_address.clone(),
                worker.node_key,
                SigningKey::from_seed(*worker.key.seed()),
            );
            async move {
                match call(&worker, req).await? {
                    StaffReply::Summary(o) => Ok(o),
                    other => bail!("unexpected reply {other:?}"),
                }
            }
        };

    n.say("\n5. ne.oai requests ne.orp's summary: employment,measures for coordinated-assessment.");
    let o = request(
        &oai.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment, Category::Measures],
        case_id,
    )
    .await?;
    n.outcome("granted exchange", true, &o)?;
    if let SummaryOutcome::Received(s) = &o
        && let StaffReply::Opened { summary, .. } = call(
            &oai.worker,
            StaffRequest::SummaryOpen {
                summary_id: s.summary_id,
            },
        )
        .await?
    {
        n.say("    opened by case-worker-1 at ne.oai (the opening is logged):");
        for (cat, fields) in &summary.categories {
            for f in fields {
                n.say(&format!("      [{cat}] {} = {}", f.field, f.value));
            }
        }
    }

    n.say("\n6. Requests the rule refuses:");
    n.say("  a) ne.oai asks for health data, which the consent does not cover:");
    let o = request(
        &oai.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment, Category::Health],
        case_id,
    )
    .await?;
    n.outcome("category outside consent", false, &o)?;
    n.say("  b) ne.oai asks for an action plan, a purpose the consent does not cover:");
    let o = request(
        &oai.worker,
        orp,
        "action-plan",
        &[Category::Measures],
        case_id,
    )
    .await?;
    n.outcome("purpose outside consent", false, &o)?;
    n.say("  c) ne.sas accepts the case, then asks ne.orp: the consent does not name ne.sas:");
    call(&sas.worker, StaffRequest::CaseAccept { case_id }).await?;
    let o = request(
        &sas.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment],
        case_id,
    )
    .await?;
    n.outcome("no consent", false, &o)?;
    n.say(
        "  d) a second consent covers ne.orp and ne.oai for health too, but the federation policy",
    );
    n.say("     does not let the employment sector receive health data:");
    record_consent(
        &oai.worker,
        case_id,
        &[&oai.id, &orp.id],
        "coordinated-assessment",
        &[Category::Health],
        (today, today + 30 * 86400),
    )
    .await?;
    let o = request(
        &orp.worker,
        oai,
        "coordinated-assessment",
        &[Category::Health],
        case_id,
    )
    .await?;
    n.outcome("outside policy", false, &o)?;
    n.say(
        "  e) ne.sas is in no case with ne.orp about another person it asks about: the refusal is",
    );
    n.say(
        "     the same whether the case exists or not, so nothing leaks about who ne.orp follows:",
    );
    let sas_only = std::fs::read_to_string(records.join("sas-only-person.txt"))?
        .trim()
        .parse()?;
    let sas_case = open_case(&sas.worker, sas_only, vec![]).await?;
    let o = request(
        &sas.worker,
        orp,
        "coordinated-assessment",
        &[Category::Employment],
        sas_case,
    )
    .await?;
    n.outcome("not concerned", false, &o)?;

    n.say("\n7. Every decision is in each node's signed transparency log:");
    for node in &fed.nodes {
        if let StaffReply::Checkpoint { note } =
            call(&node.auditor, StaffRequest::LogCheckpoint).await?
        {
            let size = note.lines().nth(1).unwrap_or("?");
            let cosignatures = note
                .lines()
                .filter(|l| l.starts_with('\u{2014}'))
                .count()
                .saturating_sub(1);
            n.say(&format!("   {}: {size} entries, checkpoint signed and cosigned by {cosignatures} peer witness(es)", node.id));
        }
    }

    n.say(
        "\n8. Monthly statistics: administrators import placements in the mixed insertion measures",
    );
    n.say(
        "   (examples/placements); ne.orp's report for 2026-11 names no person: counts under the",
    );
    n.say(
        "   threshold show as <5, and the figures that would give them away through a total as x.",
    );
    for (id, count) in fed.import_placements(spec).await? {
        n.say(&format!("   {id}: {count} placements"));
    }
    let month = "2026-11".parse()?;
    let StaffReply::Report(r) = call(&orp.admin, StaffRequest::StatsReport { month }).await? else {
        bail!("no report");
    };
    let k = r.threshold;
    for m in &r.measures {
        n.say(&format!(
            "   {:<16} participants {:>4}  entries {:>4}  exits {:>4}  place-days {:>5} of {}",
            m.measure.as_str(),
            m.participants.render(k),
            m.entries.render(k),
            m.exits_total.render(k),
            m.place_days_used.render(k),
            m.place_days_budgeted
        ));
    }
    dashboard(n, fed, dashboard_dir).await
}

/// Step 9, once October has ended: the dashboard member counts the persons followed by
/// several sectors in October by the private set intersection round, and waits for it.
async fn overlap(
    n: &mut Narrator,
    fed: &ExampleFederation,
    month: protocol_spec::stats::Month,
    now: protocol_spec::stats::Month,
) -> anyhow::Result<()> {
    use protocol_spec::stats::RoundState;
    if month >= now {
        return Ok(());
    }
    n.say(&format!(
        "   ne.cii counts the persons followed by several sectors in {month}: each sector blinds"
    ));
    n.say("   its persons with a secret of its own, the sets go round the ring, and ne.cii");
    n.say("   compares only the fully blinded sets; no node learns whom another follows.");
    let cii = &fed.node("ne.cii").admin;
    let request = || StaffRequest::StatsOverlap {
        month,
        again: false,
    };
    call(cii, request()).await?;
    for _ in 0..300 {
        if let StaffReply::Overlap(o) = call(cii, request()).await?
            && let Some(r) = o.rounds.last()
            && r.state != RoundState::Running
        {
            match (&r.overlap, &r.problem) {
                (Some(_), _) => n.say(&format!(
                    "   round complete (attempt {}): the figures are on the dashboard",
                    r.attempt
                )),
                (None, problem) => n.say(&format!(
                    "   round {}: {}",
                    r.state,
                    problem.as_deref().unwrap_or("no figure published")
                )),
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    n.say("   the round is still running; `passerelle stats overlap` shows where it stands");
    Ok(())
}

/// Step 9: every sector signs and sends its reports of January to November 2026 to the
/// dashboard member, except ne.oai, late with November; the dashboard shows the year so far
/// and who has not reported.
async fn dashboard(n: &mut Narrator, fed: &ExampleFederation, out: &Path) -> anyhow::Result<()> {
    use protocol_spec::stats::Month;
    n.say(
        "\n9. Coordination dashboard: each sector's node signs its monthly reports of January to",
    );
    n.say("   November 2026 and sends them to the dashboard member ne.cii, which verifies each");
    n.say("   signature and logs its digest; ne.oai has not sent November yet.");
    let now = Month::of_instant(now());
    let mut sent = 0;
    for id in ["ne.orp", "ne.oai", "ne.sas"] {
        let admin = &fed.node(id).admin;
        for m in 1..=11 {
            let month = Month::new(2026, m)?;
            if month > now || (id == "ne.oai" && m == 11) {
                continue;
            }
            match call(
                admin,
                StaffRequest::StatsSend {
                    month,
                    correction: false,
                },
            )
            .await?
            {
                StaffReply::StatsSent(s) if s.delivered => sent += 1,
                other => bail!("{id}'s report of {month} was not delivered: {other:?}"),
            }
        }
    }
    n.say(&format!("   {sent} signed reports delivered"));
    overlap(n, fed, Month::new(2026, 10)?, now).await?;
    let StaffReply::Dashboard(d) = call(
        &fed.node("ne.cii").admin,
        StaffRequest::StatsDashboard {
            months: 11,
            until: Some(Month::new(2026, 11)?.min(now)),
        },
    )
    .await?
    else {
        bail!("no dashboard");
    };
    let files = crate::dashboard::write(out, &d)?;
    // The last two months, as `passerelle stats dashboard` prints them.
    let mut excerpt = (*d).clone();
    excerpt.months = d.months.iter().rev().take(2).rev().cloned().collect();
    for line in crate::dashboard::text(&excerpt).lines() {
        n.say(format!("   {line}").trim_end());
    }
    n.steps
        .push(serde_json::json!({ "step": "dashboard", "files": files }));
    n.say(&format!(
        "   dashboard written: {} (open it in a browser; also dashboard.csv, dashboard-overlap.csv and dashboard.json)",
        files[0].display()
    ));
    Ok(())
}
