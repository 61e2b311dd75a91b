//! Known-answer tests over `vectors/records.json`: social insurance numbers, the person
//! commitment, birth dates, field names, and the re-check of a received record set. The import
//! cases of the same file are the CLI's (`cli/src/records/`), which reads the import formats.

use protocol_spec::avs::Avs;
use protocol_spec::records::{RecordSet, RowProblem, valid_date, valid_field_name};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/records.json")).expect("records.json")
}

#[test]
fn vector_numbers() {
    let v = vectors();
    for case in v["avs"]["valid"].as_array().unwrap() {
        let a: Avs = case["input"].as_str().unwrap().parse().unwrap();
        assert_eq!(a.digits(), case["digits"].as_str().unwrap());
        assert_eq!(a.to_string(), case["dotted"].as_str().unwrap());
    }
    for case in v["avs"]["invalid"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let e = input.parse::<Avs>().unwrap_err();
        assert_eq!(e.code(), case["error"].as_str().unwrap(), "{input:?}");
    }
}

#[test]
fn commitment_vectors() {
    // Known answers computed independently (Python hashlib) from the spec's definition.
    let v = vectors();
    let cases = v["commitment"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let a: Avs = case["avs"].as_str().unwrap().parse().unwrap();
        let salt: [u8; 32] = hex::decode(case["salt"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode(a.commitment(&salt)),
            case["commitment"].as_str().unwrap()
        );
    }
    // Same as spelled out: context, salt, then the digits without dots.
    let a: Avs = "756.9217.0769.85".parse().unwrap();
    let salt = [7u8; 32];
    let mut input = b"passerelle/v1 person-commitment\n".to_vec();
    input.extend_from_slice(&salt);
    input.extend_from_slice(b"7569217076985");
    assert_eq!(a.commitment(&salt), protocol_spec::keys::sha256(&[&input]));
    assert_ne!(a.commitment(&salt), a.commitment(&[8u8; 32]));
}

/// records.md §7: the checks on a received record set, positions as lines.
#[test]
fn validate_vectors() {
    let v = vectors();
    for case in v["validate"]["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let set: RecordSet = serde_json::from_value(case["set"].clone()).unwrap();
        let got = set.validate().err().map(|e| e.problems).unwrap_or_default();
        let expected: Vec<RowProblem> = serde_json::from_value(case["problems"].clone()).unwrap();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn date_and_field_name_vectors() {
    let v = vectors();
    for d in v["dates"]["valid"].as_array().unwrap() {
        assert!(valid_date(d.as_str().unwrap()), "{d}");
    }
    for d in v["dates"]["invalid"].as_array().unwrap() {
        assert!(!valid_date(d.as_str().unwrap()), "{d}");
    }
    for f in v["field_names"]["valid"].as_array().unwrap() {
        assert!(valid_field_name(f.as_str().unwrap()), "{f}");
    }
    for f in v["field_names"]["invalid"].as_array().unwrap() {
        assert!(!valid_field_name(f.as_str().unwrap()), "{f}");
    }
}
