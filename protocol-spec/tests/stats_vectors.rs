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

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().expect("hex string"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// spec/statistics.md §10: the round id, each person's hash input and element, every hop
/// before shuffling, the dashboard's counts and published figures, and the three signed
/// messages.
#[test]
fn psi_vectors() {
    use protocol_spec::avs::Avs;
    use protocol_spec::ids::InstitutionId;
    use protocol_spec::keys::SigningKey;
    use protocol_spec::stats::psi::{
        BlindedSet, Overlap, PsiOutcome, PsiRound, PsiSet, RoundSecret, SetSize, SignedPsiOutcome,
        SignedPsiSet, SignedPsiStart, blind, encode_person, exponentiate, overlap_counts,
        person_input,
    };

    let f = file();
    let v = &f["psi"];
    let round: PsiRound = serde_json::from_value(v["round"].clone()).expect("round");
    round.check().expect("well-formed round");
    assert_eq!(hex::encode(round.id()), v["round_id"].as_str().unwrap());
    let dashboard = SigningKey::from_seed(hex32(&v["dashboard_signing_key_seed"]));

    let start: SignedPsiStart = serde_json::from_value(v["start"]["signed"].clone()).unwrap();
    assert_eq!(start.round, round);
    assert_eq!(
        hex::encode(round.signing_input()),
        v["start"]["signing_input"].as_str().unwrap()
    );
    assert_eq!(round.clone().sign(&dashboard), start);
    start.verify(&dashboard.public()).expect("start verifies");

    let sectors = v["sectors"].as_array().expect("sectors");
    assert_eq!(sectors.len(), round.participants.len());
    let secret_of = |who: &InstitutionId| -> RoundSecret {
        let s = sectors
            .iter()
            .find(|s| s["institution"].as_str() == Some(who.as_str()))
            .expect("holder is a sector");
        RoundSecret::from_bytes(hex32(&s["secret"])).expect("canonical secret")
    };
    let mut finals = Vec::new();
    for (sector, origin) in sectors.iter().zip(&round.participants) {
        assert_eq!(sector["institution"].as_str(), Some(origin.as_str()));
        let persons: Vec<Avs> = serde_json::from_value(sector["persons"].clone()).unwrap();
        let inputs: Vec<String> = serde_json::from_value(sector["person_inputs"].clone()).unwrap();
        let elements: BlindedSet = serde_json::from_value(sector["elements"].clone()).unwrap();
        for ((avs, input), element) in persons.iter().zip(&inputs).zip(&elements.elements) {
            assert_eq!(
                &hex::encode(&*person_input(&round.federation, round.month, avs)),
                input
            );
            assert_eq!(
                encode_person(&round.federation, round.month, avs)
                    .compress()
                    .as_bytes(),
                element
            );
        }
        let mut current = elements;
        for (h, hop) in sector["hops"].as_array().unwrap().iter().enumerate() {
            let h = h as u8 + 1;
            assert_eq!(hop["hop"].as_u64(), Some(u64::from(h)));
            let holder: InstitutionId = serde_json::from_value(hop["holder"].clone()).unwrap();
            assert_eq!(round.sender(origin, h).unwrap(), &holder);
            let want: BlindedSet = serde_json::from_value(hop["elements"].clone()).unwrap();
            let secret = secret_of(&holder);
            current = exponentiate(&secret, &current, if h == 1 { 0 } else { 2 }).unwrap();
            assert_eq!(current, want, "{origin} hop {h}");
            if h == 1 {
                // The first hop proper shuffles: the same elements in another order.
                let mut rng = SeededRng::new([h; 32]);
                let shuffled = blind(
                    &secret,
                    &round.federation,
                    round.month,
                    &persons,
                    round.min_size(),
                    &mut rng,
                )
                .unwrap();
                let mut a = shuffled.elements.clone();
                let mut b = want.elements.clone();
                a.sort();
                b.sort();
                assert_eq!(a, b);
            }
        }
        finals.push((origin.clone(), current));
    }

    let counts = overlap_counts(&round, &finals).expect("final sets pass the checks");
    let c = &v["counts"];
    assert_eq!(counts.several, c["several"].as_u64().unwrap());
    assert_eq!(
        counts.by_count,
        serde_json::from_value::<Vec<u64>>(c["by_count"].clone()).unwrap()
    );
    assert_eq!(
        counts.pairs,
        serde_json::from_value::<Vec<u64>>(c["pairs"].clone()).unwrap()
    );
    assert_eq!(
        counts.sizes,
        serde_json::from_value::<Vec<u64>>(c["sizes"].clone()).unwrap()
    );
    let published: Overlap = serde_json::from_value(v["overlap"].clone()).unwrap();
    assert_eq!(
        counts.publish(&round.participants, round.threshold),
        published
    );

    // The first sector's hop-1 message, unshuffled, signed by its node key.
    let m = &v["set_message"];
    let signed: SignedPsiSet = serde_json::from_value(m["signed"].clone()).unwrap();
    let orp = &round.participants[0];
    let key = SigningKey::from_seed(hex32(&sectors[0]["signing_key_seed"]));
    assert_eq!(
        hex::encode(signed.set.signing_input()),
        m["signing_input"].as_str().unwrap()
    );
    assert_eq!(hex::encode(signed.digest()), m["digest"].as_str().unwrap());
    let rebuilt = PsiSet {
        round: round.id(),
        origin: orp.clone(),
        hop: 1,
        sender: orp.clone(),
        set: serde_json::from_value(sectors[0]["hops"][0]["elements"].clone()).unwrap(),
    }
    .sign(&key);
    assert_eq!(rebuilt, signed);
    signed
        .verify(&round, &round.participants[1], &key.public())
        .expect("set message verifies at the next hop");
    let wire = postcard::to_stdvec(&signed).unwrap();
    assert_eq!(postcard::from_bytes::<SignedPsiSet>(&wire).unwrap(), signed);

    let o = &v["outcome"];
    let outcome: SignedPsiOutcome = serde_json::from_value(o["signed"].clone()).unwrap();
    assert_eq!(
        hex::encode(outcome.outcome.signing_input()),
        o["signing_input"].as_str().unwrap()
    );
    let rebuilt = PsiOutcome {
        round: round.id(),
        sizes: finals
            .iter()
            .map(|(origin, set)| SetSize {
                origin: origin.clone(),
                size: set.len() as u64,
            })
            .collect(),
        overlap: Some(published),
    }
    .sign(&dashboard);
    assert_eq!(rebuilt, outcome);
    outcome
        .verify(&round, &dashboard.public())
        .expect("outcome verifies");

    // Carriage (protocol.md §8): each message as the peer message that carries it, its enum
    // index first; only the set message may span frames.
    use protocol_spec::peer::PeerMessage;
    let carried = [
        (
            PeerMessage::PsiStart(Box::new(start)),
            &v["start"],
            11u8,
            false,
        ),
        (
            PeerMessage::PsiSet(Box::new(signed)),
            &v["set_message"],
            12,
            true,
        ),
        (
            PeerMessage::PsiOutcome(Box::new(outcome)),
            &v["outcome"],
            13,
            false,
        ),
    ];
    for (message, vector, index, spans) in carried {
        let bytes = postcard::to_stdvec(&message).expect("encodes");
        assert_eq!(
            hex::encode(&bytes),
            vector["peer_message"].as_str().expect("peer_message"),
            "PeerMessage variant {index}"
        );
        assert_eq!(bytes[0], index);
        assert_eq!(message.may_span_frames(), spans);
        assert_eq!(
            postcard::from_bytes::<PeerMessage>(&bytes).unwrap(),
            message
        );
    }
}
