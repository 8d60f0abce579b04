-- SPDX-License-Identifier: Apache-2.0
-- Copyright 2026 the mod_protime authors

-- mod_protime schema, SQLite 3. Idempotent: the module runs it at every start.
-- The module switches the file to WAL mode itself (PRAGMA journal_mode=WAL),
-- so that readers never block the webhook's writes.

-- One row per access clocking id: the change with the highest change_version.
-- id is INTEGER (not BIGINT) so that it is the rowid: same 64-bit range, no
-- second index. change_version compares with BINARY (memcmp), the byte order
-- the changeVersion rule needs; the upsert compares excluded.change_version
-- with the column, so the column's collation decides.
CREATE TABLE IF NOT EXISTS protime_access_clockings (
    id                  INTEGER PRIMARY KEY,
    change_version      TEXT COLLATE BINARY NOT NULL,
    deleted             INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    person_id           BIGINT,
    date                TEXT,
    time_of_day_minutes INTEGER,
    terminal_id         BIGINT,
    status              TEXT,
    person_refs         TEXT,
    terminal_refs       TEXT,
    payload             TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Only the indexes of the README's example queries: every index is written
-- by every delivery, and one in person order, where live clockings land on
-- pages all over the index, costs about a tenth of the SQLite throughput in
-- bench/run. Add the ones your own queries need.
-- For readers that ask for a day: live clockings are appended at its end.
CREATE INDEX IF NOT EXISTS protime_access_clockings_date
    ON protime_access_clockings (date, time_of_day_minutes);
-- For readers that export what changed since their last run.
CREATE INDEX IF NOT EXISTS protime_access_clockings_updated
    ON protime_access_clockings (updated_at);

-- Signed deliveries or events that could not be applied, kept verbatim.
-- body is the text itself ('utf-8') or, when it holds a NUL byte or is not
-- valid UTF-8, its base64 encoding ('base64').
CREATE TABLE IF NOT EXISTS protime_quarantine (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at         BIGINT NOT NULL,
    reason              TEXT NOT NULL,
    body                TEXT NOT NULL,
    body_encoding       TEXT NOT NULL CHECK (body_encoding IN ('utf-8', 'base64'))
);

CREATE INDEX IF NOT EXISTS protime_quarantine_received
    ON protime_quarantine (received_at);

-- The webhooks mod_protime created at Protime for a tenant and destination,
-- with their signing keys (Protime shows a key once, at creation). One is
-- 'active'; a replaced one is 'retiring' until it is deleted at Protime
-- (at retire_at), then 'retired'; the keys of all three are accepted until
-- valid_until. Times are Unix microseconds. Keep this table as private as
-- the keys in it.
CREATE TABLE IF NOT EXISTS protime_subscriptions (
    webhook_id          TEXT PRIMARY KEY,
    tenant              TEXT NOT NULL,
    destination_url     TEXT NOT NULL,
    webhook_key         TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    valid_until         BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    checked_at          BIGINT NOT NULL,
    retire_at           BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS protime_subscriptions_destination
    ON protime_subscriptions (tenant, destination_url);

-- The full re-synchronisation through GET /access-clockings, per tenant and
-- destination: owed (pending = 1) from window_from, continuing at next_link,
-- or finished (pending = 0). rows and pages count the running or the last one.
CREATE TABLE IF NOT EXISTS protime_sync (
    tenant              TEXT NOT NULL,
    destination_url     TEXT NOT NULL,
    pending             INTEGER NOT NULL CHECK (pending IN (0, 1)),
    window_from         TEXT,
    next_link           TEXT,
    rows_applied        BIGINT NOT NULL,
    pages               BIGINT NOT NULL,
    started_at          BIGINT NOT NULL,
    finished_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant, destination_url)
);

-- Which server runs the subscription of a tenant and destination when
-- several share this database: the owner renews expires_at (Unix
-- microseconds) at every step of its job; another takes over once that
-- time has passed without a renewal.
CREATE TABLE IF NOT EXISTS protime_lease (
    name                TEXT PRIMARY KEY,
    owner               TEXT NOT NULL,
    expires_at          BIGINT NOT NULL
);

-- With ProtimeCaptureRefused On: the last deliveries (pt_store.h says how
-- many) that a location refused for their signature, so that an
-- administrator can show Protime's support what arrived. headers is a JSON
-- array of [name, value] pairs, in the order received, with the values of
-- secret-looking headers replaced by "<cut: N bytes>"; body is the start
-- of the body (encoded as in protime_quarantine), body_length its full
-- length in bytes.
CREATE TABLE IF NOT EXISTS protime_refused (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    location            TEXT NOT NULL,
    received_at         BIGINT NOT NULL,
    reason              TEXT NOT NULL,
    headers             TEXT NOT NULL,
    body                TEXT NOT NULL,
    body_encoding       TEXT NOT NULL CHECK (body_encoding IN ('utf-8', 'base64')),
    body_length         BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS protime_refused_location
    ON protime_refused (location, id);

-- Every collection but access clockings, one row per collection and id:
-- the change with the highest change_version, by the rule and collation of
-- protime_access_clockings (a Delete leaves deleted = 1 and the last data).
-- data is the change's data object as received, compact, keys in received
-- order; nothing in it but id and changeVersion is checked.
CREATE TABLE IF NOT EXISTS protime_records (
    collection          TEXT NOT NULL,
    id                  BIGINT NOT NULL,
    change_version      TEXT COLLATE BINARY NOT NULL,
    deleted             INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    data                TEXT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (collection, id)
);

-- Protime's people, with the columns an access clocking's person_id is
-- looked up for. Protime's documentation of the people schema could not be
-- read when this was written (only the collection's name is known): the
-- members are those Protime names elsewhere (firstName, lastName,
-- employeeNumber); the rest of a person is in data.
CREATE VIEW IF NOT EXISTS protime_people AS
    SELECT id,
           json_extract(data, '$.firstName') AS first_name,
           json_extract(data, '$.lastName') AS last_name,
           json_extract(data, '$.employeeNumber') AS employee_number,
           deleted,
           updated_at
    FROM protime_records
    WHERE collection = 'people';

-- Reconciliation by delta, per tenant and destination (one collection
-- each): the deltaLink to fetch next (Protime's, its token included) and
-- when it was stored, or, while the delta is being started by a list
-- call, the nextLink of that list. synced_at is the finished_at of the
-- full re-synchronisation (protime_sync) the delta follows: a later one
-- starts a new delta. Created last, as the PostgreSQL schema check wants
-- (pt_store_pg_schema_done).
CREATE TABLE IF NOT EXISTS protime_delta (
    tenant              TEXT NOT NULL,
    destination_url     TEXT NOT NULL,
    collection          TEXT NOT NULL,
    delta_link          TEXT,
    next_link           TEXT,
    synced_at           BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (tenant, destination_url)
);
