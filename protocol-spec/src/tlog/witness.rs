//! C2SP tlog-witness add-checkpoint: the request body and the witness's decision, a pure
//! function of the witness's stored state for the origin. The caller persists the accepted
//! state atomically with the check it was decided on, then cosigns.

use super::checkpoint::{Checkpoint, parse_decimal, parse_hash};
use super::merkle::{EMPTY_ROOT, Hash, ProofError, verify_consistency};
use super::note::{Note, NoteError, NoteVerifier, verify_note};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// tlog-witness: a client must not send more than 63 proof lines (enough for any u64 size).
pub const MAX_PROOF_LINES: usize = 63;
/// Content type of a 409 answer's body, `<latest size>\n`.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An add-checkpoint request: the size the client believes the witness holds, a consistency
/// proof from it, and the signed checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as text.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// `old <N>\n`, one base64 hash per line, a blank line, the checkpoint note.
    pub fn to_text(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    pub fn parse(text: &str) -> Result<AddCheckpoint, WitnessRefusal> {
        let bad = WitnessRefusal::Malformed;
        // Neither the old line nor proof lines are empty, so the first blank line ends them.
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or(bad("first line must be `old <size>`"))?;
        let old_size =
            parse_decimal(old).ok_or(bad("old size is not a decimal without leading zeros"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 proof lines"));
            }
            proof.push(parse_hash(l).ok_or(bad("proof line is not a base64 hash"))?);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.to_string(),
        })
    }
}

/// Why a witness refuses, with the tlog-witness status each corresponds to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessRefusal {
    /// 400: the body, the note or the checkpoint does not parse.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// 404: the witness follows no log of this origin.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 403: no valid signature by the log's key, or a failing one.
    #[error("checkpoint signature: {0}")]
    Signature(NoteError),
    /// 400: the old size is beyond the checkpoint's size.
    #[error("old size {old} exceeds checkpoint size {new}")]
    OldBeyondNew { old: u64, new: u64 },
    /// 409: the old size is not the witness's latest; the body carries `latest`.
    #[error("old size does not match the latest cosigned size {latest}")]
    Conflict { latest: u64 },
    /// 422: the consistency proof does not lead from the cosigned root to the new one.
    #[error("consistency proof from the cosigned checkpoint does not verify")]
    Inconsistent,
    /// 422: a proof of the wrong length, or one sent where none applies (old size 0, or
    /// the size already cosigned).
    #[error("consistency proof has the wrong number of hashes")]
    BadProof,
    /// 422: the size already cosigned, with another root.
    #[error("same size as the cosigned checkpoint but a different root")]
    Fork,
    /// 422: a size-0 checkpoint whose root is not SHA-256 of the empty string.
    #[error("a size-0 checkpoint must carry the empty tree's root")]
    EmptyRoot,
}

impl WitnessRefusal {
    /// The HTTP status tlog-witness assigns to this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessRefusal::Malformed(_) | WitnessRefusal::OldBeyondNew { .. } => 400,
            WitnessRefusal::Signature(_) => 403,
            WitnessRefusal::UnknownOrigin => 404,
            WitnessRefusal::Conflict { .. } => 409,
            WitnessRefusal::Inconsistent
            | WitnessRefusal::BadProof
            | WitnessRefusal::Fork
            | WitnessRefusal::EmptyRoot => 422,
        }
    }

    /// The body of a 409 answer (`<size>\n`, of type [`SIZE_CONTENT_TYPE`]).
    pub fn conflict_body(&self) -> Option<String> {
        match self {
            WitnessRefusal::Conflict { latest } => Some(format!("{latest}\n")),
            _ => None,
        }
    }

    /// Whether the log signed a checkpoint that cannot extend the one already cosigned: the
    /// two signed checkpoints are evidence of misbehaviour worth keeping.
    pub fn is_evidence(&self) -> bool {
        matches!(self, WitnessRefusal::Inconsistent | WitnessRefusal::Fork)
    }
}

/// The witness's latest cosigned (size, root) for an origin; (0, empty root) if none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WitnessState {
    pub size: u64,
    pub root: Hash,
}

impl Default for WitnessState {
    fn default() -> Self {
        WitnessState {
            size: 0,
            root: EMPTY_ROOT,
        }
    }
}

impl From<&Checkpoint> for WitnessState {
    fn from(cp: &Checkpoint) -> Self {
        WitnessState {
            size: cp.size,
            root: cp.root,
        }
    }
}

/// Decides an add-checkpoint request against the stored `state` for the checkpoint's origin
/// and the log's key (`None` when the witness follows no such log). On success returns the
/// checkpoint, whose (size, root) is the new state to persist (see
/// `WitnessState::from`), and its note; the caller persists atomically with this check,
/// then cosigns the checkpoint body.
pub fn decide<V: NoteVerifier>(
    state: WitnessState,
    log_key: Option<&V>,
    req: &AddCheckpoint,
) -> Result<(Checkpoint, Note), WitnessRefusal> {
    let note = Note::parse(&req.checkpoint)
        .map_err(|_| WitnessRefusal::Malformed("checkpoint is not a signed note"))?;
    let cp = Checkpoint::parse(&note.text)
        .map_err(|_| WitnessRefusal::Malformed("note text is not a checkpoint"))?;
    let key = log_key
        .filter(|k| k.name() == cp.origin)
        .ok_or(WitnessRefusal::UnknownOrigin)?;
    verify_note(&note, std::slice::from_ref(key)).map_err(WitnessRefusal::Signature)?;
    if req.old_size > cp.size {
        return Err(WitnessRefusal::OldBeyondNew {
            old: req.old_size,
            new: cp.size,
        });
    }
    if req.old_size != state.size {
        return Err(WitnessRefusal::Conflict { latest: state.size });
    }
    if cp.size == 0 && cp.root != EMPTY_ROOT {
        return Err(WitnessRefusal::EmptyRoot);
    }
    if cp.size == state.size && cp.root != state.root {
        return Err(WitnessRefusal::Fork);
    }
    verify_consistency(state.size, cp.size, &state.root, &cp.root, &req.proof).map_err(
        |e| match e {
            ProofError::Mismatch => WitnessRefusal::Inconsistent,
            _ => WitnessRefusal::BadProof,
        },
    )?;
    Ok((cp, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::tlog::note::{SIG_ED25519, VerifierKey};
    use crate::tlog::{Tree, leaf_hash, sign_checkpoint};

    const ORIGIN: &str = "example.org/log";

    fn note(log: &SigningKey, t: &Tree, n: u64) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: n,
            root: t.root_at(n).unwrap(),
        };
        sign_checkpoint(&cp, ORIGIN, log)
    }

    fn tree(from: u8, n: u8) -> Tree {
        Tree::from_leaves((from..from + n).map(|i| leaf_hash(&[i])))
    }

    #[test]
    fn body_round_trips_and_rejects_variants() {
        let req = AddCheckpoint {
            old_size: 3,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: "o\n5\nAQ==\n\n\u{2014} o AAAAAAA=\n".into(),
        };
        let text = req.to_text();
        assert!(text.starts_with(
            "old 3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n\no\n5\n"
        ));
        assert_eq!(AddCheckpoint::parse(&text).unwrap(), req);
        let empty = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: "c\n".into(),
        };
        assert_eq!(empty.to_text(), "old 0\n\nc\n");
        assert_eq!(AddCheckpoint::parse("old 0\n\nc\n").unwrap(), empty);
        let h = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n";
        for bad in [
            "old 03\n\nc\n".to_string(),
            "old\n\nc\n".to_string(),
            "Old 3\n\nc\n".to_string(),
            "old 3\nc\n".to_string(),
            "old 3\nAQ==\n\nc\n".to_string(),
            format!("old 3\n{}\n\nc\n", h.trim_end().replace('=', "")),
            format!("old 3\n{}\nc\n", h.repeat(64)),
        ] {
            assert!(
                matches!(
                    AddCheckpoint::parse(&bad),
                    Err(WitnessRefusal::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            AddCheckpoint::parse(&format!("old 3\n{}\nc\n", h.repeat(63)))
                .unwrap()
                .proof
                .len(),
            63
        );
    }

    #[test]
    fn witness_accepts_consistent_growth_and_refuses_the_rest() {
        let log = SigningKey::from_seed([1; 32]);
        let key = VerifierKey::new(ORIGIN, SIG_ED25519, log.public());
        let t = tree(0, 8);
        let decide_text = |state, key: Option<&VerifierKey>, req: &AddCheckpoint| {
            let req = AddCheckpoint::parse(&req.to_text()).unwrap();
            decide(state, key, &req)
        };

        // First contact: old 0, no proof.
        let first = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(&log, &t, 3),
        };
        let (cp, _) = decide_text(WitnessState::default(), Some(&key), &first).unwrap();
        let state = WitnessState::from(&cp);
        assert_eq!(state.size, 3);

        let grow = AddCheckpoint {
            old_size: 3,
            proof: t.consistency_proof(3, 5).unwrap(),
            checkpoint: note(&log, &t, 5),
        };
        assert_eq!(decide_text(state, Some(&key), &grow).unwrap().0.size, 5);
        // Same checkpoint again: cosigned again, no proof.
        let again = AddCheckpoint {
            old_size: 3,
            proof: vec![],
            checkpoint: note(&log, &t, 3),
        };
        assert!(decide_text(state, Some(&key), &again).is_ok());

        let refusal = |req: &AddCheckpoint| decide_text(state, Some(&key), req).unwrap_err();
        // 409 with the size the witness holds; a client probing with `old 0` learns it.
        let stale = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(&log, &t, 5),
        };
        let e = refusal(&stale);
        assert_eq!(e, WitnessRefusal::Conflict { latest: 3 });
        assert_eq!((e.status(), e.conflict_body()), (409, Some("3\n".into())));
        // A rollback is a conflict too.
        let rollback = AddCheckpoint {
            old_size: 2,
            proof: vec![],
            checkpoint: note(&log, &t, 2),
        };
        assert_eq!(refusal(&rollback), WitnessRefusal::Conflict { latest: 3 });
        // 400: old size beyond the checkpoint.
        let beyond = AddCheckpoint {
            old_size: 6,
            proof: vec![],
            checkpoint: note(&log, &t, 5),
        };
        assert_eq!(refusal(&beyond).status(), 400);
        // 422: wrong proofs.
        let mut bad = grow.clone();
        bad.proof[0][0] ^= 1;
        assert_eq!(refusal(&bad), WitnessRefusal::Inconsistent);
        let mut short = grow.clone();
        short.proof.pop();
        assert_eq!(refusal(&short), WitnessRefusal::BadProof);
        let mut extra = again.clone();
        extra.proof.push([0; 32]);
        assert_eq!(refusal(&extra), WitnessRefusal::BadProof);
        let from_zero = AddCheckpoint {
            old_size: 0,
            proof: vec![t.root_at(1).unwrap()],
            checkpoint: note(&log, &t, 5),
        };
        assert_eq!(
            decide_text(WitnessState::default(), Some(&key), &from_zero).unwrap_err(),
            WitnessRefusal::BadProof
        );

        // A forked log: same size 3 with other entries, or growth from another history.
        let f = tree(10, 8);
        let fork = AddCheckpoint {
            old_size: 3,
            proof: vec![],
            checkpoint: note(&log, &f, 3),
        };
        let e = refusal(&fork);
        assert_eq!((e.clone(), e.status()), (WitnessRefusal::Fork, 422));
        assert!(e.is_evidence());
        let forked_growth = AddCheckpoint {
            old_size: 3,
            proof: f.consistency_proof(3, 5).unwrap(),
            checkpoint: note(&log, &f, 5),
        };
        assert_eq!(refusal(&forked_growth), WitnessRefusal::Inconsistent);
        assert!(!WitnessRefusal::BadProof.is_evidence());

        // Size 0 must carry the empty-string hash (Go's all-zero TreeHash(0) is refused).
        let zero = |root| AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: sign_checkpoint(
                &Checkpoint {
                    origin: ORIGIN.into(),
                    size: 0,
                    root,
                },
                ORIGIN,
                &log,
            ),
        };
        let empty = WitnessState::default();
        assert!(decide_text(empty, Some(&key), &zero(EMPTY_ROOT)).is_ok());
        assert_eq!(
            decide_text(empty, Some(&key), &zero([0; 32])).unwrap_err(),
            WitnessRefusal::EmptyRoot
        );

        // 403: signed by another key, or a known key's signature fails.
        let other = SigningKey::from_seed([9; 32]);
        let forged = AddCheckpoint {
            checkpoint: note(&other, &t, 5),
            ..grow.clone()
        };
        assert!(matches!(refusal(&forged), WitnessRefusal::Signature(_)));
        assert_eq!(refusal(&forged).status(), 403);
        let tampered = AddCheckpoint {
            checkpoint: note(&log, &t, 5).replacen("\n5\n", "\n6\n", 1),
            ..grow.clone()
        };
        assert_eq!(
            refusal(&tampered),
            WitnessRefusal::Signature(NoteError::BadSignature(ORIGIN.into()))
        );
        // 404: no log key, or one for another origin.
        assert_eq!(
            decide_text(state, None, &grow).unwrap_err(),
            WitnessRefusal::UnknownOrigin
        );
        let elsewhere = VerifierKey::new("example.org/other", SIG_ED25519, log.public());
        assert_eq!(
            decide_text(state, Some(&elsewhere), &grow)
                .unwrap_err()
                .status(),
            404
        );
        // 400: not a note, or not a checkpoint.
        let garbage = AddCheckpoint {
            checkpoint: "not a note".into(),
            ..grow.clone()
        };
        assert_eq!(refusal(&garbage).status(), 400);
    }
}
