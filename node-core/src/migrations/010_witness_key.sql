-- The log key a witness state's checkpoint was verified under: a later add-checkpoint compares
-- keys instead of verifying the stored note again on the store thread. Rows from earlier
-- versions have none; their note is verified once more, and the next cosigning fills it in.
ALTER TABLE witness_state ADD COLUMN log_key BLOB;
