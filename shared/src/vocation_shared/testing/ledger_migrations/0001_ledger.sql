CREATE TABLE effects (event_id text NOT NULL, subject text NOT NULL, applied_at timestamptz DEFAULT now());
CREATE TABLE deliveries (event_id text NOT NULL, delivered_at timestamptz DEFAULT now());
