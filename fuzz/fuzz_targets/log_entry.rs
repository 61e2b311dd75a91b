#![no_main]
//! Log entries as auditors read them: `check` and `parse` agree, a parsed entry writes back
//! the same bytes, and the auditor's reconcile and person report take it without panicking.

use libfuzzer_sys::fuzz_target;
use protocol_spec::audit::{LogView, names_person, person_report, reconcile};
use protocol_spec::avs::Avs;
use protocol_spec::entry::LogEntry;

fuzz_target!(|bytes: &[u8]| {
    let parsed = LogEntry::parse(bytes);
    assert_eq!(LogEntry::check(bytes).is_ok(), parsed.is_ok());
    let Ok(entry) = parsed else {
        return;
    };
    assert_eq!(entry.to_bytes(), bytes);
    let person: Avs = "7569217076985".parse().expect("a valid number");
    let _ = names_person(&entry, &person);
    let a = LogView {
        institution: "ne.orp".into(),
        entries: vec![entry.clone()],
    };
    let b = LogView {
        institution: "ne.oai".into(),
        entries: vec![entry],
    };
    let _ = reconcile(&a, &b);
    let _ = person_report(&person, &[a, b]);
});
