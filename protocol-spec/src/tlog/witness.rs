//! C2SP tlog-witness add-checkpoint: the request body and the witness's decision, as a pure
//! function of the witness's stored state for the origin.

use super::note::{Note, NoteError, VerifierKey, verify_note};
use super::{Checkpoint, EMPTY_ROOT, Hash, verify_consistency};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// tlog-witness: a client must not send more than 63 proof lines.
pub const MAX_PROOF_LINES: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as text.
    pub checkpoint: String,
}

impl AddCheckpoint {
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
        let bad = |m: &'static str| WitnessRefusal::Malformed(m);
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or(bad("first line must be `old <size>`"))?;
        if old.is_empty()
            || (old.len() > 1 && old.starts_with('0'))
            || !old.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad("old size is not a decimal without leading zeros"));
        }
        let old_size = old.parse().map_err(|_| bad("old size out of range"))?;
        let mut proof = Vec::new();
        for l in lines {
            let h: Hash = B64
                .decode(l)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(bad("proof line is not a base64 hash"))?;
            proof.push(h);
            if proof.len() > MAX_PROOF_LINES {
                return Err(bad("more than 63 proof lines"));
            }
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
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("unknown log origin")]
    UnknownOrigin,
    #[error("checkpoint signature: {0}")]
    Signature(NoteError),
    #[error("old size {old} exceeds checkpoint size {new}")]
    OldBeyondNew { old: u64, new: u64 },
    #[error("old size does not match the latest cosigned size {latest}")]
    Conflict { latest: u64 },
    #[error("consistency proof from the cosigned checkpoint does not verify")]
    Inconsistent,
    #[error("same size as the cosigned checkpoint but a different root")]
    Fork,
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
            WitnessRefusal::Inconsistent | WitnessRefusal::Fork | WitnessRefusal::EmptyRoot => 422,
        }
    }

    /// Whether the log presented a checkpoint inconsistent with one already cosigned: the two
    /// signed checkpoints are evidence of misbehaviour.
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

/// Decides an add-checkpoint request. On success returns the parsed checkpoint and note; the
/// caller persists the new state atomically with its check, then cosigns.
pub fn decide(
    state: WitnessState,
    log_key: Option<&VerifierKey>,
    req: &AddCheckpoint,
) -> Result<(Checkpoint, Note), WitnessRefusal> {
    let note = Note::parse(&req.checkpoint).map_err(WitnessRefusal::Signature)?;
    let cp =
        Checkpoint::parse(&note.text).map_err(|_| WitnessRefusal::Malformed("checkpoint body"))?;
    let key = log_key
        .filter(|k| k.name == cp.origin)
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
    if cp.size == state.size {
        if cp.root != state.root {
            return Err(WitnessRefusal::Fork);
        }
        if !req.proof.is_empty() {
            return Err(WitnessRefusal::Malformed(
                "proof given for an unchanged tree",
            ));
        }
        return Ok((cp, note));
    }
    verify_consistency(state.size, cp.size, &state.root, &cp.root, &req.proof)
        .map_err(|_| WitnessRefusal::Inconsistent)?;
    Ok((cp, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::tlog::note::SIG_ED25519;
    use crate::tlog::{Tree, leaf_hash, sign_checkpoint};

    #[test]
    fn witness_accepts_consistent_growth_and_refuses_forks() {
        let log = SigningKey::from_seed([1; 32]);
        let origin = "example.org/log";
        let key = VerifierKey::new(origin, SIG_ED25519, log.public());
        let mut t = Tree::new();
        for i in 0..5u8 {
            t.append(leaf_hash(&[i]));
        }
        let note = |t: &Tree, n: u64| {
            sign_checkpoint(
                &Checkpoint {
                    origin: origin.into(),
                    size: n,
                    root: t.root_at(n).unwrap(),
                },
                origin,
                &log,
            )
        };
        let first = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(&t, 3),
        };
        let first = AddCheckpoint::parse(&first.to_text()).unwrap();
        let (cp, _) = decide(WitnessState::default(), Some(&key), &first).unwrap();
        let state = WitnessState {
            size: cp.size,
            root: cp.root,
        };

        let grow = AddCheckpoint {
            old_size: 3,
            proof: t.consistency_proof(3, 5).unwrap(),
            checkpoint: note(&t, 5),
        };
        assert!(decide(state, Some(&key), &grow).is_ok());
        let stale = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note(&t, 5),
        };
        assert_eq!(
            decide(state, Some(&key), &stale).unwrap_err(),
            WitnessRefusal::Conflict { latest: 3 }
        );

        // A forked log: same size 3, other entries.
        let mut f = Tree::new();
        for i in 10..15u8 {
            f.append(leaf_hash(&[i]));
        }
        let fork = AddCheckpoint {
            old_size: 3,
            proof: vec![],
            checkpoint: note(&f, 3),
        };
        let e = decide(state, Some(&key), &fork).unwrap_err();
        assert_eq!(e, WitnessRefusal::Fork);
        assert!(e.is_evidence());
        let forked_growth = AddCheckpoint {
            old_size: 3,
            proof: f.consistency_proof(3, 5).unwrap(),
            checkpoint: note(&f, 5),
        };
        assert_eq!(
            decide(state, Some(&key), &forked_growth).unwrap_err(),
            WitnessRefusal::Inconsistent
        );

        let other = SigningKey::from_seed([9; 32]);
        let forged = AddCheckpoint {
            old_size: 3,
            proof: t.consistency_proof(3, 5).unwrap(),
            checkpoint: sign_checkpoint(
                &Checkpoint {
                    origin: origin.into(),
                    size: 5,
                    root: t.root(),
                },
                origin,
                &other,
            ),
        };
        assert!(matches!(
            decide(state, Some(&key), &forged).unwrap_err(),
            WitnessRefusal::Signature(_)
        ));
        assert_eq!(
            decide(state, None, &grow).unwrap_err(),
            WitnessRefusal::UnknownOrigin
        );
    }
}
