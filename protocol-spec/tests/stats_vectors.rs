//! Known-answer tests of `vectors/statistics.json` (spec/statistics.md): suppression marks,
//! the report's canonical encoding, and the reference noise sampler's draws.

use protocol_spec::seal::SeededRng;
use protocol_spec::stats::StatisticsConfig;
use protocol_spec::stats::noise::discrete_laplace;
use protocol_spec::stats::report::{
    MonthCounts, PrivacyRelease, ReportHeader, STATS_REPORT_CONTEXT, StatsReport, build_report,
};
use protocol_spec::stats::suppress::{Mark, Relation, suppress};
use serde_json::Value;

const FILE: &str = include_str!("../vectors/statistics.json");

fn file() -> Value {
    serde_json::from_str(FILE).expect("statistics.json is JSON")
}

fn mark_name(m: Mark) -> &'static str {
    match m {
        Mark::Shown => "shown",
        Mark::Small => "small",
        Mark::Withheld => "withheld",
    }
}

#[test]
fn suppression_vectors() {
    let f = file();
    let cases = f["suppression"].as_array().expect("suppression cases");
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let values: Vec<u64> = serde_json::from_value(case["values"].clone()).expect("values");
        let forced: Vec<bool> = match case.get("forced") {
            Some(v) => serde_json::from_value(v.clone()).expect("forced"),
            None => vec![false; values.len()],
        };
        let relations: Vec<Relation> =
            serde_json::from_value(case["relations"].clone()).expect("relations");
        let k = case["k"].as_u64().expect("k") as u32;
        let want: Vec<String> = serde_json::from_value(case["marks"].clone()).expect("marks");
        let got: Vec<&str> = suppress(&values, &forced, &relations, k)
            .into_iter()
            .map(mark_name)
            .collect();
        assert_eq!(got, want, "suppression case {name}");
    }
}

#[test]
fn report_vectors() {
    let f = file();
    for case in f["reports"].as_array().expect("reports") {
        let name = case["name"].as_str().expect("name");
        let config: StatisticsConfig =
            serde_json::from_value(case["config"].clone()).expect("config");
        config.check().expect("well-formed config");
        let header: ReportHeader = serde_json::from_value(case["header"].clone()).expect("header");
        let counts: MonthCounts = serde_json::from_value(case["counts"].clone()).expect("counts");
        let privacy: Option<PrivacyRelease> =
            serde_json::from_value(case["privacy"].clone()).expect("privacy");
        let seed: [u8; 32] = hex::decode(case["seed"].as_str().expect("seed"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let report = build_report(header, &config, &counts, privacy, &mut SeededRng::new(seed));
        assert_eq!(
            serde_json::to_value(&report).expect("JSON form"),
            case["report"],
            "report case {name}: JSON form"
        );
        let input = report.signing_input();
        assert!(input.starts_with(STATS_REPORT_CONTEXT));
        assert_eq!(
            hex::encode(&input),
            case["signing_input"].as_str().expect("signing_input"),
            "report case {name}: signing input"
        );
        let back: StatsReport =
            postcard::from_bytes(&input[STATS_REPORT_CONTEXT.len()..]).expect("decodes");
        assert_eq!(back, report);
    }
}

#[test]
fn noise_vectors() {
    let f = file();
    for case in f["noise"].as_array().expect("noise") {
        let seed: [u8; 32] = hex::decode(case["seed"].as_str().expect("seed"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let (s, t) = (
            case["s"].as_u64().expect("s"),
            case["t"].as_u64().expect("t"),
        );
        let want: Vec<i64> = serde_json::from_value(case["draws"].clone()).expect("draws");
        let mut rng = SeededRng::new(seed);
        let got: Vec<i64> = (0..want.len())
            .map(|_| discrete_laplace(&mut rng, s, t))
            .collect();
        assert_eq!(got, want, "noise s={s} t={t}");
    }
}

/// `statistics.json delivery`: a signed delivery of reports[0] (spec/statistics.md §8), the
/// roster declaration naming its dashboard, and the peer message carrying it.
#[test]
fn delivery_vector() {
    use protocol_spec::keys::SigningKey;
    use protocol_spec::peer::PeerMessage;
    use protocol_spec::stats::SignedStatsReport;
    use protocol_spec::stats::delivery::STATS_DELIVERY_CONTEXT;
    let f = file();
    let v = &f["delivery"];
    let config: StatisticsConfig = serde_json::from_value(v["config"].clone()).expect("config");
    config.check().expect("well-formed config");
    assert_eq!(
        config.dashboard.as_ref().map(|d| d.as_str()),
        Some("ne.cii")
    );
    assert_eq!(
        hex::encode(postcard::to_stdvec(&config).expect("encodes")),
        v["config_postcard"].as_str().expect("config_postcard")
    );
    let case = f["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|c| c["name"] == v["report_case"])
        .expect("the report case");
    let report: StatsReport = serde_json::from_value(case["report"].clone()).expect("report");
    let seed: [u8; 32] = hex::decode(v["key_seed"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_seed(seed);
    assert_eq!(
        serde_json::to_value(key.public()).expect("key"),
        v["public_key"]
    );
    let sequence = v["sequence"].as_u64().expect("sequence") as u32;
    let signed = SignedStatsReport::sign(report, sequence, &key);
    let input = signed.signing_input();
    assert!(input.starts_with(STATS_DELIVERY_CONTEXT));
    assert_eq!(
        hex::encode(&input),
        v["signing_input"].as_str().expect("input")
    );
    assert_eq!(
        hex::encode(signed.signature.0),
        v["signature"].as_str().expect("signature")
    );
    assert_eq!(
        hex::encode(signed.digest()),
        v["digest"].as_str().expect("digest")
    );
    assert!(key.public().verify(&input, &signed.signature));
    let message = PeerMessage::StatsReport(Box::new(signed));
    let bytes = postcard::to_stdvec(&message).expect("encodes");
    assert_eq!(
        hex::encode(&bytes),
        v["peer_message"].as_str().expect("message")
    );
    assert_eq!(bytes[0], 8, "StatsReport is PeerMessage variant 8");
    let back: PeerMessage = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, message);
}
