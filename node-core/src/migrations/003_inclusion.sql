-- Inclusion proofs exchanged for each disclosure: the responder's proof of its disclosure
-- entry, kept by the requester, and the requester's proof of its receipt, kept by the responder.
CREATE TABLE peer_inclusion (
    peer           TEXT NOT NULL,
    request_digest BLOB NOT NULL,
    leaf_index     INTEGER NOT NULL,
    leaf_hash      BLOB NOT NULL,
    checkpoint     TEXT NOT NULL,
    proof          BLOB NOT NULL,
    PRIMARY KEY (peer, request_digest)
) STRICT;
