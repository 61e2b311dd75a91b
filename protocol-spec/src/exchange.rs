//! Summary exchange: the signed request, the sealed and signed disclosure, and refusals.

use crate::category::Category;
use crate::ids::{CaseId, ConsentId, InstitutionId, Purpose, RequestId};
use crate::keys::{EncryptionKey, PublicKey, Signature, SigningKey, sha256};
use crate::seal::{self, CryptoRng, SealError, Sealed};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const REQUEST_CONTEXT: &[u8] = b"passerelle/v1 summary-request\n";
pub const DISCLOSURE_CONTEXT: &[u8] = b"passerelle/v1 disclosure\n";
/// How far a request's `issued_at` may be from the responder's clock, in seconds.
pub const MAX_CLOCK_SKEW: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRequest {
    pub request_id: RequestId,
    pub requester: InstitutionId,
    pub responder: InstitutionId,
    pub case_id: CaseId,
    pub purpose: Purpose,
    /// Sorted, without duplicates, at least one.
    pub categories: Vec<Category>,
    /// Unix seconds at the requester.
    pub issued_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSummaryRequest {
    pub request: SummaryRequest,
    pub signature: Signature,
}

impl SummaryRequest {
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = REQUEST_CONTEXT.to_vec();
        out.extend(postcard::to_stdvec(self).expect("request encodes"));
        out
    }

    pub fn sign(self, key: &SigningKey) -> SignedSummaryRequest {
        let signature = key.sign(&self.signing_input());
        SignedSummaryRequest {
            request: self,
            signature,
        }
    }

    /// Categories must be a non-empty, strictly increasing list.
    pub fn is_well_formed(&self) -> bool {
        !self.categories.is_empty() && self.categories.windows(2).all(|w| w[0] < w[1])
    }
}

impl SignedSummaryRequest {
    pub fn verify(&self, key: &PublicKey) -> bool {
        key.verify(&self.request.signing_input(), &self.signature)
    }

    /// SHA-256 of the signing input: binds the disclosure to exactly this request.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&[&self.request.signing_input()])
    }
}

/// The plaintext of a summary: observation-grid fields grouped by category.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    #[serde(deserialize_with = "increasing_keys")]
    pub categories: BTreeMap<Category, Vec<SummaryField>>,
}

/// Decodes the category map refusing keys out of order or repeated (spec/protocol.md §2): a
/// plain map would keep one of two values given for the same category and drop the other.
fn increasing_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Category, Vec<SummaryField>>, D::Error> {
    struct Increasing;
    impl<'de> serde::de::Visitor<'de> for Increasing {
        type Value = BTreeMap<Category, Vec<SummaryField>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of categories in strictly increasing order")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<Category, Vec<SummaryField>>()? {
                if out.last_key_value().is_some_and(|(last, _)| *last >= k) {
                    return Err(serde::de::Error::custom(
                        "summary categories are not in strictly increasing order",
                    ));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Increasing)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryField {
    pub field: String,
    pub value: String,
}

/// The clear, signed and authenticated (but not secret) part of a disclosure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureHeader {
    #[serde(with = "crate::ids::hex32")]
    pub request_digest: [u8; 32],
    pub request_id: RequestId,
    pub case_id: CaseId,
    pub source: InstitutionId,
    pub recipient: InstitutionId,
    pub purpose: Purpose,
    pub categories: Vec<Category>,
    pub consent_id: ConsentId,
    pub disclosed_at: u64,
    pub roster_version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    pub header: DisclosureHeader,
    pub sealed: Sealed,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error("disclosure does not answer this request")]
    NotOurRequest,
    #[error("disclosure is addressed to {0}, not to this node")]
    WrongRecipient(InstitutionId),
    #[error("disclosure signature does not verify for {0}")]
    BadSignature(InstitutionId),
    #[error("disclosure carries categories that were not requested")]
    ExtraCategories,
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("opened summary is malformed")]
    Malformed,
    #[error("opened summary holds categories its header does not declare")]
    UndeclaredCategory,
}

impl DisclosureHeader {
    pub fn aad(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("header encodes")
    }
}

impl Disclosure {
    pub fn signing_input(header: &DisclosureHeader, sealed: &Sealed) -> Vec<u8> {
        let mut out = DISCLOSURE_CONTEXT.to_vec();
        out.extend(header.aad());
        out.extend(sealed.digest());
        out
    }

    /// Seals `summary` to `recipient_key` with the header as associated data, then signs.
    pub fn build<R: CryptoRng>(
        header: DisclosureHeader,
        summary: &Summary,
        recipient_key: &PublicKey,
        signer: &SigningKey,
        rng: &mut R,
    ) -> Result<Disclosure, SealError> {
        let plaintext =
            zeroize::Zeroizing::new(postcard::to_stdvec(summary).expect("summary encodes"));
        let sealed = seal::seal(recipient_key, &header.aad(), &plaintext, rng)?;
        let signature = signer.sign(&Self::signing_input(&header, &sealed));
        Ok(Disclosure {
            header,
            sealed,
            signature,
        })
    }

    /// What the requester checks on receipt, before storing the disclosure sealed.
    pub fn verify(
        &self,
        request: &SignedSummaryRequest,
        source_key: &PublicKey,
    ) -> Result<(), DisclosureError> {
        self.answers(request)?;
        self.verify_signature(source_key)
    }

    /// The header's part of [`Disclosure::verify`]: the disclosure answers exactly `request`,
    /// to its requester, within the categories asked for. The signature is checked apart.
    pub fn answers(&self, request: &SignedSummaryRequest) -> Result<(), DisclosureError> {
        let h = &self.header;
        let r = &request.request;
        if h.request_digest != request.digest()
            || h.request_id != r.request_id
            || h.case_id != r.case_id
            || h.source != r.responder
            || h.purpose != r.purpose
        {
            return Err(DisclosureError::NotOurRequest);
        }
        if h.recipient != r.requester {
            return Err(DisclosureError::WrongRecipient(h.recipient.clone()));
        }
        if !h.categories.iter().all(|c| r.categories.contains(c)) {
            return Err(DisclosureError::ExtraCategories);
        }
        Ok(())
    }

    pub fn verify_signature(&self, source_key: &PublicKey) -> Result<(), DisclosureError> {
        if source_key.verify(
            &Self::signing_input(&self.header, &self.sealed),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(DisclosureError::BadSignature(self.header.source.clone()))
        }
    }

    /// Opens the sealed summary; only the recipient's key does this.
    pub fn open(&self, key: &EncryptionKey) -> Result<Summary, DisclosureError> {
        let plain = zeroize::Zeroizing::new(seal::open(key, &self.sealed, &self.header.aad())?);
        let (summary, rest): (Summary, _) =
            postcard::take_from_bytes(&plain).map_err(|_| DisclosureError::Malformed)?;
        if !rest.is_empty() {
            return Err(DisclosureError::Malformed);
        }
        if !summary
            .categories
            .keys()
            .all(|c| self.header.categories.contains(c))
        {
            return Err(DisclosureError::UndeclaredCategory);
        }
        Ok(summary)
    }
}

/// Refusal reason codes. Their numeric values are normative (spec/protocol.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    /// The one answer to a requester that is not concerned, whatever exists at the responder.
    NotConcerned,
    CaseClosed,
    NoConsent,
    ConsentRevoked,
    ConsentNotYetValid,
    ConsentExpired,
    PurposeNotConsented,
    CategoryNotConsented,
    PolicyForbids,
    StaleRequest,
    ReplayedRequest,
    BadSignature,
    NotMember,
    WrongResponder,
    Malformed,
    Unavailable,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 16] = [
        RefusalCode::NotConcerned,
        RefusalCode::CaseClosed,
        RefusalCode::NoConsent,
        RefusalCode::ConsentRevoked,
        RefusalCode::ConsentNotYetValid,
        RefusalCode::ConsentExpired,
        RefusalCode::PurposeNotConsented,
        RefusalCode::CategoryNotConsented,
        RefusalCode::PolicyForbids,
        RefusalCode::StaleRequest,
        RefusalCode::ReplayedRequest,
        RefusalCode::BadSignature,
        RefusalCode::NotMember,
        RefusalCode::WrongResponder,
        RefusalCode::Malformed,
        RefusalCode::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::NotConcerned => "not-concerned",
            RefusalCode::CaseClosed => "case-closed",
            RefusalCode::NoConsent => "no-consent",
            RefusalCode::ConsentRevoked => "consent-revoked",
            RefusalCode::ConsentNotYetValid => "consent-not-yet-valid",
            RefusalCode::ConsentExpired => "consent-expired",
            RefusalCode::PurposeNotConsented => "purpose-not-consented",
            RefusalCode::CategoryNotConsented => "category-not-consented",
            RefusalCode::PolicyForbids => "policy-forbids",
            RefusalCode::StaleRequest => "stale-request",
            RefusalCode::ReplayedRequest => "replayed-request",
            RefusalCode::BadSignature => "bad-signature",
            RefusalCode::NotMember => "not-member",
            RefusalCode::WrongResponder => "wrong-responder",
            RefusalCode::Malformed => "malformed",
            RefusalCode::Unavailable => "unavailable",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            RefusalCode::NotConcerned => {
                "the requester is not a participant of an open coordinated case known to the responder"
            }
            RefusalCode::CaseClosed => "the coordinated case is closed",
            RefusalCode::NoConsent => "no consent on record covers both institutions",
            RefusalCode::ConsentRevoked => "the consent was revoked",
            RefusalCode::ConsentNotYetValid => "the consent is not yet valid",
            RefusalCode::ConsentExpired => "the consent has expired",
            RefusalCode::PurposeNotConsented => "the consent does not cover this purpose",
            RefusalCode::CategoryNotConsented => {
                "the consent does not cover every requested category"
            }
            RefusalCode::PolicyForbids => {
                "the federation's exchange policy does not let the requester's sector receive these categories for this purpose"
            }
            RefusalCode::StaleRequest => "the request's time is too far from the responder's clock",
            RefusalCode::ReplayedRequest => "this request id was already used",
            RefusalCode::BadSignature => "the request signature does not verify",
            RefusalCode::NotMember => "the requester is not a current federation member",
            RefusalCode::WrongResponder => "the request is addressed to another institution",
            RefusalCode::Malformed => "the request is malformed",
            RefusalCode::Unavailable => "the responder could not process the request now",
        }
    }
}

/// A refusal carries its code only. It is deliberately unsigned and echoes nothing from the
/// request, so the uniform refusal is the same bytes for every unconcerned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: RefusalCode,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SeededRng;

    fn request() -> SummaryRequest {
        SummaryRequest {
            request_id: RequestId([1; 16]),
            requester: "ne.oai".parse().unwrap(),
            responder: "ne.orp".parse().unwrap(),
            case_id: CaseId([2; 16]),
            purpose: "coordinated-assessment".parse().unwrap(),
            categories: vec![Category::Employment, Category::Measures],
            issued_at: 1000,
        }
    }

    #[test]
    fn disclosure_round_trip_and_tamper_detection() {
        let requester = SigningKey::from_seed([1; 32]);
        let responder = SigningKey::from_seed([2; 32]);
        let enc = EncryptionKey::from_secret([3; 32]);
        let req = request().sign(&requester);
        assert!(req.verify(&requester.public()));
        let mut summary = Summary::default();
        summary.categories.insert(
            Category::Employment,
            vec![SummaryField {
                field: "status".into(),
                value: "seeking".into(),
            }],
        );
        let header = DisclosureHeader {
            request_digest: req.digest(),
            request_id: req.request.request_id,
            case_id: req.request.case_id,
            source: req.request.responder.clone(),
            recipient: req.request.requester.clone(),
            purpose: req.request.purpose.clone(),
            categories: req.request.categories.clone(),
            consent_id: ConsentId([4; 16]),
            disclosed_at: 1001,
            roster_version: 1,
        };
        let d = Disclosure::build(
            header,
            &summary,
            &enc.public(),
            &responder,
            &mut SeededRng::new([7; 32]),
        )
        .unwrap();
        d.verify(&req, &responder.public()).unwrap();
        assert_eq!(d.open(&enc).unwrap(), summary);

        let mut t = d.clone();
        t.sealed.ciphertext[3] ^= 0x40;
        assert!(matches!(
            t.verify(&req, &responder.public()),
            Err(DisclosureError::BadSignature(_))
        ));
        assert!(t.open(&enc).is_err());

        // Relabelling the header to widen the categories breaks both signature and AEAD.
        let mut r = d.clone();
        r.header.categories.push(Category::Health);
        assert!(r.verify_signature(&responder.public()).is_err());
        assert!(r.open(&enc).is_err());

        // A third node cannot open it even with a valid signature.
        assert!(d.open(&EncryptionKey::from_secret([8; 32])).is_err());
    }
}
