-- Partners' token buckets, shared by every gateway process and instance: a partner's rate limit
-- is the partner's, not per process (see adapters/rate_limits.py).
CREATE TABLE rate_buckets (
    partner    text             PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz      NOT NULL
);
