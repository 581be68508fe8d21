-- A message that a person's click just asked for (core.policy.PROMPT_PURPOSES) is taken before
-- the queue of match messages: `prompt` is set when the row is planned, and the delivery worker
-- claims the due rows by (prompt first, then not_before).
ALTER TABLE outbox ADD COLUMN prompt boolean NOT NULL DEFAULT false;
CREATE INDEX outbox_due_prompt ON outbox (prompt DESC, not_before) WHERE state = 'pending';
