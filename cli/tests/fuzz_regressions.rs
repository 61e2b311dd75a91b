//! Inputs the fuzz targets (`fuzz/`) found a decoder mishandling, minimised, kept so the fix
//! stays fixed. Each test names the target that found it.

use cli::records::parse_file;
use protocol_spec::records::ImportError;

/// Every reason of a refused import.
fn reasons(name: &str, input: &str) -> Vec<String> {
    let e: ImportError = parse_file(name, input.as_bytes()).expect_err("the import is refused");
    e.problems.into_iter().map(|p| p.reason).collect()
}

/// records_csv: a social insurance number in the category column was quoted back as an unknown
/// category (`spec/records.md` §6: reasons never repeat a number, name, date or value).
#[test]
fn csv_number_in_the_category_column_is_not_echoed() {
    let r = reasons(
        "fields.csv",
        "avs,category,field,value\n7569217076985,7569217076985,status,x\n",
    );
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("unknown data category ("), "{r:?}");
    assert!(!r[0].contains("7569217076985"), "{r:?}");
}

/// records_csv: a valid field name that is a social insurance number was quoted back when the
/// field was given twice.
#[test]
fn csv_number_as_a_repeated_field_name_is_not_echoed() {
    let r = reasons(
        "fields.csv",
        "avs,category,field,value\n\
         7569217076985,employment,7569217076985,a\n\
         7569217076985,employment,7569217076985,b\n",
    );
    assert_eq!(
        r,
        ["field of employment already given for this person at line 2"]
    );
}

/// records_json: a birth date used as a key was quoted back as an unknown key.
#[test]
fn json_date_as_a_key_is_not_echoed() {
    let r = reasons(
        "persons.json",
        r#"{"persons":[{"avs":"7569217076985","name":"A","birth_date":"1978-04-12","1978-04-12":"x"}]}"#,
    );
    assert_eq!(r, ["unknown key in a person"]);
}

/// records_json: a social insurance number used as a field name was quoted back when its value
/// was not a string.
#[test]
fn json_number_as_a_field_name_is_not_echoed() {
    let r = reasons(
        "persons.json",
        r#"{"persons":[{"avs":"7569217076985","name":"A","birth_date":"1978-04-12",
            "records":{"employment":{"7569217076985":1}}}]}"#,
    );
    assert_eq!(r, ["the value must be a string, found a number"]);
}

/// Schema words are still quoted, so a typo is easy to spot.
#[test]
fn schema_tokens_are_still_quoted() {
    let r = reasons(
        "fields.csv",
        "avs,category,field,value\n7569217076985,salary,amount,100\n",
    );
    assert!(r[0].starts_with("unknown data category `salary`"), "{r:?}");
}
