-- Processed marks keep the keyed pseudonym of each event id (a match id embeds a candidate id):
-- the marks written before hold bare ids and are rewritten at start (`Store.pseudonymize_processed`,
-- SQL cannot compute the pseudonym without the key). This partial index finds them at once, and
-- stays empty afterwards.
CREATE INDEX processed_events_bare ON processed_events (consumer) WHERE event_id NOT LIKE 'ps1\_%';
