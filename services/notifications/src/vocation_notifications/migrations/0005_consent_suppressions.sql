-- An opt-out sticks: per (candidate, channel), the newest suppression (STOP reply, unsubscribe link,
-- withdrawal stated by a partner or the candidate) and the newest re-consent from the candidate.
-- The channel is off while suppressed_at is set and no re-consent is newer. No personal data
-- beyond the candidate id; deleted with the contact on erasure.
CREATE TABLE consent_suppressions (
    candidate_id  text        NOT NULL,
    channel       text        NOT NULL CHECK (channel IN ('email', 'sms')),
    origin        text,
    suppressed_at timestamptz,
    lifted_at     timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (candidate_id, channel)
);

-- The channels the partner's last full state claims; `channels` is what may be used: those minus
-- the suppressed ones. Contacts stored before keep what they had.
ALTER TABLE contacts ADD COLUMN claimed_channels text[];
UPDATE contacts SET claimed_channels = channels;
ALTER TABLE contacts ALTER COLUMN claimed_channels SET NOT NULL;
ALTER TABLE contacts ALTER COLUMN claimed_channels SET DEFAULT '{}';
