// A gateway database of schema version 1 (before change rows had a kind): read as it is without
// being changed, migrated when opened for writing, and written with change rows of kind 'fields'.
import { stateKey } from "../../src/store/keys.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/index.js";
import { encodeKey, SQLITE_SCHEMA_VERSION } from "../../src/store/sqlite.js";
import { openGatewayDb } from "../../targets/rpi/gateway-db.js";
import { status } from "../../targets/rpi/report.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-migrate-"));

const SCHEMA_V1 = `
CREATE TABLE lichen_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE lichen_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE lichen_entities (namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, id)) WITHOUT ROWID;
CREATE TABLE lichen_changes (seq INTEGER PRIMARY KEY, db_version INTEGER NOT NULL, namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT, changed_at TEXT NOT NULL);
CREATE INDEX lichen_changes_by_version ON lichen_changes (db_version);
INSERT INTO lichen_meta VALUES ('schema_version', 1), ('db_version', 1);
INSERT INTO lichen_entities VALUES ('readings', 'n1', 'LWWMap', '{"hum":40,"temp":20}', 1, '2025-01-01T00:00:00.000Z');
INSERT INTO lichen_changes VALUES (1, 1, 'readings', 'n1', 'LWWMap', '{"hum":40,"temp":20}', '2025-01-01T00:00:00.000Z');
`;

function v1File(): { path: string; map: LWWMap<number> } {
  const path = join(DIR, `v1-${Math.random().toString(36).slice(2)}.db`);
  const map = new LWWMap<number>("n1");
  map.set("temp", 20);
  map.set("hum", 40);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(SCHEMA_V1);
  db.prepare("INSERT INTO lichen_kv VALUES (?, ?)").run(encodeKey(stateKey("readings", "n1")), map.toBytes());
  db.close();
  return { path, map };
}

test("read-only: a version 1 file is read as it is (its change rows are whole values) and left unchanged", () => {
  const { path, map } = v1File();
  const db = openGatewayDb(path, { readOnly: true });
  assert.is(db.schemaVersion(), 1);
  assert.equal(db.kv.changesSince(0).map((c) => [c.kind, c.value, c.removed]), [["value", '{"hum":40,"temp":20}', null]]);
  assert.equal(db.states.load("readings", "n1", (b) => LWWMap.fromBytes(b))?.value(), map.value());
  const s = status(db);
  assert.equal([s.schemaVersion, s.known.schemaVersion], [1, SQLITE_SCHEMA_VERSION], "lichen status reads it, and says which version it is");
  db.close();
  const raw = new Database(path, { readonly: true });
  assert.is(raw.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), 1, "still version 1");
  raw.close();
});

test("writable: a version 1 file is migrated; the states load; new changes of keys are rows of kind 'fields'", () => {
  const { path, map } = v1File();
  const db = openGatewayDb(path);
  assert.is(db.schemaVersion(), SQLITE_SCHEMA_VERSION);
  const held = db.states.load("readings", "n1", (b) => LWWMap.fromBytes<number>(b))!;
  assert.equal(held.value(), map.value());
  held.set("temp", 21);
  db.states.save("readings", "n1", held, ["temp"]);
  const rows = db.kv.changesSince(0);
  assert.equal(rows.map((c) => [c.db_version, c.kind, c.value]), [
    [1, "value", '{"hum":40,"temp":20}'],
    [2, "fields", '{"temp":21}'],
  ]);
  assert.is(db.sql.prepare("SELECT value FROM lichen_entities WHERE id = 'n1'").pluck().get(), '{"hum":40,"temp":21}', "the mirror row patched");
  db.close();
});

test.after(() => rmSync(DIR, { recursive: true, force: true }));

test.run();
