-- mod_protime schema, PostgreSQL (10 or later). Idempotent: the module runs
-- it at every start.

-- One row per access clocking id: the change with the highest change_version.
-- change_version uses the "C" collation whatever the database's default, so
-- that versions compare as plain bytes; the upsert compares
-- excluded.change_version with the column, so the column's collation decides.
CREATE TABLE IF NOT EXISTS protime_access_clockings (
    id                  BIGINT PRIMARY KEY,
    change_version      TEXT COLLATE "C" NOT NULL,
    deleted             INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    person_id           BIGINT,
    date                DATE,
    time_of_day_minutes INTEGER,
    terminal_id         BIGINT,
    status              TEXT,
    person_refs         TEXT,
    terminal_refs       TEXT,
    payload             TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS protime_access_clockings_date
    ON protime_access_clockings (date, time_of_day_minutes);
CREATE INDEX IF NOT EXISTS protime_access_clockings_person
    ON protime_access_clockings (person_id, date);
-- For readers that export what changed since their last run.
CREATE INDEX IF NOT EXISTS protime_access_clockings_updated
    ON protime_access_clockings (updated_at);

-- Signed deliveries or events that could not be applied, kept verbatim.
-- body is the text itself ('utf-8') or, when it holds a NUL byte or is not
-- valid UTF-8, its base64 encoding ('base64').
CREATE TABLE IF NOT EXISTS protime_quarantine (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at         BIGINT NOT NULL,
    reason              TEXT NOT NULL,
    body                TEXT NOT NULL,
    body_encoding       TEXT NOT NULL CHECK (body_encoding IN ('utf-8', 'base64'))
);

CREATE INDEX IF NOT EXISTS protime_quarantine_received
    ON protime_quarantine (received_at);
