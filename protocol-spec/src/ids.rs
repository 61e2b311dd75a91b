//! Identifiers from the domain: institutions, sectors, purposes, cases, staff.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("invalid institution id `{0}`: expected lowercase dotted labels such as `ne.oai`")]
    Institution(String),
    #[error("invalid {kind} `{value}`: expected 1 to 64 characters from a-z, 0-9 and `-`")]
    Token { kind: &'static str, value: String },
    #[error("invalid {kind} `{value}`: expected {len} hexadecimal digits")]
    Hex {
        kind: &'static str,
        value: String,
        len: usize,
    },
    #[error("unknown role `{0}` (expected case-worker, auditor, admin or coordinator)")]
    Role(String),
}

/// 1 to 64 characters from a-z, 0-9 and `-`, not starting with `-`.
fn is_token(s: &str) -> bool {
    is_token_bytes(s.as_bytes())
}

/// [`is_token`] of bytes, as log entries are checked.
pub(crate) fn is_token_bytes(s: &[u8]) -> bool {
    // No early exit in the loop, so it runs over whole vectors: every entry is checked.
    !s.is_empty()
        && s.len() <= 64
        && s.iter().fold(true, |ok, b| {
            ok & (b.is_ascii_lowercase() | b.is_ascii_digit() | (*b == b'-'))
        })
        && s[0] != b'-'
}

/// Institution identifier, e.g. `ne.oai`: two to four dot-separated tokens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstitutionId(String);

impl InstitutionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Two to four dot-separated tokens, 64 characters at most.
pub(crate) fn is_institution_id(s: &[u8]) -> bool {
    // One pass over the bytes: every entry naming an institution is checked this way.
    let mut labels = 1;
    let mut label_start = true;
    for &b in s {
        let ok = match b {
            b'.' => {
                labels += 1;
                !label_start
            }
            b'-' => !label_start,
            b'a'..=b'z' | b'0'..=b'9' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
        label_start = b == b'.';
    }
    s.len() <= 64 && !label_start && (2..=4).contains(&labels)
}

impl FromStr for InstitutionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_institution_id(s.as_bytes()) {
            Ok(InstitutionId(s.to_string()))
        } else {
            Err(IdError::Institution(s.to_string()))
        }
    }
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(s)?;
                Ok($name(s.to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fn token(kind: &'static str) -> impl Fn(&str) -> Result<(), IdError> {
    move |s| {
        if is_token(s) {
            Ok(())
        } else {
            Err(IdError::Token {
                kind,
                value: s.to_string(),
            })
        }
    }
}

impl fmt::Display for InstitutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl Serialize for InstitutionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for InstitutionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

string_id!(
    /// Sector of an institution (`employment`, `disability-insurance`, `social-aid`, ...); the
    /// exchange policy is written per sector.
    Sector,
    "sector",
    |s| token("sector")(s)
);
string_id!(
    /// Purpose of an exchange (`coordinated-assessment`, `action-plan`, ...).
    Purpose,
    "purpose",
    |s| token("purpose")(s)
);
string_id!(
    /// Staff member identifier, unique within an institution.
    StaffId,
    "staff id",
    |s| token("staff id")(s)
);

macro_rules! hex_id {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 16]);

        // Hex text in human-readable formats (JSON, TOML), 16 raw bytes in postcard.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_string())
                } else {
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; 16]>::deserialize(d).map($name)
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 16];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::Hex {
                    kind: $kind,
                    value: s.chars().take(40).collect(),
                    len: 32,
                })?;
                Ok($name(out))
            }
        }
    };
}

/// A fresh id that sorts by when it was drawn: `millis` (Unix milliseconds, its low 48 bits)
/// big-endian, then 10 random bytes (spec §7.1). A store keyed by such ids appends to the end of
/// its index instead of writing a page at random; the random part keeps them unique.
pub fn time_ordered(millis: u64, random: [u8; 10]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    id[6..].copy_from_slice(&random);
    id
}

hex_id!(
    /// Coordinated case identifier, drawn at random by the opening node.
    CaseId,
    "case id"
);
hex_id!(
    /// Summary request identifier, fresh per request; replays are refused.
    RequestId,
    "request id"
);
hex_id!(
    /// Consent identifier.
    ConsentId,
    "consent id"
);
hex_id!(
    /// Case event identifier.
    EventId,
    "event id"
);
hex_id!(
    /// Identifier of a received, sealed summary at the requester.
    SummaryId,
    "summary id"
);

/// A staff member's role at their institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    CaseWorker,
    Auditor,
    Admin,
    /// Reads the monthly statistics, which hold no person, and nothing else.
    Coordinator,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::CaseWorker,
        Role::Auditor,
        Role::Admin,
        Role::Coordinator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseWorker => "case-worker",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "case-worker" => Ok(Role::CaseWorker),
            "auditor" => Ok(Role::Auditor),
            "admin" => Ok(Role::Admin),
            "coordinator" => Ok(Role::Coordinator),
            _ => Err(IdError::Role(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time_whatever_their_random_part() {
        let early = time_ordered(1_797_000_000_250, [0xff; 10]);
        let late = time_ordered(1_797_000_000_251, [0; 10]);
        assert!(early < late);
        assert_eq!(early[..6], 1_797_000_000_250u64.to_be_bytes()[2..]);
        assert_eq!(early[6..], [0xff; 10]);
    }

    #[test]
    fn institution_ids() {
        assert!("ne.oai".parse::<InstitutionId>().is_ok());
        assert!("ne.caritas.atelier".parse::<InstitutionId>().is_ok());
        for bad in ["oai", "NE.oai", "ne..oai", "ne.o ai", "", "ne.-x"] {
            assert!(bad.parse::<InstitutionId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_ids_round_trip() {
        let id = CaseId([7; 16]);
        assert_eq!(id.to_string().parse::<CaseId>().unwrap(), id);
        assert!("zz".parse::<CaseId>().is_err());
    }
}

/// Serde helper for 32-byte digests: hex text in human-readable formats, raw bytes otherwise
/// (spec/protocol.md §2, text forms: every byte string but a key or a signature is hex).
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
            Ok(out)
        } else {
            <[u8; 32]>::deserialize(d)
        }
    }

    /// The same for lists of digests (proofs): a list of hex strings.
    pub mod list {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                s.collect_seq(v.iter().map(hex::encode))
            } else {
                v.serialize(s)
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
            if d.is_human_readable() {
                Vec::<String>::deserialize(d)?
                    .iter()
                    .map(|s| {
                        let mut out = [0u8; 32];
                        hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
                        Ok(out)
                    })
                    .collect()
            } else {
                Vec::<[u8; 32]>::deserialize(d)
            }
        }
    }

    /// The same for optional digests.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                v.map(hex::encode).serialize(s)
            } else {
                v.serialize(s)
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
            if d.is_human_readable() {
                let s = Option::<String>::deserialize(d)?;
                s.map(|s| {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
                    Ok(out)
                })
                .transpose()
            } else {
                Option::<[u8; 32]>::deserialize(d)
            }
        }
    }
}

/// Serde helper for byte strings of any length (ciphertexts, tile data): hex text in
/// human-readable formats, a postcard byte sequence (length, then the bytes) otherwise.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            // As a sequence of u8, exactly as a derived `Vec<u8>` field is encoded.
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            hex::decode(&s).map_err(serde::de::Error::custom)
        } else {
            Vec::<u8>::deserialize(d)
        }
    }
}
