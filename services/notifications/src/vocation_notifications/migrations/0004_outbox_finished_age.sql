-- Retention deletes the notifications finished more than VOCATION_RETENTION_DAYS ago.
CREATE INDEX outbox_finished_created ON outbox (created_at)
    WHERE state IN ('sent', 'failed', 'suppressed', 'digested');
