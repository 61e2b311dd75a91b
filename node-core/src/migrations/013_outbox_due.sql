-- Due items are found by their time: after a roster change the outbox holds one roster item
-- per member (10,000 in a large federation), which every send of due items would otherwise
-- read through. Rosters leave a few at a time, apart from the other items (spec §5.4).
CREATE INDEX outbox_due ON outbox (next_attempt, id) WHERE topic IS NOT 'roster';
CREATE INDEX outbox_rosters_due ON outbox (next_attempt, id) WHERE topic = 'roster';
