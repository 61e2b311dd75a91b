-- After a roster change the outbox holds one roster item per member (10,000 in a large
-- federation), a few of which leave each time one is answered (spec §5.4): they are found by
-- their time, not by reading the outbox through. Other items are few and are read through at
-- each tick; an index on them would cost a page write per exchange.
CREATE INDEX outbox_rosters_due ON outbox (next_attempt, id) WHERE topic = 'roster';
