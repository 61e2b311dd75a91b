use super::*;
use crate::avs::Avs;
use crate::category::Category;
use crate::exchange::RefusalCode;
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, Role, StaffId};
use base64::Engine;
use proptest::prelude::*;

fn roster() -> LogEntry {
    LogEntry::Roster(Roster {
        time: 17,
        version: 3,
        digest: [0xab; 32],
    })
}

fn refusal_text() -> String {
    format!(
        "{ENTRY_HEADER}\nkind refusal\ntime 5\ncase {}\nperson -\nrequester ne.sas\npurpose action-plan\ncategories employment,health\ncode not-concerned\nrequest {}\n",
        "11".repeat(16),
        "22".repeat(32)
    )
}

#[test]
fn an_entry_is_written_in_the_spec_order() {
    let text = format!(
        "{ENTRY_HEADER}\nkind roster\ntime 17\nversion 3\ndigest {}\n",
        "ab".repeat(32)
    );
    assert_eq!(roster().to_bytes(), text.as_bytes());
    assert_eq!(LogEntry::parse(text.as_bytes()).unwrap(), roster());
}

/// transparency-log.md §7.6: a declared loss, key by key.
#[test]
fn a_log_loss_is_written_as_the_spec_shows() {
    let loss: LogEntry = LogLoss {
        time: 1_795_305_600,
        kept: 30,
        kept_root: [0xab; 32],
        cosigned: 42,
        witness: "ne.oai".parse().unwrap(),
        former_key: [0x0c; 32],
    }
    .into();
    let text = format!(
        "{ENTRY_HEADER}\nkind log-loss\ntime 1795305600\nkept 30\nkept-root {}\ncosigned 42\n\
         witness ne.oai\nformer-key {}\n",
        "ab".repeat(32),
        "0c".repeat(32)
    );
    assert_eq!(String::from_utf8(loss.to_bytes()).unwrap(), text);
    assert_eq!(LogEntry::parse(text.as_bytes()).unwrap(), loss);
    assert!(loss.person().is_none() && loss.request().is_none());
    let swapped = text.replace("kept 30\nkept-root", "kept-root");
    assert!(LogEntry::parse(swapped.as_bytes()).is_err());
}

#[test]
fn a_refusal_parses_into_its_typed_fields() {
    let LogEntry::Refusal(r) = LogEntry::parse(refusal_text().as_bytes()).unwrap() else {
        panic!("a refusal");
    };
    assert_eq!(r.case, CaseId([0x11; 16]));
    assert_eq!(r.person, Person::Unnamed);
    assert_eq!(r.requester.as_str(), "ne.sas");
    assert_eq!(r.categories, vec![Category::Employment, Category::Health]);
    assert_eq!(r.code, RefusalCode::NotConcerned);
    assert_eq!(r.request, [0x22; 32]);
}

/// What a refused entry's error must say.
type Check = Box<dyn Fn(&EntryError) -> bool>;

/// Each mutation of a valid refusal, and the error that must name what is wrong.
#[test]
fn parse_refuses_anything_outside_the_grammar() {
    let good = refusal_text();
    let value = |key: &'static str| move |e: &EntryError| matches!(e, EntryError::Value { key: k, .. } if *k == key);
    let wrong = |expected: &'static str| move |e: &EntryError| matches!(e, EntryError::WrongKey { expected: x, .. } if *x == expected);
    let cases: Vec<(String, Check)> = vec![
        (
            good.replace("v1", "v2"),
            Box::new(|e| *e == EntryError::Header),
        ),
        (
            good.trim_end().to_string(),
            Box::new(|e| *e == EntryError::Header),
        ),
        (
            good.replace("time 5", "time 05"),
            Box::new(|e| *e == EntryError::Time),
        ),
        (
            good.replace("time 5", "time +5"),
            Box::new(|e| *e == EntryError::Time),
        ),
        (
            good.replace("kind refusal", "kind gossip"),
            Box::new(|e| matches!(e, EntryError::UnknownKind(k) if k == "gossip")),
        ),
        (good.replace("person -\n", ""), Box::new(wrong("person"))),
        (good.clone() + "staff ana\n", Box::new(wrong("(end)"))),
        (good.replace("code ", "code  "), Box::new(value("code"))),
        (
            good.replace("code not-concerned", "code nope"),
            Box::new(value("code")),
        ),
        (
            good.replace(&"22".repeat(32), &"2".repeat(63)),
            Box::new(value("request")),
        ),
        (
            good.replace(&"22".repeat(32), &"AA".repeat(32)),
            Box::new(value("request")),
        ),
        (
            good.replace(&"11".repeat(16), &"1".repeat(33)),
            Box::new(value("case")),
        ),
        (
            good.replace("ne.sas", "NE.SAS"),
            Box::new(value("requester")),
        ),
        (
            good.replace("employment,health", "employment,"),
            Box::new(value("categories")),
        ),
        (
            good.replace("employment,health", ""),
            Box::new(value("categories")),
        ),
        (
            good.replace("person -", "person - -"),
            Box::new(value("person")),
        ),
        (
            good.replace("person -", "person AAAA AAAA"),
            Box::new(value("person")),
        ),
    ];
    for (text, expected) in cases {
        assert!(!LogEntry::well_formed(text.as_bytes()), "{text:?}");
        assert!(LogEntry::check(text.as_bytes()).is_err(), "{text:?}");
        let err = LogEntry::parse(text.as_bytes()).expect_err(&text);
        assert!(expected(&err), "{text:?}: {err}");
        // The error names the key at fault in words a log reader understands.
        if let EntryError::Value { key, .. } = &err {
            assert!(err.to_string().contains(&format!("key `{key}`")));
        }
    }
    assert_eq!(
        LogEntry::parse(&vec![b'a'; MAX_ENTRY_LEN + 1]),
        Err(EntryError::TooLong)
    );
}

#[test]
fn free_text_stays_on_one_line() {
    assert!(Text::new("fork\nkind roster").is_err());
    assert!(Text::new(&"x".repeat(Text::MAX + 1)).is_err());
    assert!(Text::new("two checkpoints of size 9").is_ok());
}

#[test]
fn person_commitment_is_recomputable_and_hides_the_number() {
    let p: Avs = "7569217076985".parse().unwrap();
    let named = Person::commit(Some(&p), [4; 32]);
    assert!(!named.encode().contains("7569217076985"));
    assert!(named.names(&p));
    assert!(
        !Person::commit(Some(&p), [5; 32])
            .encode()
            .eq(&named.encode())
    );
    assert!(!Person::commit(None, [4; 32]).names(&p));
    assert_eq!(Person::commit(None, [4; 32]).encode(), "-");
}

fn institution() -> impl Strategy<Value = InstitutionId> {
    prop::sample::select(vec!["ne.orp", "ne.sas", "ge.oai.x", "vd.smig.a.b"])
        .prop_map(|s| s.parse().unwrap())
}

fn purpose() -> impl Strategy<Value = Purpose> {
    "[a-z0-9][a-z0-9-]{0,20}".prop_map(|s| s.parse().unwrap())
}

fn staff() -> impl Strategy<Value = StaffId> {
    "[a-z0-9][a-z0-9-]{0,20}".prop_map(|s| s.parse().unwrap())
}

fn categories() -> impl Strategy<Value = Vec<Category>> {
    prop::collection::vec(prop::sample::select(Category::ALL.to_vec()), 0..4)
}

fn person() -> impl Strategy<Value = Person> {
    prop_oneof![
        Just(Person::Unnamed),
        (any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(salt, commitment)| Person::Committed { salt, commitment }),
    ]
}

fn text() -> impl Strategy<Value = Text> {
    "[ -~]{0,60}".prop_map(|s| Text::new(&s).unwrap())
}

fn code() -> impl Strategy<Value = RefusalCode> {
    prop::sample::select(RefusalCode::ALL.to_vec())
}

fn detail() -> impl Strategy<Value = CaseDetail> {
    prop_oneof![
        Just(CaseDetail::Opened),
        institution().prop_map(CaseDetail::Invited),
        Just(CaseDetail::Accepted),
        Just(CaseDetail::Left),
        Just(CaseDetail::Closed),
        (
            any::<[u8; 16]>(),
            prop::collection::vec(purpose(), 1..3),
            categories(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(c, purposes, categories, valid_from, valid_until)| {
                CaseDetail::ConsentRecorded {
                    consent: ConsentId(c),
                    purposes,
                    categories,
                    valid_from,
                    valid_until,
                }
            }),
        any::<[u8; 16]>().prop_map(|c| CaseDetail::ConsentRevoked(ConsentId(c))),
    ]
}

fn entry() -> impl Strategy<Value = LogEntry> {
    let t = any::<u64>();
    let case = any::<[u8; 16]>().prop_map(CaseId);
    let d = any::<[u8; 32]>();
    prop_oneof![
        (
            t,
            case.clone(),
            person(),
            institution(),
            purpose(),
            categories(),
            any::<[u8; 16]>(),
            d,
            d
        )
            .prop_map(
                |(time, case, person, recipient, purpose, categories, c, request, summary)| {
                    Disclosure {
                        time,
                        case,
                        person,
                        recipient,
                        purpose,
                        categories,
                        consent: ConsentId(c),
                        request,
                        summary,
                    }
                    .into()
                }
            ),
        (
            t,
            case.clone(),
            person(),
            institution(),
            purpose(),
            categories(),
            code(),
            d
        )
            .prop_map(
                |(time, case, person, requester, purpose, categories, code, request)| {
                    Refusal {
                        time,
                        case,
                        person,
                        requester,
                        purpose,
                        categories,
                        code,
                        request,
                    }
                    .into()
                }
            ),
        (
            t,
            case.clone(),
            person(),
            institution(),
            purpose(),
            categories(),
            any::<[u8; 16]>(),
            (d, d),
            (any::<u64>(), d),
            staff()
        )
            .prop_map(
                |(
                    time,
                    case,
                    person,
                    source,
                    purpose,
                    categories,
                    c,
                    (request, summary),
                    (index, hash),
                    staff,
                )| {
                    Receipt {
                        time,
                        case,
                        person,
                        source,
                        purpose,
                        categories,
                        consent: ConsentId(c),
                        request,
                        summary,
                        source_leaf: SourceLeaf { index, hash },
                        staff,
                    }
                    .into()
                }
            ),
        (
            t,
            case.clone(),
            person(),
            institution(),
            purpose(),
            categories(),
            code(),
            (d, staff())
        )
            .prop_map(
                |(time, case, person, source, purpose, categories, code, (request, staff))| {
                    RefusedByPeer {
                        time,
                        case,
                        person,
                        source,
                        purpose,
                        categories,
                        code,
                        request,
                        staff,
                    }
                    .into()
                }
            ),
        (t, case.clone(), person(), institution(), d, staff()).prop_map(
            |(time, case, person, source, summary, staff)| {
                SummaryOpened {
                    time,
                    case,
                    person,
                    source,
                    summary,
                    staff,
                }
                .into()
            }
        ),
        (
            t,
            case.clone(),
            person(),
            institution(),
            any::<[u8; 16]>(),
            detail(),
            staff()
        )
            .prop_map(|(time, case, person, author, e, detail, staff)| {
                CaseEvent {
                    time,
                    case,
                    person,
                    author,
                    event: EventId(e),
                    detail,
                    staff,
                }
                .into()
            }),
        (t, any::<u64>(), d).prop_map(|(time, version, digest)| Roster {
            time,
            version,
            digest
        }
        .into()),
        (t, text(), d, d, text()).prop_map(|(time, origin, cosigned, offered, problem)| {
            WitnessEvidence {
                time,
                origin,
                cosigned,
                offered,
                problem,
            }
            .into()
        }),
        (
            t,
            staff(),
            prop::sample::select(Role::ALL.to_vec()),
            prop::sample::select(StaffAction::ALL.to_vec()),
            staff()
        )
            .prop_map(|(time, staff, role, action, by)| Staff {
                time,
                staff,
                role,
                action,
                by
            }
            .into()),
        (t, any::<u64>(), any::<u64>(), d, staff()).prop_map(
            |(time, persons, fields, digest, by)| {
                RecordsImported {
                    time,
                    persons,
                    fields,
                    digest,
                    by,
                }
                .into()
            }
        ),
        (
            t,
            case,
            person(),
            institution(),
            d,
            prop::sample::select(WithdrawalReason::ALL.to_vec()),
            staff()
        )
            .prop_map(|(time, case, person, source, request, reason, staff)| {
                RequestWithdrawn {
                    time,
                    case,
                    person,
                    source,
                    request,
                    reason,
                    staff,
                }
                .into()
            }),
        (t, any::<u64>(), d, any::<u64>(), institution(), d).prop_map(
            |(time, kept, kept_root, cosigned, witness, former_key)| {
                LogLoss {
                    time,
                    kept,
                    kept_root,
                    cosigned,
                    witness,
                    former_key,
                }
                .into()
            }
        ),
        (t, 1900u16..=9999, 1u8..=12, any::<u64>(), institution(), d).prop_map(
            |(time, year, month, sequence, dashboard, digest)| {
                StatsSent {
                    time,
                    month: crate::stats::Month::new(year, month).unwrap(),
                    sequence,
                    dashboard,
                    digest,
                }
                .into()
            }
        ),
        (t, institution(), 1900u16..=9999, 1u8..=12, any::<u64>(), d).prop_map(
            |(time, institution, year, month, sequence, digest)| {
                StatsReceived {
                    time,
                    institution,
                    month: crate::stats::Month::new(year, month).unwrap(),
                    sequence,
                    digest,
                }
                .into()
            }
        ),
        (
            t,
            d,
            1900u16..=9999,
            1u8..=12,
            any::<u64>(),
            prop::collection::vec(institution(), 0..5),
            text()
        )
            .prop_map(
                |(time, round, year, month, attempt, participants, reason)| {
                    PsiRound {
                        time,
                        round,
                        month: crate::stats::Month::new(year, month).unwrap(),
                        attempt,
                        participants: Institutions(participants),
                        reason,
                    }
                    .into()
                }
            ),
        (
            t,
            d,
            institution(),
            any::<u64>(),
            prop::sample::select(PsiDirection::ALL.to_vec()),
            institution(),
            any::<u64>(),
            d
        )
            .prop_map(
                |(time, round, origin, hop, direction, peer, size, digest)| {
                    PsiSet {
                        time,
                        round,
                        origin,
                        hop,
                        direction,
                        peer,
                        size,
                        digest,
                    }
                    .into()
                }
            ),
        (t, d, institution(), any::<u64>(), institution(), text()).prop_map(
            |(time, round, origin, hop, peer, reason)| {
                PsiRefused {
                    time,
                    round,
                    origin,
                    hop,
                    peer,
                    reason,
                }
                .into()
            }
        ),
        (t, d, d, text()).prop_map(|(time, round, digest, sizes)| {
            PsiOutcome {
                time,
                round,
                digest,
                sizes,
            }
            .into()
        }),
        (t, d, prop::sample::select(PsiEndReason::ALL.to_vec())).prop_map(
            |(time, round, reason)| PsiEnd {
                time,
                round,
                reason,
            }
            .into()
        ),
    ]
}

/// The kinds of protocol.md §11 and their keys after `time`, from its table, in order.
fn spec_kinds() -> Vec<(String, Vec<String>)> {
    let spec = include_str!("../../spec/protocol.md");
    let section = &spec[spec.find("## 11. Log entries").expect("§11")..];
    let section = &section[..section.find("\n## 12.").expect("§12 follows")];
    section
        .lines()
        .skip_while(|l| !l.starts_with("| kind |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let kind = cells[1].trim_matches('`').to_string();
            let keys = cells[cells.len() - 2].trim_matches('`');
            (kind, keys.split(' ').map(String::from).collect())
        })
        .collect()
}

#[test]
fn the_kinds_are_those_of_the_spec_in_its_order() {
    let kinds: Vec<String> = spec_kinds().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, LogEntry::KINDS);
}

proptest! {
    #[test]
    fn every_entry_has_the_keys_the_spec_lists_for_its_kind(e in entry()) {
        let text = String::from_utf8(e.to_bytes()).unwrap();
        let keys: Vec<String> = text
            .lines()
            .skip(3)
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        let spec = spec_kinds();
        let (_, want) = spec.iter().find(|(k, _)| k == e.kind()).expect("kind in the spec");
        prop_assert_eq!(&keys, want);
    }

    #[test]
    fn every_entry_round_trips_byte_for_byte(e in entry()) {
        let bytes = e.to_bytes();
        prop_assert!(bytes.len() <= MAX_ENTRY_LEN);
        let parsed = LogEntry::parse(&bytes).unwrap();
        prop_assert_eq!(&parsed, &e);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    #[test]
    fn the_fast_check_accepts_exactly_what_parse_accepts(
        e in entry(),
        at in any::<prop::sample::Index>(),
        change in 0u8..4,
        b in prop::sample::select(b"0a9fAF+/=- ,.\n\x00\xc3x".to_vec()),
    ) {
        // The entry as written, then with one byte replaced, inserted, removed or a line
        // duplicated, in bytes the grammar cares about: the fast check never accepts what
        // parse refuses, and misses nothing parse accepts.
        let mut bytes = e.to_bytes();
        prop_assert!(LogEntry::well_formed(&bytes));
        let i = at.index(bytes.len());
        match change {
            0 => bytes[i] = b,
            1 => bytes.insert(i, b),
            2 => {
                bytes.remove(i);
            }
            _ => {
                let start = bytes[..i].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
                let end = i + bytes[i..].iter().position(|c| *c == b'\n').map_or(0, |p| p + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(end..end, line);
            }
        }
        prop_assert_eq!(LogEntry::well_formed(&bytes), LogEntry::parse(&bytes).is_ok());
        prop_assert_eq!(LogEntry::check(&bytes).is_ok(), LogEntry::parse(&bytes).is_ok());
    }

    #[test]
    fn a_parsed_entry_re_encodes_to_its_bytes(e in entry(), cut in any::<prop::sample::Index>(), b in any::<u8>()) {
        // Any one-byte change either is refused or yields an entry with that exact encoding.
        let mut bytes = e.to_bytes();
        let i = cut.index(bytes.len());
        bytes[i] = b;
        if let Ok(parsed) = LogEntry::parse(&bytes) {
            prop_assert_eq!(parsed.to_bytes(), bytes);
        }
    }
}

/// What `is_canonical` must equal for every type: the value decodes and encodes back the same.
fn round_trips<T: Value>(text: &str) -> bool {
    T::decode(text).is_ok_and(|v| v.encode() == text)
}

proptest! {
    #[test]
    fn fast_value_checks_equal_decoding_and_encoding_back(
        b64 in "[A-Za-z0-9+/=]{42,45}",
        b64_2 in "[A-Za-z0-9+/=]{44}",
        digits in "[0-9]{0,21}",
        hex in "[0-9a-fA-F ]{30,66}",
        token in "[a-z0-9.,-]{0,20}",
    ) {
        // Person: two base64 texts of 32 bytes; the last data character carries 2 zero bits.
        let person = format!("{b64} {b64_2}");
        prop_assert_eq!(Person::is_canonical(person.as_bytes()), round_trips::<Person>(&person));
        let half = format!("{b64} {}", "A".repeat(43) + "=");
        prop_assert_eq!(Person::is_canonical(half.as_bytes()), round_trips::<Person>(&half));
        prop_assert_eq!(u64::is_canonical(digits.as_bytes()), round_trips::<u64>(&digits));
        prop_assert_eq!(<[u8; 32]>::is_canonical(hex.as_bytes()), round_trips::<[u8; 32]>(&hex));
        prop_assert_eq!(CaseId::is_canonical(hex.as_bytes()), round_trips::<CaseId>(&hex));
        let leaf = format!("{digits} {hex}");
        prop_assert_eq!(SourceLeaf::is_canonical(leaf.as_bytes()), round_trips::<SourceLeaf>(&leaf));
        prop_assert_eq!(InstitutionId::is_canonical(token.as_bytes()), round_trips::<InstitutionId>(&token));
        prop_assert_eq!(Purpose::is_canonical(token.as_bytes()), round_trips::<Purpose>(&token));
        prop_assert_eq!(
            Vec::<Category>::is_canonical(token.as_bytes()),
            round_trips::<Vec<Category>>(&token)
        );
    }
}

#[test]
fn fast_value_checks_at_their_edges() {
    for text in [
        "0",
        "00",
        "01",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999",
        "",
    ] {
        assert_eq!(
            u64::is_canonical(text.as_bytes()),
            round_trips::<u64>(text),
            "{text}"
        );
    }
    // 32 bytes end in a character whose 2 low bits are padding; 0xff.. ends in `8`, not `/`.
    let ones = base64::engine::general_purpose::STANDARD.encode([0xff; 32]);
    for last in ["8=", "/=", "9=", "A=", "AA", "8", "8=="] {
        let text = format!("{} {}{last}", ones, &ones[..42]);
        assert_eq!(
            Person::is_canonical(text.as_bytes()),
            round_trips::<Person>(&text),
            "{text}"
        );
    }
    assert!(Person::is_canonical(format!("{ones} {ones}").as_bytes()));
    for text in [
        "employment,health",
        "-",
        "employment,",
        ",",
        "employment,-",
        "EMPLOYMENT",
    ] {
        let ok = round_trips::<Vec<Category>>(text);
        assert_eq!(Vec::<Category>::is_canonical(text.as_bytes()), ok, "{text}");
    }
    for text in [
        "ne.oai",
        "ne",
        "a.b.c.d",
        "a.b.c.d.e",
        "ne..oai",
        "ne.-oai",
        "ne.oai.",
    ] {
        let ok = round_trips::<InstitutionId>(text);
        assert_eq!(InstitutionId::is_canonical(text.as_bytes()), ok, "{text}");
    }
}
