use super::json_file::Scanner;
use super::*;
use proptest::prelude::*;
use protocol_spec::avs::Avs;
use protocol_spec::category::Category;
use protocol_spec::records::{
    ImportError, MAX_NAME_BYTES, MAX_PROBLEMS, MAX_VALUE_BYTES, Person, RecordField, RecordSet,
};
use serde_json::Value;
use std::collections::BTreeMap;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../../protocol-spec/vectors/records.json"))
        .expect("records.json")
}

fn parse(format: &str, input: &[u8]) -> Result<RecordSet, ImportError> {
    match format {
        "csv" => parse_csv(input),
        "json" => parse_json(input),
        other => panic!("unknown format {other}"),
    }
}

#[test]
fn import_vectors() {
    let v = vectors();
    for case in v["imports"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap().as_bytes();
        let result = parse(case["format"].as_str().unwrap(), input);
        match case.get("problems") {
            None => {
                let set = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(set.persons.len() as u64, case["persons"], "{name}");
                assert_eq!(set.fields.len() as u64, case["fields"], "{name}");
                set.validate().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            }
            Some(expected) => {
                let got = result.expect_err(name).problems;
                let expected = expected.as_array().unwrap();
                assert_eq!(got.len(), expected.len(), "{name}: {got:#?}");
                for (g, e) in got.iter().zip(expected) {
                    assert_eq!(g.line as u64, e["line"], "{name}: {g:?}");
                    assert_eq!(g.reason, e["reason"].as_str().unwrap(), "{name}");
                }
            }
        }
    }
}

#[test]
fn csv_values_and_kinds() {
    let f = parse_csv(
            b"avs,category,field,value\n 7569217076985 , employment , status ,\"seeking, part-time\" \n",
        )
        .unwrap();
    assert_eq!(
        f.fields,
        vec![RecordField {
            avs: "7569217076985".parse().unwrap(),
            category: Category::Employment,
            field: "status".into(),
            value: "seeking, part-time".into(),
        }]
    );
    let persons = b"avs,name,birth_date\n756.9217.0769.85,Jean Exemple,1980-02-29\n";
    assert_eq!(detect_csv_kind(persons), Some(CsvKind::Persons));
    assert_eq!(
        detect_csv_kind(b"avs;category;field;value\n"),
        Some(CsvKind::Fields)
    );
    assert_eq!(detect_csv_kind(b"avs,name\n"), None);
    assert_eq!(
        parse_csv_as(CsvKind::Persons, persons)
            .unwrap()
            .persons
            .len(),
        1
    );
    let e = parse_csv_as(CsvKind::Fields, persons).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(
        e.problems[0]
            .reason
            .contains("`avs,category,field,value` for a fields file")
    );
    // Blank lines are skipped; line numbers stay those of the file.
    let e = parse_csv(
        b"avs,name,birth_date\n\n756.9217.0769.85,A,1980-01-01\n\n7569217076984,B,1980-01-01\n",
    )
    .unwrap_err();
    assert_eq!(e.problems[0].line, 5);
    // Blank lines first, CRLF, a value over two lines, lone CRs: each problem on its line.
    let input = b"\r\n\navs,name,birth_date\r\n\r\n7569217076984,\"A\r\nB\",1980-01-01\r\n\r\n\r\n7569217076984,C,1980-01-01\rx\r\r7569217076985,D,1980-13-01";
    let e = parse_csv(input).unwrap_err();
    let got: Vec<usize> = e.problems.iter().map(|p| p.line).collect();
    assert_eq!(got, vec![5, 5, 9, 10, 12], "{e:?}"); // line 5: number, and a name over two lines
}

#[test]
fn problems_never_quote_personal_data() {
    let input = "avs,name,birth_date\n7569217076984,Jeanne Secret,1980-02-30\n756.9217.0769.85,Jeanne Secret,1980-01-01\n756.9217.0769.85,Jeanne Secret,1980-01-01\nJeanne Secret,7569217076985,1980-01-01\n";
    let e = parse_csv(input.as_bytes()).unwrap_err();
    let text = format!("{e} {e:?}");
    for secret in ["9217", "0769", "Jeanne", "Secret", "1980"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let fields = "avs,category,field,value\n7569217076985,Jeanne Secret,status,x\n7569217076985,employment,Jeanne Secret,x\n7569217076985,employment,status,\u{7}Jeanne\n";
    let e = parse_csv(fields.as_bytes()).unwrap_err();
    assert_eq!(e.problems.len(), 3, "{e:?}");
    let text = format!("{e:?}");
    assert!(!text.contains("Jeanne") && !text.contains("9217"), "{text}");
    let json = br#"{"persons": [{"avs": "7569217076984", "name": "Jeanne Secret", "birth_date": "1980-02-30", "Jeanne Secret": "x", "records": {"Jeanne": {"x": "y"}}}]}"#;
    let e = parse_json(json).unwrap_err();
    let text = format!("{e:?}");
    assert_eq!(e.problems.len(), 4, "{text}");
    assert!(
        !text.contains("Jeanne") && !text.contains("9217") && !text.contains("1980"),
        "{text}"
    );
}

#[test]
fn limits() {
    let big = vec![b' '; MAX_FILE_BYTES + 1];
    for e in [parse_csv(&big).unwrap_err(), parse_json(&big).unwrap_err()] {
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].reason.contains("16 MiB"));
    }
    let long = "x".repeat(MAX_VALUE_BYTES + 1);
    let ok = "é".repeat(MAX_VALUE_BYTES / 2);
    let input = format!(
        "avs,category,field,value\n7569217076985,employment,a,{long}\n7569217076985,employment,b,{ok}\n7569217076985,employment,{},x\n",
        "f".repeat(65)
    );
    let e = parse_csv(input.as_bytes()).unwrap_err();
    assert_eq!(e.problems.len(), 2, "{e:?}");
    assert!(e.problems[0].line == 2 && e.problems[0].reason.contains("longer than 4096"));
    assert!(e.problems[1].line == 4 && e.problems[1].reason.contains("field name must be"));
    let name = "N".repeat(MAX_NAME_BYTES + 1);
    let e = parse_csv(format!("avs,name,birth_date\n7569217076985,{name},1980-01-01\n").as_bytes())
        .unwrap_err();
    assert!(e.problems[0].reason.contains("longer than 200"));
    // A file of nothing but faulty rows lists MAX_PROBLEMS of them and counts the rest.
    let mut input = String::from("avs,name,birth_date\n");
    for _ in 0..MAX_PROBLEMS + 20 {
        input.push_str("x,,\n");
    }
    let e = parse_csv(input.as_bytes()).unwrap_err();
    assert_eq!(e.problems.len(), MAX_PROBLEMS + 1);
    let last = e.problems.last().unwrap();
    // Three problems a row: lines 2 to 334 fill 999 places, line 335 the last one.
    assert!(
        last.reason.starts_with("2060 further problem(s)"),
        "{last:?}"
    );
    assert_eq!(last.line, 335);
    assert!(e.to_string().starts_with("1001 problem(s): line 2: "));
    assert!(e.to_string().ends_with("; and 991 more"));
}

#[test]
fn json_lines_follow_the_text() {
    // Strings that look like keys or brackets do not move the positions.
    let input = b"{\"persons\": [\n  {\"avs\": \"7569217076985\", \"name\": \"A \\\"avs\\\" [{\", \"birth_date\": \"1970-01-01\",\n   \"records\": {\"benefits\": {\"kind\": \"avs\", \"other\": \"}]\"}}},\n\n  {\"avs\": \"7561234567897\",\n   \"name\": \"B\", \"birth_date\": \"1970-02-30\"}\n]}";
    let e = parse_json(input).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e:?}");
    assert_eq!(e.problems[0].line, 5);
    let pos = Scanner::positions(input);
    assert_eq!(pos.kids.len(), 1);
    let persons = &pos.kids[0];
    assert_eq!(persons.line, 1);
    assert_eq!(
        persons.kids.iter().map(|p| p.line).collect::<Vec<_>>(),
        vec![2, 5]
    );
    assert_eq!(
        persons.kids[1]
            .kids
            .iter()
            .map(|p| p.line)
            .collect::<Vec<_>>(),
        vec![5, 6, 6]
    );
    let records = &persons.kids[0].kids[3];
    assert_eq!((records.line, records.kids[0].kids.len()), (3, 2));
    // Byte order mark and a value with an escaped newline.
    let set = parse_json(
            "\u{feff}{\"persons\": [{\"avs\": \"7569217076985\", \"name\": \"A\", \"birth_date\": \"1970-01-01\", \"records\": {\"household\": {\"note\": \"one\\ntwo\"}}}]}".as_bytes(),
        )
        .unwrap();
    assert_eq!(set.fields[0].value, "one\ntwo");
}

#[test]
fn merged_files_are_checked_together() {
    let mut set = parse_csv(b"avs,name,birth_date\n7569217076985,A,1970-01-01\n").unwrap();
    set.merge(parse_csv(b"avs;name;birth_date\n756.9217.0769.85;A;1970-01-01\n").unwrap());
    let e = set.validate().unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(e.problems[0].reason.contains("same person as person 1"));
    assert_eq!(
        parse_file("x.JSON", b"{\"persons\": []}").unwrap(),
        RecordSet::default()
    );
    assert!(parse_file("x.csv", b"{\"persons\": []}").is_err());
}

/// The sample data of `examples/records` parses, and its README tells who is where.
#[test]
fn example_records() {
    macro_rules! example {
        ($f:literal) => {
            (
                $f,
                include_bytes!(concat!("../../../examples/records/", $f)).as_slice(),
            )
        };
    }
    let institutions = [
        (
            "ne.orp",
            vec![
                example!("ne.orp-persons.csv"),
                example!("ne.orp-fields.csv"),
            ],
        ),
        (
            "ne.oai",
            vec![
                example!("ne.oai-persons.csv"),
                example!("ne.oai-fields.csv"),
            ],
        ),
        ("ne.sas", vec![example!("ne.sas.json")]),
    ];
    let avs = |s: &str| s.parse::<Avs>().unwrap();
    let (jean, marie, luca, nadia, paul) = (
        avs("756.9217.0769.85"),
        avs("756.1234.5678.97"),
        avs("756.4803.1520.74"),
        avs("756.6620.1834.53"),
        avs("756.3055.7112.99"),
    );
    let expected_persons = [
        ("ne.orp", vec![&jean, &marie, &luca, &nadia]),
        ("ne.oai", vec![&jean, &marie, &luca]),
        ("ne.sas", vec![&jean, &marie, &luca, &paul]),
    ];
    use Category::*;
    let expected_categories = [
        (
            "ne.orp",
            vec![Identity, Employment, Benefits, Measures, Training],
        ),
        (
            "ne.oai",
            vec![Identity, Benefits, Health, Measures, CaseManagement],
        ),
        (
            "ne.sas",
            vec![Identity, Household, Benefits, CaseManagement],
        ),
    ];
    for ((id, files), ((_, persons), (_, categories))) in institutions
        .iter()
        .zip(expected_persons.iter().zip(&expected_categories))
    {
        let mut set = RecordSet::default();
        for (name, bytes) in files {
            set.merge(parse_file(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        set.validate().unwrap();
        let got: Vec<&Avs> = set.persons.iter().map(|p| &p.avs).collect();
        assert_eq!(&got, persons, "{id}");
        for f in &set.fields {
            assert!(
                got.contains(&&f.avs),
                "{id}: field about a person not imported"
            );
        }
        let mut cats: Vec<Category> = set.fields.iter().map(|f| f.category).collect();
        cats.sort();
        cats.dedup();
        assert_eq!(&cats, categories, "{id}");
        // Each person has an identity field and at least two other categories.
        for p in &set.persons {
            let mut mine: Vec<Category> = set
                .fields
                .iter()
                .filter(|f| f.avs == p.avs)
                .map(|f| f.category)
                .collect();
            mine.dedup();
            assert!(
                mine.contains(&Identity) && mine.len() >= 3,
                "{id}: {}",
                p.name
            );
        }
        // The demo requests employment and measures about Jean from ne.orp.
        if *id == "ne.orp" {
            for c in [Employment, Measures] {
                assert!(set.fields.iter().any(|f| f.avs == jean && f.category == c));
            }
        }
    }
    let demo: Avs = include_str!("../../../examples/records/demo-person.txt")
        .trim()
        .parse()
        .unwrap();
    let sas_only: Avs = include_str!("../../../examples/records/sas-only-person.txt")
        .trim()
        .parse()
        .unwrap();
    assert_eq!((demo, sas_only), (jean, paul));
    let readme = include_str!("../../../examples/records/README.md");
    for (name, number) in [
        ("Jean Exemple", "756.9217.0769.85"),
        ("Marie Muster", "756.1234.5678.97"),
        ("Luca Beispiel", "756.4803.1520.74"),
        ("Nadia Modèle", "756.6620.1834.53"),
        ("Paul Specimen", "756.3055.7112.99"),
    ] {
        assert!(readme.contains(&format!("| {name} | {number} |")), "{name}");
    }

    let e = parse_csv(include_bytes!("../../../examples/records/bad-persons.csv")).unwrap_err();
    let got: Vec<(usize, &str)> = e
        .problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    let want = [
        (3, "check digit"),
        (4, "name is missing"),
        (5, "birth date"),
        (6, "756"),
        (7, "already listed at line 2"),
        (8, "columns"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((gl, gr), (wl, wr)) in got.iter().zip(want) {
        assert!(*gl == wl && gr.contains(wr), "{gl} {gr}");
    }
}

fn arb_set() -> impl Strategy<Value = RecordSet> {
    let avs = proptest::array::uniform9(0u8..10).prop_map(|body| {
        let mut first12 = [7, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        first12[3..].copy_from_slice(&body);
        let digits: String = first12
            .iter()
            .chain([protocol_spec::avs::check_digit(&first12)].iter())
            .map(|d| char::from(b'0' + d))
            .collect();
        digits.parse::<Avs>().unwrap()
    });
    let person = (
        avs.clone(),
        "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ ,'\"-]{0,30}[a-z]",
        1900u32..2100,
        1u32..13,
        1u32..29,
    )
        .prop_map(|(avs, name, y, m, d)| Person {
            avs,
            name,
            birth_date: format!("{y:04}-{m:02}-{d:02}"),
        });
    let field = (
        avs,
        proptest::sample::select(Category::ALL.to_vec()),
        "[a-z0-9_]{1,64}",
        "[^\\p{C}]{0,20}[a-z]",
    )
        .prop_map(|(avs, category, field, value)| RecordField {
            avs,
            category,
            field,
            value,
        });
    (
        proptest::collection::vec(person, 0..6),
        proptest::collection::vec(field, 0..8),
    )
        .prop_map(|(mut persons, mut fields)| {
            let mut seen = std::collections::BTreeSet::new();
            persons.retain(|p| seen.insert(p.avs.clone()));
            let mut seen = std::collections::BTreeSet::new();
            fields.retain(|f| seen.insert((f.avs.clone(), f.category, f.field.clone())));
            for f in &mut fields {
                f.value = f.value.trim().to_string();
            }
            RecordSet { persons, fields }
        })
}

fn to_csv(header: &str, rows: Vec<Vec<String>>, delimiter: u8) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    w.write_record(header.split(',')).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

proptest! {
    #[test]
    fn valid_sets_round_trip_through_both_formats(set in arb_set(), semicolons in any::<bool>()) {
        prop_assert!(set.validate().is_ok());
        let d = if semicolons { b';' } else { b',' };
        let persons = to_csv(
            CsvKind::Persons.header(),
            set.persons.iter().map(|p| vec![p.avs.to_string(), p.name.clone(), p.birth_date.clone()]).collect(),
            d,
        );
        let fields = to_csv(
            CsvKind::Fields.header(),
            set.fields.iter().map(|f| vec![f.avs.digits(), f.category.to_string(), f.field.clone(), f.value.clone()]).collect(),
            d,
        );
        let mut back = parse_csv(&persons).unwrap();
        back.merge(parse_csv(&fields).unwrap());
        prop_assert_eq!(&back, &set);

        // JSON: persons with their own fields; fields of persons not in the set are left out.
        let mut json = Vec::new();
        for p in &set.persons {
            let mut records: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for f in set.fields.iter().filter(|f| f.avs == p.avs) {
                records.entry(f.category.to_string()).or_default().insert(f.field.clone(), f.value.clone());
            }
            json.push(serde_json::json!({"avs": p.avs.to_string(), "name": p.name, "birth_date": p.birth_date, "records": records}));
        }
        let text = serde_json::to_vec_pretty(&serde_json::json!({"persons": json})).unwrap();
        let back = parse_json(&text).unwrap();
        prop_assert_eq!(&back.persons, &set.persons);
        let mut want: Vec<&RecordField> = set.fields.iter().filter(|f| set.persons.iter().any(|p| p.avs == f.avs)).collect();
        let mut got: Vec<&RecordField> = back.fields.iter().collect();
        let key = |f: &&RecordField| (f.avs.clone(), f.category, f.field.clone());
        want.sort_by_key(key);
        got.sort_by_key(key);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for r in [parse_csv(&bytes), parse_json(&bytes)] {
            match r {
                Ok(set) => prop_assert!(set.validate().is_ok()),
                Err(e) => prop_assert!(!e.problems.is_empty()),
            }
        }
    }

    #[test]
    fn mangled_csv_never_panics(
        rows in proptest::collection::vec(proptest::collection::vec("[0-9.,;\"a-z\\- \n]{0,16}", 0..6), 0..8),
        fields in any::<bool>(),
    ) {
        let header = if fields { CsvKind::Fields.header() } else { CsvKind::Persons.header() };
        let mut text = format!("{header}\n");
        for r in rows {
            text.push_str(&r.join(","));
            text.push('\n');
        }
        if let Err(e) = parse_csv(text.as_bytes()) {
            prop_assert!(e.problems.iter().all(|p| p.line >= 1 && p.line <= text.lines().count() + 1));
        }
    }

    #[test]
    fn json_positions_match_serde(set in arb_set()) {
        // Every person's line is where its object starts, whatever the layout.
        let persons: Vec<Value> = set.persons.iter().map(|p| serde_json::json!({"avs": p.avs.digits(), "name": p.name, "birth_date": p.birth_date})).collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({"persons": persons})).unwrap();
        let pos = Scanner::positions(text.as_bytes());
        let lines: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.trim() == "{").map(|(i, _)| i + 1).skip(1).collect();
        let got: Vec<usize> = pos.kids.first().map(|p| p.kids.iter().map(|k| k.line).collect()).unwrap_or_default();
        prop_assert_eq!(got, lines);
    }
}
