//! The Swiss social insurance number (AHV/AVS number, "NAVS13"): 13 digits, country prefix
//! 756, EAN-13 check digit. Written plain (`7569217076985`) or dotted (`756.9217.0769.85`);
//! stored and sent as the 13 digits. Errors never repeat the number: it is personal data.
//! Normative text: `spec/records.md` §1 and §2.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Domain separator of the person commitment written into log entries (`spec/records.md` §2).
pub const COMMITMENT_CONTEXT: &[u8] = b"passerelle/v1 person-commitment\n";

/// A valid social insurance number: 13 digits (values 0 to 9), the first three 7, 5, 6, the last
/// the EAN-13 check digit of the first twelve. Only [`FromStr`] and deserialization build one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Avs([u8; 13]);

/// Why a text is not a valid social insurance number. The messages never contain the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AvsError {
    /// Not 13 digits (the count of digits found, dots not counted).
    #[error("invalid social insurance number: expected 13 digits, found {0}")]
    Length(usize),
    #[error(
        "invalid social insurance number: only digits are allowed, with dots only as in 756.XXXX.XXXX.XX"
    )]
    NotDigit,
    #[error("invalid social insurance number: it must start with 756 (Switzerland)")]
    Country,
    #[error("invalid social insurance number: the check digit does not match")]
    CheckDigit,
}

impl AvsError {
    /// Stable short name of the problem, as used by `vectors/records.json`.
    pub fn code(self) -> &'static str {
        match self {
            AvsError::Length(_) => "length",
            AvsError::NotDigit => "not-digit",
            AvsError::Country => "country",
            AvsError::CheckDigit => "check-digit",
        }
    }
}

/// EAN-13 check digit of the first 12 digits (each 0 to 9): weights 1, 3, 1, 3, … from the
/// left, `check = (10 - sum mod 10) mod 10`.
pub fn check_digit(first12: &[u8; 12]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Avs {
    /// The 13 digits, without dots: the storage and wire form.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// How a person appears in a log without personal data:
    /// `SHA-256("passerelle/v1 person-commitment\n" || salt || the 13 ASCII digits)`.
    /// An auditor who holds the number and the entry's salt can recompute it; the entry alone
    /// reveals nothing. The salt is 32 fresh random bytes per entry, chosen by the caller.
    pub fn commitment(&self, salt: &[u8; 32]) -> [u8; 32] {
        crate::keys::sha256(&[COMMITMENT_CONTEXT, salt, self.digits().as_bytes()])
    }
}

impl FromStr for Avs {
    type Err = AvsError;

    /// Accepts the 13 plain digits or the dotted form `756.XXXX.XXXX.XX`, with surrounding
    /// whitespace ignored. Checks, in this order: characters, digit count, prefix, check digit.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let b = s.as_bytes();
        if !b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return Err(AvsError::NotDigit);
        }
        let digits: Vec<u8> = b
            .iter()
            .filter(|c| c.is_ascii_digit())
            .map(|c| c - b'0')
            .collect();
        let digits: [u8; 13] = digits
            .as_slice()
            .try_into()
            .map_err(|_| AvsError::Length(digits.len()))?;
        let plain = b.len() == 13;
        let dotted = b.len() == 16
            && b.iter()
                .enumerate()
                .all(|(i, c)| (*c == b'.') == matches!(i, 3 | 8 | 13));
        if !plain && !dotted {
            return Err(AvsError::NotDigit);
        }
        if digits[..3] != [7, 5, 6] {
            return Err(AvsError::Country);
        }
        let first12: [u8; 12] = digits[..12].try_into().expect("13 digits");
        if check_digit(&first12) != digits[12] {
            return Err(AvsError::CheckDigit);
        }
        Ok(Avs(digits))
    }
}

/// The dotted form `756.XXXX.XXXX.XX`.
impl fmt::Display for Avs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}.{}.{}.{}", &d[..3], &d[3..7], &d[7..11], &d[11..])
    }
}

// Debug output can end up in error messages and panics: it shows the last two digits only.
// Display, the whole dotted number, is for the staff member's own screen.
impl fmt::Debug for Avs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "Avs(756.****.****.{})", &d[11..])
    }
}

impl Serialize for Avs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits())
    }
}

impl<'de> Deserialize<'de> for Avs {
    /// On the wire (postcard) only the canonical 13 digits (spec/protocol.md §2, `Avs`); in
    /// text forms (JSON, TOML) also what people write, as [`FromStr`] reads it. The error
    /// names the problem, not the number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = !d.is_human_readable();
        let s = String::deserialize(d)?;
        if wire && (s.len() != 13 || !s.bytes().all(|b| b.is_ascii_digit())) {
            return Err(serde::de::Error::custom(
                "invalid social insurance number: expected its 13 digits, without dots or spaces",
            ));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    #[test]
    fn known_numbers() {
        // Check digits by hand, weights 1,3,1,3,… over the first twelve digits:
        // 756.9217.0769.85: 7+15+6+27+2+3+7+0+7+18+9+24 = 125 -> (10-5)%10 = 5
        // 756.1234.5678.97: 7+15+6+3+2+9+4+15+6+21+8+27 = 123 -> 7
        // 756.4803.1520.74: 7+15+6+12+8+0+3+3+5+6+0+21 = 86  -> 4
        // 756.6620.1834.53: 7+15+6+18+6+6+0+3+8+9+4+15 = 97  -> 3
        // 756.3055.7112.99: 7+15+6+9+0+15+5+21+1+3+2+27 = 111 -> 9
        // 756.0000.0000.02: 7+15+6                       = 28  -> 2
        // 756.9999.9999.91: 28 + 5*27 + 4*9             = 199 -> 1
        for (dotted, sum, check) in [
            ("756.9217.0769.85", 125, 5),
            ("756.1234.5678.97", 123, 7),
            ("756.4803.1520.74", 86, 4),
            ("756.6620.1834.53", 97, 3),
            ("756.3055.7112.99", 111, 9),
            ("756.0000.0000.02", 28, 2),
            ("756.9999.9999.91", 199, 1),
        ] {
            let plain = dotted.replace('.', "");
            let d: Vec<u8> = plain.bytes().map(|c| c - b'0').collect();
            let s: u32 = d[..12]
                .iter()
                .enumerate()
                .map(|(i, x)| u32::from(*x) * [1, 3][i % 2])
                .sum();
            assert_eq!((s, d[12]), (sum, check), "{dotted}");
            let a: Avs = dotted.parse().unwrap();
            assert_eq!(a.digits(), plain);
            assert_eq!(a.to_string(), dotted);
            assert_eq!(plain.parse::<Avs>().unwrap(), a);
        }
        assert_eq!(
            " 7569217076985\n".parse::<Avs>().unwrap().digits(),
            "7569217076985"
        );
    }

    #[test]
    fn each_kind_of_error() {
        use AvsError::*;
        for (input, err) in [
            ("7569217076984", CheckDigit),
            ("756.9217.0769.86", CheckDigit),
            ("756921707698", Length(12)),
            ("75692170769850", Length(14)),
            ("756.1234.5678.9", Length(12)),
            ("", Length(0)),
            ("1234567890128", Country),
            ("7551234567898", Country),
            ("756.9217.0769.8x", NotDigit),
            ("756 9217 0769 85", NotDigit),
            ("756-9217-0769-85", NotDigit),
            ("7569.217.0769.85", NotDigit),
            ("756.92170769.85.", NotDigit),
            ("756..92170769.85", NotDigit),
            ("+7569217076985", NotDigit),
            ("７５６9217076985", NotDigit),
        ] {
            assert_eq!(input.parse::<Avs>(), Err(err), "{input:?}");
        }
    }

    #[test]
    fn errors_do_not_repeat_the_number() {
        for input in [
            "7569217076984",
            "756.9217.0769.8x",
            "75692170769",
            "1239217076985",
        ] {
            let e = input.parse::<Avs>().unwrap_err().to_string();
            assert!(!e.contains("9217") && !e.contains("0769"), "{e}");
        }
        let e = serde_json::from_str::<Avs>("\"7569217076984\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("check digit") && !e.contains("9217"), "{e}");
    }

    #[test]
    fn serde_is_the_13_digits_and_validates() {
        let a: Avs = "756.9217.0769.85".parse().unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"7569217076985\"");
        assert_eq!(
            serde_json::from_str::<Avs>("\"756.9217.0769.85\"").unwrap(),
            a
        );
        assert!(serde_json::from_str::<Avs>("7569217076985").is_err());
        assert!(serde_json::from_str::<Avs>("\"7569217076985 x\"").is_err());
        // On the wire, the 13 digits only.
        let wire = |text: &str| postcard::to_stdvec(&text.to_string()).unwrap();
        assert_eq!(
            postcard::from_bytes::<Avs>(&wire("7569217076985")).unwrap(),
            a
        );
        for other in ["756.9217.0769.85", " 7569217076985", "7569217076985 "] {
            assert!(
                postcard::from_bytes::<Avs>(&wire(other)).is_err(),
                "{other:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn computed_check_digits_validate_and_any_single_change_fails(
            body in proptest::array::uniform9(0u8..10),
            pos in 0usize..13,
            delta in 1u8..10,
            dots in any::<bool>(),
        ) {
            let mut first12 = [7, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            first12[3..].copy_from_slice(&body);
            let mut digits = first12.to_vec();
            digits.push(check_digit(&first12));
            let plain = text(&digits);
            let a: Avs = plain.parse().unwrap();
            prop_assert_eq!(a.digits(), plain.clone());
            let shown = a.to_string();
            prop_assert_eq!(shown.parse::<Avs>().unwrap(), a);
            // Any change of one digit, prefix or body or check digit, is caught.
            let mut bad = digits.clone();
            bad[pos] = (bad[pos] + delta) % 10;
            let mut t = text(&bad);
            if dots {
                t = format!("{}.{}.{}.{}", &t[..3], &t[3..7], &t[7..11], &t[11..]);
            }
            let e = t.parse::<Avs>().unwrap_err();
            prop_assert!(matches!(e, AvsError::Country | AvsError::CheckDigit));
            prop_assert_eq!(pos < 3, e == AvsError::Country);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Avs>();
        }
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn debug_output_hides_the_number() {
        let a: super::Avs = "756.9217.0769.85".parse().unwrap();
        let d = format!("{a:?}");
        assert!(!d.contains("9217") && !d.contains("0769"), "{d}");
    }
}
