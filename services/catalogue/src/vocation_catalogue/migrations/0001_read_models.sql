-- Read models of the catalogue, built from the entity topics (event-carried state).
-- Every row keeps the entity's last version: an older version never overwrites a newer one.
-- Searchable rows hold a folded text (search_text), its tsvector, the commune's département and
-- the position (explicit position, else the commune's town hall) used for distances.

CREATE TABLE establishments (
    id            text        PRIMARY KEY,
    version       integer     NOT NULL,
    siret         text        NOT NULL,
    name          text        NOT NULL,
    kind          text        NOT NULL,
    commune_insee text        NOT NULL,
    lat           double precision,
    lon           double precision,
    data          jsonb       NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE vacancies (
    id               text        PRIMARY KEY,
    version          integer     NOT NULL,
    status           text        NOT NULL,
    rome_code        text        NOT NULL,
    contract_type    text        NOT NULL,
    working_time     text        NOT NULL,
    night            boolean     NOT NULL,
    weekend          boolean     NOT NULL,
    housing_offered  boolean     NOT NULL,
    required_diploma text,
    start_date       date        NOT NULL,
    commune_insee    text        NOT NULL,
    departement      text        NOT NULL,
    lat              double precision,
    lon              double precision,
    establishment_id text        NOT NULL,
    posted_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    search_text      text        NOT NULL,
    search           tsvector    GENERATED ALWAYS AS (to_tsvector('french', search_text)) STORED,
    data             jsonb       NOT NULL
);
-- Distance searches: a 2-D index on the position of open vacancies (bounding box with <@).
CREATE INDEX vacancies_open_position ON vacancies USING gist (point(lon, lat))
    WHERE status = 'open' AND lat IS NOT NULL;
CREATE INDEX vacancies_open_posted ON vacancies (posted_at DESC, id) WHERE status = 'open';
CREATE INDEX vacancies_open_departement ON vacancies (departement, posted_at DESC) WHERE status = 'open';
CREATE INDEX vacancies_open_rome ON vacancies (rome_code, posted_at DESC) WHERE status = 'open';
CREATE INDEX vacancies_open_text ON vacancies USING gin (search) WHERE status = 'open';

CREATE TABLE immersion_slots (
    id               text        PRIMARY KEY,
    version          integer     NOT NULL,
    status           text        NOT NULL,
    rome_code        text        NOT NULL,
    start_date       date        NOT NULL,
    end_date         date        NOT NULL,
    capacity         integer     NOT NULL,
    places_left      integer     NOT NULL CHECK (places_left >= 0 AND places_left <= capacity),
    -- The last version the slot's owner sent; the catalogue's bookings raise `version` beyond it.
    partner_version  integer     NOT NULL DEFAULT 0,
    commune_insee    text        NOT NULL,
    departement      text        NOT NULL,
    lat              double precision,
    lon              double precision,
    establishment_id text        NOT NULL,
    posted_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    search_text      text        NOT NULL,
    search           tsvector    GENERATED ALWAYS AS (to_tsvector('french', search_text)) STORED,
    data             jsonb       NOT NULL
);
CREATE INDEX immersion_slots_open_position ON immersion_slots USING gist (point(lon, lat))
    WHERE status = 'open' AND lat IS NOT NULL;
CREATE INDEX immersion_slots_open_start ON immersion_slots (start_date, id) WHERE status = 'open';
CREATE INDEX immersion_slots_open_text ON immersion_slots USING gin (search) WHERE status = 'open';

CREATE TABLE trainings (
    id                      text        PRIMARY KEY,
    version                 integer     NOT NULL,
    status                  text        NOT NULL,
    rome_code               text        NOT NULL,
    diploma                 text        NOT NULL,
    apprenticeship_possible boolean     NOT NULL,
    start_date              date        NOT NULL,
    end_date                date        NOT NULL,
    application_deadline    date,
    places_left             integer     NOT NULL,
    commune_insee           text        NOT NULL,
    departement             text        NOT NULL,
    lat                     double precision,
    lon                     double precision,
    posted_at               timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    search_text             text        NOT NULL,
    search                  tsvector    GENERATED ALWAYS AS (to_tsvector('french', search_text)) STORED,
    data                    jsonb       NOT NULL
);
CREATE INDEX trainings_open_position ON trainings USING gist (point(lon, lat))
    WHERE status = 'open' AND lat IS NOT NULL;
CREATE INDEX trainings_open_start ON trainings (start_date, id) WHERE status = 'open';
CREATE INDEX trainings_open_text ON trainings USING gin (search) WHERE status = 'open';

-- Immersion bookings decided by the catalogue. A cancelled booking keeps its row.
CREATE TABLE immersion_bookings (
    request_id   text        PRIMARY KEY,
    slot_id      text        NOT NULL,
    candidate_id text        NOT NULL,
    start_date   date        NOT NULL,
    end_date     date        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('booked', 'cancelled')),
    booked_at    timestamptz NOT NULL,
    cancelled_at timestamptz
);
CREATE INDEX immersion_bookings_slot ON immersion_bookings (slot_id) WHERE status = 'booked';
CREATE INDEX immersion_bookings_candidate ON immersion_bookings (candidate_id) WHERE status = 'booked';

-- What the catalogue published for a request or a cancellation, in order, so that a redelivery
-- republishes the very same events instead of deciding again.
CREATE TABLE immersion_outcomes (
    key        text        PRIMARY KEY,
    events     jsonb       NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);
