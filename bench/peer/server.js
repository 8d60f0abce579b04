// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 the mod_protime authors

// The peer bench/run measures mod_protime against: what a developer would
// write by hand to receive Protime's webhook, with Express and
// better-sqlite3. One Node process (Node runs JavaScript on one thread;
// better-sqlite3 is synchronous). For each delivery it
//   - checks X-Protime-Signature, base64(HMAC-SHA256(key, raw body)), in
//     constant time;
//   - parses the JSON: one event, a bare clocking, an array of either, or
//     {"value": [...]}, and checks the fields of each event;
//   - applies the events in one transaction with the changeVersion rule of
//     mod_protime (one conditional upsert, tombstones for deletes) into the
//     module's own schema (sql/schema-sqlite3.sql), WAL, synchronous=FULL
//     (by default);
//   - answers 204 after the commit; 401 on a bad signature, 400 on a body it
//     cannot use, 503 when the write fails.
// There is no group commit: each delivery is its own transaction and its
// own fsync, as in any receiver written this way.
//
//   node server.js PORT DBFILE KEY SCHEMA.sql [FULL|NORMAL]
//
// The last argument is SQLite's synchronous setting, FULL by default as the
// module's (NORMAL, for comparison, loses acknowledged deliveries in a power
// cut).
// Prints "listening" on stdout once it accepts connections; SIGTERM closes
// the server and the database.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const express = require('express');
const Database = require('better-sqlite3');

const [port, dbFile, key, schemaFile, sync = 'FULL'] = process.argv.slice(2);
if (!schemaFile || !['FULL', 'NORMAL'].includes(sync)) {
  console.error('usage: node server.js PORT DBFILE KEY SCHEMA.sql [FULL|NORMAL]');
  process.exit(64);
}

const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${sync}`);
db.exec(fs.readFileSync(schemaFile, 'utf8'));

// The module's upsert (mod_protime/pt_store.c): a delete keeps the row's
// data and marks it deleted; nothing changes unless the version is higher.
const keep = (col) =>
  `${col} = CASE WHEN excluded.deleted = 1 THEN c.${col} ELSE excluded.${col} END, `;
const upsert = db.prepare(
  'INSERT INTO protime_access_clockings AS c' +
  ' (id, change_version, deleted, person_id, date, time_of_day_minutes,' +
  ' terminal_id, status, person_refs, terminal_refs, payload, updated_at)' +
  ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)' +
  ' ON CONFLICT (id) DO UPDATE SET' +
  ' change_version = excluded.change_version, deleted = excluded.deleted, ' +
  ['person_id', 'date', 'time_of_day_minutes', 'terminal_id', 'status',
   'person_refs', 'terminal_refs', 'payload'].map(keep).join('') +
  'updated_at = excluded.updated_at' +
  ' WHERE excluded.change_version > c.change_version');

const applyAll = db.transaction((rows) => {
  for (const r of rows) upsert.run(r);
});

const isId = (v) => Number.isSafeInteger(v) && v >= 1;
const isDate = (s) => {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(s + 'T00:00:00Z');
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
};
const refsOf = (o) => {
  if (o === undefined || o === null) return [null, null];
  if (typeof o !== 'object' || !isId(o.id)) throw new Error('bad reference');
  const ext = o.externalReferences;
  return [o.id, ext === undefined || ext === null ? null : JSON.stringify(ext)];
};

// One event to the upsert's parameters; throws when it is not valid.
function rowOf(event, now) {
  let type = 'InsertOrUpdate';
  let data = event;
  if (event && typeof event === 'object' && 'changeType' in event) {
    type = event.changeType;
    data = event.data;
  }
  if (!data || typeof data !== 'object') throw new Error('no data');
  const cv = data.changeVersion;
  if (!isId(data.id) || typeof cv !== 'string' || cv.length < 1 || cv.length > 64)
    throw new Error('bad id or changeVersion');
  if (type === 'Delete')
    return [data.id, cv, 1, null, null, null, null, null, null, null,
            JSON.stringify(data), now];
  if (type !== 'InsertOrUpdate') throw new Error('bad changeType');
  const t = data.timeOfDayInMinutes;
  if (!isDate(data.date) || !Number.isInteger(t) || t < 0 || t > 1439
      || typeof data.status !== 'string' || data.status.length < 1
      || data.status.length > 64)
    throw new Error('bad field');
  const [personId, personRefs] = refsOf(data.person);
  const [terminalId, terminalRefs] = refsOf(data.terminal);
  return [data.id, cv, 0, personId, data.date, t, terminalId, data.status,
          personRefs, terminalRefs, JSON.stringify(data), now];
}

const keyBuf = Buffer.from(key);
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.post('/hook', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const given = Buffer.from(req.get('X-Protime-Signature') || '', 'base64');
  const want = crypto.createHmac('sha256', keyBuf).update(body).digest();
  if (given.length !== want.length || !crypto.timingSafeEqual(given, want))
    return res.sendStatus(401);
  let rows;
  try {
    const doc = JSON.parse(body.toString('utf8'));
    const events = Array.isArray(doc) ? doc
      : doc && Array.isArray(doc.value) ? doc.value : [doc];
    const now = Date.now() * 1000;
    rows = events.map((e) => rowOf(e, now));
  } catch (e) {
    return res.sendStatus(400);
  }
  try {
    applyAll(rows);
  } catch (e) {
    res.set('Retry-After', '5');
    return res.sendStatus(503);
  }
  res.sendStatus(204);
});

const server = app.listen(Number(port), '127.0.0.1', () => {
  console.log('listening');
});
server.keepAliveTimeout = 15000;
process.on('SIGTERM', () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeIdleConnections();
});
