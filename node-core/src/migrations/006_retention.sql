-- Retention (spec §7.9): a purged summary keeps its header, signature and sealed digest, so
-- its receipt stays verifiable; the sealed content is gone.
ALTER TABLE summaries ADD COLUMN purged_at INTEGER;
ALTER TABLE summaries ADD COLUMN purge_reason TEXT;
ALTER TABLE summaries ADD COLUMN sealed_digest BLOB;
