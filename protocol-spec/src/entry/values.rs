//! The value of each key of a log entry (spec §11, "Values"), with its one text form.
//! Every value is read back through [`Value::decode`] and must re-encode to the same text, so
//! a parsed entry has exactly one encoding and `to_bytes(parse(b)) == b` always holds.

use crate::avs::Avs;
use crate::case::DeclineReason;
use crate::category::Category;
use crate::exchange::RefusalCode;
use crate::ids::{CaseId, ConsentId, EventId, InstitutionId, Purpose, Role, StaffId};
use crate::stats::Month;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt;
use std::str::FromStr;

/// A value's text form; `decode` explains a refusal in words, the caller names the key.
pub trait Value: Sized {
    fn encode(&self) -> String;
    fn decode(text: &str) -> Result<Self, String>;

    /// Whether `text` is UTF-8 that decodes and is the value's one encoding, as an entry
    /// requires, without building the value where the type can tell (auditors check every
    /// entry of a log). Must equal `decode` succeeding with `encode() == text`, the default.
    fn is_canonical(text: &[u8]) -> bool {
        std::str::from_utf8(text).is_ok_and(|t| Self::decode(t).is_ok_and(|v| v.encode() == t))
    }

    /// Where a canonical value ends in `rest`, the bytes from the value to the entry's end:
    /// at the next newline, which types of fixed lengths find without searching. `None`
    /// when there is no newline or the value cannot be canonical.
    fn canonical_end(rest: &[u8]) -> Option<usize> {
        rest.iter().position(|b| *b == b'\n')
    }
}

/// `Value::canonical_end` for a value of one of `lens` lengths: it ends at one of them.
fn end_at(rest: &[u8], lens: &[usize]) -> Option<usize> {
    lens.iter()
        .copied()
        .find(|len| rest.get(*len) == Some(&b'\n'))
}

/// Types with a canonical `Display`/`FromStr` pair already; `$canonical` tells the one text
/// form without parsing.
macro_rules! by_display {
    ($($t:ty => $canonical:expr, $len:expr);*) => {$(
        impl Value for $t {
            fn encode(&self) -> String {
                self.to_string()
            }
            fn decode(text: &str) -> Result<Self, String> {
                text.parse().map_err(|e: <$t as FromStr>::Err| e.to_string())
            }
            fn is_canonical(text: &[u8]) -> bool {
                let canonical: fn(&[u8]) -> bool = $canonical;
                canonical(text)
            }
            fn canonical_end(rest: &[u8]) -> Option<usize> {
                match $len {
                    Some(len) => end_at(rest, &[len]),
                    None => rest.iter().position(|b| *b == b'\n'),
                }
            }
        }
    )*};
}
by_display!(
    CaseId => |t| is_lower_hex(t, 32), Some(32);
    ConsentId => |t| is_lower_hex(t, 32), Some(32);
    EventId => |t| is_lower_hex(t, 32), Some(32);
    InstitutionId => crate::ids::is_institution_id, None;
    Purpose => crate::ids::is_token_bytes, None;
    StaffId => crate::ids::is_token_bytes, None;
    Role => |t| Role::ALL.iter().any(|r| r.as_str().as_bytes() == t), None;
    Month => |t| std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse::<Month>().ok())
        .is_some_and(|m| m.to_string().as_bytes() == t), Some(7)
);

/// `len` lowercase hex digits: the one text form of a byte string of `len / 2` bytes.
fn is_lower_hex(text: &[u8], len: usize) -> bool {
    // No early exit, so the loop runs over whole vectors.
    text.len() == len
        && text.iter().fold(true, |ok, b| {
            ok & (b.is_ascii_digit() | (b'a'..=b'f').contains(b))
        })
}

/// Counts, versions and times: canonical decimal, digits only, no leading zero.
impl Value for u64 {
    fn encode(&self) -> String {
        self.to_string()
    }
    fn decode(text: &str) -> Result<Self, String> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{}` is not a decimal number", clip(text)));
        }
        text.parse()
            .map_err(|_| format!("`{}` does not fit in 64 bits", clip(text)))
    }
    fn is_canonical(text: &[u8]) -> bool {
        const MAX: &[u8] = b"18446744073709551615";
        !text.is_empty()
            && text.iter().all(u8::is_ascii_digit)
            && (text == b"0" || text[0] != b'0')
            // Digit strings of one length compare as their numbers.
            && (text.len() < MAX.len() || (text.len() == MAX.len() && text <= MAX))
    }
}

/// SHA-256 digests: 64 lowercase hex digits.
impl Value for [u8; 32] {
    fn encode(&self) -> String {
        hex::encode(self)
    }
    fn decode(text: &str) -> Result<Self, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map_err(|_| format!("`{}` is not 64 hex digits", clip(text)))?;
        Ok(out)
    }
    fn is_canonical(text: &[u8]) -> bool {
        is_lower_hex(text, 64)
    }
    fn canonical_end(rest: &[u8]) -> Option<usize> {
        end_at(rest, &[64])
    }
}

/// Categories joined by `,` in list order, `-` for none.
impl Value for Vec<Category> {
    fn encode(&self) -> String {
        categories_text(self)
    }
    fn decode(text: &str) -> Result<Self, String> {
        if text == "-" {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|c| c.parse::<Category>().map_err(|e| e.to_string()))
            .collect()
    }
    fn is_canonical(text: &[u8]) -> bool {
        text == b"-"
            || text
                .split(|b| *b == b',')
                .all(|c| Category::ALL.iter().any(|k| k.as_str().as_bytes() == c))
    }
}

impl Value for RefusalCode {
    fn encode(&self) -> String {
        self.as_str().to_string()
    }
    fn decode(text: &str) -> Result<Self, String> {
        RefusalCode::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| format!("unknown refusal code `{}`", clip(text)))
    }
    fn is_canonical(text: &[u8]) -> bool {
        RefusalCode::ALL
            .iter()
            .any(|c| c.as_str().as_bytes() == text)
    }
}

/// The text form of a category list, also used outside entries (request listings).
pub fn categories_text(categories: &[Category]) -> String {
    if categories.is_empty() {
        return "-".into();
    }
    let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    names.join(",")
}

/// Quotes at most 40 characters of a refused value, so an error stays one short line.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// How an entry names a person: not at all, or by a salted commitment to the person's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    Unnamed,
    Committed {
        salt: [u8; 32],
        commitment: [u8; 32],
    },
}

impl Person {
    /// Names `person`, if any, under a fresh `salt` drawn by the writer.
    pub fn commit(person: Option<&Avs>, salt: [u8; 32]) -> Person {
        match person {
            Some(p) => Person::Committed {
                salt,
                commitment: p.commitment(&salt),
            },
            None => Person::Unnamed,
        }
    }

    /// Whether this is a commitment to `person`; an auditor holding the number checks it.
    pub fn names(&self, person: &Avs) -> bool {
        match self {
            Person::Committed { salt, commitment } => person.commitment(salt) == *commitment,
            Person::Unnamed => false,
        }
    }
}

impl Value for Person {
    fn encode(&self) -> String {
        match self {
            Person::Unnamed => "-".into(),
            Person::Committed { salt, commitment } => {
                format!("{} {}", B64.encode(salt), B64.encode(commitment))
            }
        }
    }
    fn decode(text: &str) -> Result<Self, String> {
        if text == "-" {
            return Ok(Person::Unnamed);
        }
        let bytes32 = |part: &str| -> Result<[u8; 32], String> {
            B64.decode(part)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("`{}` is not 32 bytes in base64", clip(part)))
        };
        let (salt, commitment) = text
            .split_once(' ')
            .ok_or("expected `-` or `<salt> <commitment>`")?;
        Ok(Person::Committed {
            salt: bytes32(salt)?,
            commitment: bytes32(commitment)?,
        })
    }
    fn is_canonical(text: &[u8]) -> bool {
        // `-`, or two base64 texts of 44 characters and a space between.
        text == b"-"
            || (text.len() == 89
                && text[44] == b' '
                && is_base64_32(&text[..44])
                && is_base64_32(&text[45..]))
    }
    fn canonical_end(rest: &[u8]) -> Option<usize> {
        // `-`, or two base64 texts of 44 characters and a space.
        end_at(rest, &[1, 89])
    }
}

/// Whether `text` is the one standard base64 text of 32 bytes, which `Person`'s `decode`
/// then `encode` give back unchanged: 43 characters of the alphabet and one `=`, the last
/// character holding the last 4 bits and 2 zero bits.
fn is_base64_32(b: &[u8]) -> bool {
    /// Each byte's 6-bit value in the standard alphabet, `NOT` for bytes outside it.
    const NOT: u8 = 0xff;
    const SEXTET: [u8; 256] = {
        let mut t = [NOT; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    b.len() == 44
        && b[43] == b'='
        && b[..42]
            .iter()
            .fold(true, |ok, c| ok & (SEXTET[usize::from(*c)] != NOT))
        && SEXTET[usize::from(b[42])] & 0b1100_0011 == 0
}

/// The responder's leaf for a disclosure, as its reply named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLeaf {
    pub index: u64,
    pub hash: [u8; 32],
}

impl Value for SourceLeaf {
    fn encode(&self) -> String {
        format!("{} {}", self.index, hex::encode(self.hash))
    }
    fn decode(text: &str) -> Result<Self, String> {
        let (index, hash) = text
            .split_once(' ')
            .ok_or("expected `<leaf index> <leaf hash>`")?;
        Ok(SourceLeaf {
            index: u64::decode(index)?,
            hash: <[u8; 32]>::decode(hash)?,
        })
    }
    fn is_canonical(text: &[u8]) -> bool {
        text.iter()
            .position(|b| *b == b' ')
            .is_some_and(|at| u64::is_canonical(&text[..at]) && is_lower_hex(&text[at + 1..], 64))
    }
}

/// Free text (a checkpoint origin, a witness's problem): one line, bounded so that no entry
/// can outgrow the 65 535-byte limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub const MAX: usize = 4096;

    pub fn new(text: &str) -> Result<Text, String> {
        if text.contains('\n') {
            Err("contains a newline".into())
        } else if text.len() > Text::MAX {
            Err(format!("is longer than {} bytes", Text::MAX))
        } else {
            Ok(Text(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Value for Text {
    fn encode(&self) -> String {
        self.0.clone()
    }
    fn decode(text: &str) -> Result<Self, String> {
        Text::new(text)
    }
    fn is_canonical(text: &[u8]) -> bool {
        text.len() <= Text::MAX && !text.contains(&b'\n') && std::str::from_utf8(text).is_ok()
    }
}

/// Declares a closed set of kebab-case words with their text forms.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|w| w.as_str() == text)
                    .ok_or_else(|| format!("unknown {} `{}`", stringify!($name), clip(text)))
            }
        }

        impl Value for $name {
            fn encode(&self) -> String {
                self.as_str().to_string()
            }
            fn decode(text: &str) -> Result<Self, String> {
                text.parse()
            }
            fn is_canonical(text: &[u8]) -> bool {
                $name::ALL.iter().any(|w| w.as_str().as_bytes() == text)
            }
        }
    };
}

words!(
    /// What happened to a staff key.
    StaffAction {
        Issued = "issued",
        Revoked = "revoked",
    }
);

words!(
    /// Why a requester withdrew a request (spec §7.7, §9).
    WithdrawalReason {
        StaffRevoked = "staff-revoked",
        NotParticipantHere = "not-participant-here",
        CaseClosed = "case-closed",
        ConsentRevoked = "consent-revoked",
        Expired = "expired",
        RecipientRemoved = "recipient-removed",
        ConsentRevokedHere = "consent-revoked-here",
        DisclosureInvalid = "disclosure-invalid",
        UnexpectedAnswer = "unexpected-answer",
    }
);

words!(
    /// Why a received summary was purged (spec §7.10).
    PurgeReason {
        Retention = "retention",
        OnRequest = "on-request",
    }
);

words!(
    /// Which end of a set message a `psi-set` entry records (statistics.md §10.7).
    PsiDirection {
        Sent = "sent",
        Received = "received",
    }
);

words!(
    /// How a node's part in an overlap round ended (statistics.md §10.7).
    PsiEndReason {
        Complete = "complete",
        Expired = "expired",
        Stopped = "stopped",
    }
);

/// A list of institution ids joined by `,` (a round's participants, in ring order), or `-`
/// for none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institutions(pub Vec<InstitutionId>);

impl Value for Institutions {
    fn encode(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        self.0
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
    fn decode(text: &str) -> Result<Self, String> {
        if text == "-" {
            return Ok(Institutions(Vec::new()));
        }
        text.split(',')
            .map(InstitutionId::decode)
            .collect::<Result<Vec<_>, _>>()
            .map(Institutions)
    }
}

/// The `detail` of a `case-event` entry: which change the event made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseDetail {
    Opened,
    Invited(InstitutionId),
    Accepted,
    Left,
    Closed,
    ConsentRecorded {
        consent: ConsentId,
        purposes: Vec<Purpose>,
        categories: Vec<Category>,
        valid_from: u64,
        valid_until: u64,
    },
    ConsentRevoked(ConsentId),
    Declined(DeclineReason),
    Removed(InstitutionId),
    LeadHandedOver(InstitutionId),
    Referred {
        institution: InstitutionId,
        purpose: Purpose,
        categories: Vec<Category>,
    },
}

impl Value for CaseDetail {
    fn encode(&self) -> String {
        match self {
            CaseDetail::Opened => "opened".into(),
            CaseDetail::Invited(i) => format!("invited {i}"),
            CaseDetail::Accepted => "accepted".into(),
            CaseDetail::Left => "left".into(),
            CaseDetail::Closed => "closed".into(),
            CaseDetail::ConsentRecorded {
                consent,
                purposes,
                categories,
                valid_from,
                valid_until,
            } => {
                let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
                format!(
                    "consent-recorded {consent} {} {} {valid_from}..{valid_until}",
                    purposes.join(","),
                    categories_text(categories)
                )
            }
            CaseDetail::ConsentRevoked(c) => format!("consent-revoked {c}"),
            CaseDetail::Declined(r) => format!("declined {}", r.as_str()),
            CaseDetail::Removed(i) => format!("removed {i}"),
            CaseDetail::LeadHandedOver(i) => format!("lead-handed-over {i}"),
            CaseDetail::Referred {
                institution,
                purpose,
                categories,
            } => format!(
                "referred {institution} {} {}",
                purpose.as_str(),
                categories_text(categories)
            ),
        }
    }

    fn decode(text: &str) -> Result<Self, String> {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        let none = |d: CaseDetail| {
            if text.len() == word.len() {
                Ok(d)
            } else {
                Err(format!("`{word}` takes no argument"))
            }
        };
        match word {
            "opened" => none(CaseDetail::Opened),
            "accepted" => none(CaseDetail::Accepted),
            "left" => none(CaseDetail::Left),
            "closed" => none(CaseDetail::Closed),
            "invited" => InstitutionId::decode(rest).map(CaseDetail::Invited),
            "consent-revoked" => ConsentId::decode(rest).map(CaseDetail::ConsentRevoked),
            "declined" => rest
                .parse::<DeclineReason>()
                .map(CaseDetail::Declined)
                .map_err(|_| format!("unknown decline reason `{}`", clip(rest))),
            "removed" => InstitutionId::decode(rest).map(CaseDetail::Removed),
            "lead-handed-over" => InstitutionId::decode(rest).map(CaseDetail::LeadHandedOver),
            "referred" => {
                let parts: Vec<&str> = rest.split(' ').collect();
                let [institution, purpose, categories] = parts[..] else {
                    return Err("expected `referred <institution> <purpose> <categories>`".into());
                };
                Ok(CaseDetail::Referred {
                    institution: InstitutionId::decode(institution)?,
                    purpose: Purpose::decode(purpose)?,
                    categories: Vec::<Category>::decode(categories)?,
                })
            }
            "consent-recorded" => {
                let parts: Vec<&str> = rest.split(' ').collect();
                let [consent, purposes, categories, validity] = parts[..] else {
                    return Err(
                        "expected `consent-recorded <consent> <purposes> <categories> <from>..<until>`"
                            .into(),
                    );
                };
                let (from, until) = validity
                    .split_once("..")
                    .ok_or("expected the validity as `<from>..<until>`")?;
                Ok(CaseDetail::ConsentRecorded {
                    consent: ConsentId::decode(consent)?,
                    purposes: purposes
                        .split(',')
                        .map(Purpose::decode)
                        .collect::<Result<_, _>>()?,
                    categories: Vec::<Category>::decode(categories)?,
                    valid_from: u64::decode(from)?,
                    valid_until: u64::decode(until)?,
                })
            }
            _ => Err(format!("unknown case change `{}`", clip(word))),
        }
    }
}
