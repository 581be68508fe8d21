-- The webhook deliveries of applications (issue 14) name a candidate (their subject) and carry the
-- candidate's message: the eraser deletes them by subject, through this index.
CREATE INDEX webhook_deliveries_applications ON webhook_deliveries (subject)
    WHERE type IN (
        'fr.vocation.application.submitted.v1',
        'fr.vocation.application.answered.v1',
        'fr.vocation.application.withdrawn.v1'
    );
