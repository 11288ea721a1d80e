// The SQL mirror of large entities (schema versions 3 and 4): their changed fields go to a small patch
// row instead of rewriting the value, and the view lichen_entities reads the current value all
// the same, whatever the mix of field sets, removals, nulls, objects, whole writes and deletes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EntityView } from "../../src/store/kv.js";
import { SQLITE_SCHEMA_VERSION, SqliteKv } from "../../src/store/sqlite.js";
import { fc, property } from "../prop.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-mirror-"));
let files = 0;
const freshPath = (): string => join(DIR, `m${files++}.db`);

type Obj = Record<string, unknown>;

/** A fresh file holding one large entity, r/big, written whole; and a reader of the file. */
function withBigEntity(): { kv: SqliteKv; sql: Database.Database; v: Obj } {
  const path = freshPath();
  const kv = SqliteKv.open(path);
  const sql = new Database(path, { readonly: true });
  const v = start(true);
  kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", value: v }]);
  return { kv, sql, v };
}

/** A file as an older lichen left it: lichen_meta, lichen_kv and lichen_changes (as versions 2 and 3 have them), then `tables`. */
function olderFile(tables: string): string {
  const path = freshPath();
  const raw = new Database(path);
  raw.pragma("journal_mode = WAL");
  raw.exec(`
CREATE TABLE lichen_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE lichen_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE lichen_changes (seq INTEGER PRIMARY KEY, db_version INTEGER NOT NULL, namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT, changed_at TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'value', removed TEXT);
CREATE INDEX lichen_changes_by_version ON lichen_changes (db_version);
${tables}`);
  raw.close();
  return path;
}

/** Opened read-only by SqliteKv, an older file is read as it is: its schema version stays `version`. */
function readOnlyLeaves(path: string, version: number): void {
  SqliteKv.open(path, { readOnly: true }).close();
  const check = new Database(path, { readonly: true });
  assert.is(check.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), version, `read-only: still version ${version}`);
  check.close();
}

/** A value whose JSON is over the patch-row threshold (8 KB) when `big`. */
function start(big: boolean): Obj {
  const v: Obj = {};
  for (let i = 0; i < (big ? 1000 : 3); i++) v[`k${i}`] = i * 1.5;
  return v;
}

function mirrored(sql: Database.Database, id: string): { value: unknown; db_version: number; type: string } | undefined {
  const r = sql.prepare("SELECT value, db_version, type FROM lichen_entities WHERE namespace = 'r' AND id = ? AND store = 'state'").get(id) as { value: string; db_version: number; type: string } | undefined;
  return r === undefined ? undefined : { value: JSON.parse(r.value), db_version: r.db_version, type: r.type };
}

type Change =
  | { readonly t: "fields"; readonly fields: ReadonlyArray<readonly [string, unknown]> }
  | { readonly t: "whole" }
  | { readonly t: "delete" };

const arbField = fc.tuple(
  fc.constantFrom("k0", "k1", "k2", "k5", "new", "n\u00e9w \"q\"", "k999"),
  fc.oneof(fc.integer(), fc.string({ maxLength: 300 }), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant({ a: 1 }), fc.constant([1, 2])),
);
const arbChange: fc.Arbitrary<Change> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("fields" as const), fields: fc.uniqueArray(arbField, { minLength: 1, maxLength: 4, selector: (f) => f[0] }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "whole" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "delete" as const }) },
);

test("the view reads every change of a large or small entity, patched in a row of its own or in place", () => {
  property(
    "lichen_entities reads the model",
    [fc.array(fc.tuple(fc.boolean(), arbChange), { minLength: 1, maxLength: 60, size: "max" })],
    (changes) => {
      const path = freshPath();
      const kv = SqliteKv.open(path);
      const sql = new Database(path, { readonly: true });
      const model = new Map<string, Obj>([["big", start(true)], ["small", start(false)]]);
      try {
        for (const id of model.keys()) kv.batch([], [{ namespace: "r", id, type: "LWWMap", value: model.get(id)! }]);
        let version = kv.dbVersion();
        for (const [big, c] of changes) {
          const id = big ? "big" : "small";
          let view: EntityView;
          if (c.t === "delete") {
            model.delete(id);
            view = { namespace: "r", id, type: "", value: undefined };
          } else if (c.t === "whole") {
            const v = start(big);
            model.set(id, v);
            view = { namespace: "r", id, type: "LWWMap", value: v };
          } else {
            const v = model.get(id) ?? {};
            for (const [k, x] of c.fields) {
              if (x === undefined) delete v[k];
              else v[k] = x;
            }
            model.set(id, v);
            view = { namespace: "r", id, type: "LWWMap", fields: c.fields, wholeValue: () => v };
          }
          kv.batch([], [view]);
          version++;
          const want = model.get(id);
          const got = mirrored(sql, id);
          if (want === undefined) assert.is(got, undefined);
          else assert.equal(got, { value: JSON.parse(JSON.stringify(want)), db_version: version, type: "LWWMap" });
        }
        // and a connection opened afterwards (which reads the patch rows) goes on from there
        kv.close();
        const again = SqliteKv.open(path);
        for (const id of ["big", "small"]) {
          const v = model.get(id) ?? {};
          v.k1 = "after";
          model.set(id, v);
          again.batch([], [{ namespace: "r", id, type: "LWWMap", fields: [["k1", "after"]], wholeValue: () => v }]);
          assert.equal(mirrored(sql, id)?.value, JSON.parse(JSON.stringify(v)));
        }
        again.close();
      } finally {
        sql.close();
      }
    },
    { numRuns: 60 },
  );
});

test("a one-field change of a large entity writes a small patch row, not its value; the patch is folded past its bound", () => {
  const { kv, sql, v } = withBigEntity();
  const stored = () => sql.prepare("SELECT value FROM lichen_entity_values WHERE id = 'big'").pluck().get() as string;
  const patch = () => sql.prepare("SELECT patch FROM lichen_entity_patches WHERE id = 'big'").pluck().get() as string | undefined;
  const before = stored();
  assert.ok(before.length > 8192);
  v.k3 = -1;
  kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [["k3", -1]], wholeValue: () => v }]);
  assert.is(stored(), before, "the value's row is not rewritten");
  assert.is(patch(), '{"k3":-1}');
  // strings up to the fold bound (4 KB of patch)
  let i = 0;
  while (patch() !== undefined) {
    const s = "x".repeat(500) + i;
    v[`s${i}`] = s;
    kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [[`s${i}`, s]], wholeValue: () => v }]);
    i++;
    assert.ok(i < 20);
  }
  assert.ok(i >= 8, `folded after ${i} changes`);
  assert.equal(JSON.parse(stored()), v, "folded: the value holds every change");
  assert.equal(JSON.parse(sql.prepare("SELECT value FROM lichen_entities WHERE id = 'big'").pluck().get() as string), v);
  // a removal folds the patch first, then removes in place
  v.k4 = 4.5;
  kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [["k4", 4.5]], wholeValue: () => v }]);
  assert.is(patch(), '{"k4":4.5}');
  delete v.k4;
  delete v.k0;
  kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [["k0", undefined], ["k4", undefined]], wholeValue: () => v }]);
  assert.is(patch(), undefined);
  assert.equal(JSON.parse(stored()), v);
  sql.close();
  kv.close();
});

test("a version 2 file is upgraded when opened for writing (its rows kept, read through the view); read-only, it is read as it is", () => {
  const path = olderFile(`
CREATE TABLE lichen_entities (namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, store TEXT NOT NULL, PRIMARY KEY (namespace, id, store)) WITHOUT ROWID;
INSERT INTO lichen_meta VALUES ('schema_version', 2), ('db_version', 1);
INSERT INTO lichen_entities VALUES ('readings', 'n1', 'LWWMap', '{"temp":20}', 1, '2025-01-01T00:00:00.000Z', 'state');
`);
  readOnlyLeaves(path, 2);
  const kv = SqliteKv.open(path);
  kv.batch([], [{ namespace: "readings", id: "n1", type: "LWWMap", fields: [["hum", 40]], wholeValue: () => ({ hum: 40, temp: 20 }) }]);
  kv.close();
  const sql = new Database(path, { readonly: true });
  assert.is(sql.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), SQLITE_SCHEMA_VERSION);
  assert.is(sql.prepare("SELECT type FROM sqlite_master WHERE name = 'lichen_entities'").pluck().get(), "view");
  assert.equal(sql.prepare("SELECT namespace, id, type, value, db_version, store FROM lichen_entities").all(), [{ namespace: "readings", id: "n1", type: "LWWMap", value: '{"temp":20,"hum":40}', db_version: 2, store: "state" }]);
  sql.close();
});

test("a patch row up to the fold bound stays in its page: no overflow pages to free and allocate again at every change", () => {
  const { kv, sql, v } = withBigEntity();
  const patch = () => sql.prepare("SELECT length(patch) FROM lichen_entity_patches WHERE id = 'big'").pluck().get() as number | undefined;
  const overflowPages = () => sql.prepare("SELECT count(*) FROM dbstat WHERE name = 'lichen_entity_patches' AND pagetype = 'overflow'").pluck().get() as number;
  let longest = 0;
  for (let i = 0; i < 400; i++) {
    v[`k${i}`] = -i - 0.25;
    kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [[`k${i}`, v[`k${i}`]]], wholeValue: () => v }]);
    const len = patch();
    if (len === undefined) break; // folded
    longest = Math.max(longest, len);
    assert.is(overflowPages(), 0, `a patch of ${len} bytes`);
  }
  assert.ok(longest > 3500, `the patch grew to ${longest} bytes before its fold`);
  assert.equal(JSON.parse(sql.prepare("SELECT value FROM lichen_entities WHERE id = 'big'").pluck().get() as string), v);
  sql.close();
  kv.close();
});

test("a version 3 file (its patch rows WITHOUT ROWID) is upgraded when opened for writing: the rows kept, read through the view", () => {
  const path = olderFile(`
CREATE TABLE lichen_entity_values (namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, store TEXT NOT NULL, PRIMARY KEY (namespace, id, store)) WITHOUT ROWID;
CREATE TABLE lichen_entity_patches (namespace TEXT NOT NULL, id TEXT NOT NULL, store TEXT NOT NULL, type TEXT NOT NULL, patch TEXT NOT NULL, db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, id, store)) WITHOUT ROWID;
CREATE VIEW lichen_entities AS SELECT v.namespace AS namespace, v.id AS id, coalesce(p.type, v.type) AS type, CASE WHEN p.patch IS NULL THEN v.value ELSE json_patch(v.value, p.patch) END AS value, coalesce(p.db_version, v.db_version) AS db_version, coalesce(p.updated_at, v.updated_at) AS updated_at, v.store AS store FROM lichen_entity_values v LEFT JOIN lichen_entity_patches p ON p.namespace = v.namespace AND p.id = v.id AND p.store = v.store;
INSERT INTO lichen_meta VALUES ('schema_version', 3), ('db_version', 2);
INSERT INTO lichen_entity_values VALUES ('r', 'big', 'LWWMap', '{"a":1,"b":2}', 1, '2025-01-01T00:00:00.000Z', 'state');
INSERT INTO lichen_entity_patches VALUES ('r', 'big', 'state', 'LWWMap', '{"a":5}', 2, '2025-01-01T00:00:01.000Z');
`);
  readOnlyLeaves(path, 3);
  const kv = SqliteKv.open(path);
  const sql = new Database(path, { readonly: true });
  assert.is(sql.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), SQLITE_SCHEMA_VERSION);
  const ddl = sql.prepare("SELECT sql FROM sqlite_master WHERE name = 'lichen_entity_patches'").pluck().get() as string;
  assert.not.match(ddl, /WITHOUT ROWID/);
  assert.equal(sql.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'lichen_entity_patches%' AND type = 'table'").pluck().all(), ["lichen_entity_patches"], "the old table is gone");
  assert.equal(mirrored(sql, "big"), { value: { a: 5, b: 2 }, db_version: 2, type: "LWWMap" }, "the patch row kept");
  // the connection knew the row was there: the next field goes into the same patch row
  kv.batch([], [{ namespace: "r", id: "big", type: "LWWMap", fields: [["b", 7]], wholeValue: () => ({ a: 5, b: 7 }) }]);
  assert.is(sql.prepare("SELECT patch FROM lichen_entity_patches WHERE id = 'big'").pluck().get(), '{"a":5,"b":7}');
  assert.equal(mirrored(sql, "big"), { value: { a: 5, b: 7 }, db_version: 3, type: "LWWMap" });
  sql.close();
  kv.close();
});

test("(cleanup)", () => {
  rmSync(DIR, { recursive: true, force: true });
});

test.run();
