//! Auditor logic over parsed log entries: reconciling two nodes' logs (every disclosure has its
//! receipt and the other way round) and a person's access report. Verification of the logs
//! themselves (signatures, proofs) comes first and is done with [`crate::tlog`].

use crate::avs::Avs;
use crate::entry::Entry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

/// One node's log as an auditor holds it after verification.
pub struct LogView {
    /// Institution whose log this is.
    pub institution: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Institution whose log holds the entry that has no counterpart.
    pub institution: String,
    pub index: u64,
    pub kind: String,
    /// The other institution, in whose log the counterpart is missing.
    pub counterpart: String,
    pub request: String,
    pub what: String,
}

/// Lists every disclosure without its receipt and every receipt without its disclosure,
/// in both directions between the two logs. Entries are matched on the request digest and
/// the sealed summary's digest, which both sides record.
pub fn reconcile(a: &LogView, b: &LogView) -> Vec<Difference> {
    let mut out = Vec::new();
    for (from, to) in [(a, b), (b, a)] {
        for (i, e) in from.entries.iter().enumerate() {
            let (other_kind, peer_key, what) = match e.kind.as_str() {
                "disclosure" => (
                    "receipt",
                    "recipient",
                    "disclosure without a receipt at the recipient",
                ),
                "receipt" => (
                    "disclosure",
                    "source",
                    "receipt without a disclosure at the source",
                ),
                _ => continue,
            };
            if e.get(peer_key) != Some(to.institution.as_str()) {
                continue;
            }
            let (request, summary) = (e.get("request"), e.get("summary"));
            let counterpart_key = if other_kind == "receipt" {
                "source"
            } else {
                "recipient"
            };
            let found = to.entries.iter().any(|o| {
                o.kind == other_kind
                    && o.get(counterpart_key) == Some(from.institution.as_str())
                    && o.get("request") == request
                    && o.get("summary") == summary
            });
            if !found {
                out.push(Difference {
                    institution: from.institution.clone(),
                    index: i as u64,
                    kind: e.kind.clone(),
                    counterpart: to.institution.clone(),
                    request: request.unwrap_or("-").to_string(),
                    what: what.to_string(),
                });
            }
        }
    }
    out
}

/// One line of a person's access report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// Institution whose log recorded it.
    pub logged_by: String,
    pub index: u64,
    pub time: u64,
    pub kind: String,
    /// The other institution involved (recipient, requester, source), if any.
    pub peer: Option<String>,
    pub purpose: Option<String>,
    pub categories: Option<String>,
    pub consent: Option<String>,
    pub code: Option<String>,
    pub staff: Option<String>,
}

/// Whether an entry's `person` field is a commitment to `person`.
pub fn names_person(entry: &Entry, person: &Avs) -> bool {
    let Some(field) = entry.get("person") else {
        return false;
    };
    let mut parts = field.split(' ');
    let (Some(salt), Some(commitment), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(commitment)) = (B64.decode(salt), B64.decode(commitment)) else {
        return false;
    };
    let Ok(salt) = <[u8; 32]>::try_from(salt.as_slice()) else {
        return false;
    };
    person.commitment(&salt).as_slice() == commitment.as_slice()
}

/// Everything the logs say about `person`: who received which categories, when, for which
/// purpose, under which consent, the refused attempts, and who opened what.
pub fn person_report(person: &Avs, logs: &[LogView]) -> Vec<Access> {
    let mut out = Vec::new();
    for log in logs {
        for (i, e) in log.entries.iter().enumerate() {
            if !names_person(e, person) {
                continue;
            }
            let peer = ["recipient", "requester", "source", "author"]
                .iter()
                .find_map(|k| e.get(k))
                .map(str::to_string);
            let get = |k: &str| e.get(k).map(str::to_string);
            out.push(Access {
                logged_by: log.institution.clone(),
                index: i as u64,
                time: e.time,
                kind: e.kind.clone(),
                peer,
                purpose: get("purpose"),
                categories: get("categories"),
                consent: get("consent"),
                code: get("code").or_else(|| get("detail")),
                staff: get("staff"),
            });
        }
    }
    out.sort_by(|a, b| (a.time, &a.logged_by, a.index).cmp(&(b.time, &b.logged_by, b.index)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::person_field;

    fn disclosure(to: &str, req: &str, person: &Avs) -> Entry {
        Entry::new(
            "disclosure",
            10,
            vec![
                "c".into(),
                person_field(Some(person), [1; 32]),
                to.into(),
                "assess".into(),
                "employment".into(),
                "k".into(),
                req.into(),
                "s".into(),
            ],
        )
        .unwrap()
    }

    fn receipt(from: &str, req: &str, person: &Avs) -> Entry {
        Entry::new(
            "receipt",
            11,
            vec![
                "c".into(),
                person_field(Some(person), [2; 32]),
                from.into(),
                "assess".into(),
                "employment".into(),
                "k".into(),
                req.into(),
                "s".into(),
                "0 00".into(),
                "w".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn reconcile_finds_dropped_receipts_and_phantom_receipts() {
        let p: Avs = "7569217076985".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![
                disclosure("ne.oai", "r1", &p),
                disclosure("ne.oai", "r2", &p),
            ],
        };
        let b = LogView {
            institution: "ne.oai".into(),
            entries: vec![receipt("ne.orp", "r1", &p), receipt("ne.orp", "r3", &p)],
        };
        let d = reconcile(&a, &b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d.iter()
                .any(|x| x.institution == "ne.orp" && x.request == "r2")
        );
        assert!(
            d.iter()
                .any(|x| x.institution == "ne.oai" && x.request == "r3")
        );
    }

    #[test]
    fn person_report_recomputes_commitments() {
        let p: Avs = "7569217076985".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![disclosure("ne.oai", "r1", &p)],
        };
        let r = person_report(&p, &[a]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].peer.as_deref(), Some("ne.oai"));
        let other: Avs = "7561234567897".parse().unwrap();
        let a = LogView {
            institution: "ne.orp".into(),
            entries: vec![disclosure("ne.oai", "r1", &p)],
        };
        assert!(person_report(&other, &[a]).is_empty());
    }
}
