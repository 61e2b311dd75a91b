-- The last problem met delivering an outbox item, shown by `passerelle queue`.
ALTER TABLE outbox ADD COLUMN last_problem TEXT;
