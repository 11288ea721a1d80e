// SqliteKv (src/store/sqlite.ts), Node only: the KvStore contract on a real SQLite file, the
// SQL-readable mirror (read through a second better-sqlite3 connection and through the sqlite3
// shell), db_version and changesSince, bad files; then the store suite shared by every backend.
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CrdtDb, LichenError, LWWMap, StateStore } from "../../src/index.js";
import { statePrefix, stateKey } from "../../src/store/keys.js";
import { MemoryKv, type EntityView, type KvOp, type KvStore } from "../../src/store/kv.js";
import { decodeKey, encodeKey, SQLITE_SCHEMA_VERSION, SqliteKv, toJsonText } from "../../src/store/sqlite.js";
import { storeSuite } from "./suite.js";
import { PATIENCE_MS } from "../patience.js";
import { fc, property } from "../prop.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-sqlite-"));
let files = 0;
/** A fresh database path in the test's temp directory. */
const freshPath = (): string => join(DIR, `t${++files}.db`);
const opened: SqliteKv[] = [];
/** Opens a SqliteKv that is closed after the tests, whatever they did. */
const open = (path: string, opts?: ConstructorParameters<typeof SqliteKv>[1]): SqliteKv => {
  const kv = SqliteKv.open(path, opts);
  opened.push(kv);
  return kv;
};

test.after(() => {
  for (const kv of opened) kv.close();
  rmSync(DIR, { recursive: true, force: true });
});

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;
const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const SQLITE3 = "/usr/bin/sqlite3";

test("get/put/delete; the caller owns returned arrays, which are plain Uint8Arrays", () => {
  const kv = open(freshPath());
  assert.is(kv.get("a"), undefined);
  const input = bytes(1, 2, 3);
  kv.put("a", input);
  input[0] = 99; // the store kept its own copy
  const got = kv.get("a")!;
  assert.equal([...got], [1, 2, 3]);
  assert.is(Object.getPrototypeOf(got), Uint8Array.prototype, "a plain Uint8Array, not a Buffer");
  assert.is(got.byteOffset, 0);
  assert.is(got.buffer.byteLength, 3, "no view into a shared pool");
  got[1] = 77;
  assert.equal([...kv.get("a")!], [1, 2, 3], "mutating a returned array changes nothing stored");
  kv.put("a", bytes(4));
  assert.equal([...kv.get("a")!], [4]);
  kv.put("empty", new Uint8Array(0));
  const empty = kv.get("empty");
  assert.ok(empty instanceof Uint8Array && empty.length === 0, "an empty value is stored, not absent");
  const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  kv.put("big", big);
  assert.equal(kv.get("big"), big);
  kv.put("view", new Uint8Array(big.buffer, 10, 5));
  assert.equal([...kv.get("view")!], [10, 11, 12, 13, 14], "a subarray stores only its own bytes");
  kv.delete("a");
  kv.delete("never-there");
  assert.is(kv.get("a"), undefined);
  assert.equal(kv.keys(), ["big", "empty", "view"]);
});

test("bad arguments: INVALID_ARGUMENT, nothing stored", () => {
  const kv = open(freshPath());
  assert.throws(() => kv.put("", bytes(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("x".repeat(256), bytes(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("a\nb", bytes(1)), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.put("k", [1, 2] as unknown as Uint8Array), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.get(5 as unknown as string), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.keys(5 as unknown as string), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.changesSince(-1), code("INVALID_ARGUMENT"));
  assert.throws(() => SqliteKv.open(freshPath(), { synchronous: "OFF" as "FULL" }), code("INVALID_ARGUMENT"));
  kv.put("x".repeat(255), bytes(1));
  assert.equal(kv.keys(), ["x".repeat(255)]);
});

// Keys where UTF-8 byte order and UTF-16 code-unit order disagree: astral characters (F0.. in
// UTF-8, D800.. in UTF-16) against U+E000..U+FFFF (EE..EF in UTF-8), and lone surrogates.
const TRICKY_KEYS = [
  "a",
  "a/",
  "a/b",
  "a/b/c",
  "a/c",
  "ab",
  "b",
  "s/\u00e9",
  "s/\uffff",
  "s/\ue000",
  "s/\ufb01x",
  "s/\u{1f600}",
  "s/\u{1f600}/1",
  "s/\u{1f601}",
  "s/\u{10ffff}",
  "s/\ud83d", // a lone high surrogate
  "s/\ud83dz",
  "s/\ude00", // a lone low surrogate
  "s/\ude00\ud83d",
  "\u007e",
  "\u0080",
  "\u07ff",
  "\u0800",
  "~~",
];

test("keys(prefix): code-unit order, astral characters and lone surrogates, same as MemoryKv", () => {
  const path = freshPath();
  const kv = open(path);
  const mem = new MemoryKv();
  TRICKY_KEYS.forEach((k, i) => {
    kv.put(k, bytes(i));
    mem.put(k, bytes(i));
  });
  const all = kv.keys();
  assert.equal(all, [...TRICKY_KEYS].sort(), "every key, in code-unit order");
  assert.equal(all, mem.keys());
  assert.ok(all.indexOf("s/\u{1f600}") < all.indexOf("s/\ue000"), "U+1F600 (D83D DE00) sorts before U+E000 in code units");
  // every key round-trips exactly, lone surrogates included
  TRICKY_KEYS.forEach((k, i) => assert.equal([...kv.get(k)!], [i], JSON.stringify(k)));
  // every prefix of every key, and a few more
  const prefixes = new Set<string>(["", "s", "s/", "zz", "\uffff", "\ud83d", "s/\ud83d", "s/\ud83d\ude00", "s/\ude00"]);
  for (const k of TRICKY_KEYS) for (let n = 1; n <= k.length; n++) prefixes.add(k.slice(0, n));
  for (const p of prefixes) assert.equal(kv.keys(p), mem.keys(p), `prefix ${JSON.stringify(p)}`);
  assert.equal(kv.keys("s/\ud83d"), ["s/\ud83d", "s/\ud83dz", "s/\u{1f600}", "s/\u{1f600}/1", "s/\u{1f601}"], "a prefix ending inside a surrogate pair");
  assert.equal(kv.keys("a/"), ["a/", "a/b", "a/b/c", "a/c"]);
  kv.close();
  // the same after a reopen, and the stored bytes are UTF-8 for well-formed keys
  const again = open(path);
  assert.equal(again.keys(), all);
  const raw = new Database(path, { readonly: true });
  const text = raw.prepare("SELECT CAST(key AS TEXT) FROM lichen_kv WHERE key = CAST(? AS BLOB)").pluck().get("s/\u{1f600}");
  raw.close();
  assert.is(text, "s/\u{1f600}", "keys are readable with CAST(key AS TEXT)");
});

test("WTF-8 key encoding round-trips every code unit sequence", () => {
  const samples = ["", "abc", "\u{1f600}", "\ud800", "\udfff", "\ud800\ud800", "\udc00\ud800", "x\ud83d", "\u0000\u007f\u0080\u07ff\u0800\uffff"];
  for (let i = 0; i < 2000; i++) {
    let s = "";
    const n = (i * 7) % 9;
    for (let j = 0; j < n; j++) s += String.fromCharCode((i * 7919 + j * 104729) % 0x10000);
    samples.push(s);
  }
  for (const s of samples) assert.is(decodeKey(encodeKey(s)), s, JSON.stringify(s));
  assert.equal([...encodeKey("\u{1f600}")], [0xf0, 0x9f, 0x98, 0x80], "UTF-8 for a pair");
  assert.equal([...encodeKey("\ud83d")], [0xed, 0xa0, 0xbd], "the 3-byte form for a lone surrogate");
  // bytes that are no UTF-8 at all decode without throwing
  assert.is(decodeKey(bytes(0xff, 0x41, 0xc3)), "\ufffdA\ufffd");
});

test("batch applies everything in one transaction; an invalid op or view applies nothing", () => {
  const kv = open(freshPath());
  kv.put("keep", bytes(1));
  kv.batch([
    { type: "put", key: "a", value: bytes(1) },
    { type: "put", key: "b", value: bytes(2) },
    { type: "delete", key: "keep" },
    { type: "put", key: "a", value: bytes(3) }, // later ops win
  ]);
  assert.equal(kv.keys(), ["a", "b"]);
  assert.equal([...kv.get("a")!], [3]);
  const before = kv.dbVersion();
  const bad: unknown[][] = [
    [{ type: "put", key: "c", value: bytes(1) }, { type: "put", key: "", value: bytes(1) }],
    [{ type: "put", key: "c", value: bytes(1) }, { type: "put", key: "d", value: "not bytes" }],
    [{ type: "put", key: "c", value: bytes(1) }, { type: "rename", key: "d" }],
    [{ type: "delete", key: "a" }, null],
  ];
  for (const ops of bad) {
    assert.throws(() => kv.batch(ops as KvOp[], [{ namespace: "n", id: "c", type: "T", value: 1 }]), code("INVALID_ARGUMENT"));
  }
  const cyclic: { [k: string]: unknown } = {};
  cyclic.self = cyclic;
  const badViews: unknown[] = [
    [{ namespace: "n", id: "c", type: "T", value: cyclic }],
    [{ namespace: "n", id: "c", type: "T", value: 10n }],
    [{ namespace: "n", id: 7, type: "T", value: 1 }],
    [{ namespace: "n", id: "c", type: "T", value: () => 1 }],
    [null],
    "not an array",
  ];
  for (const views of badViews) {
    assert.throws(() => kv.batch([{ type: "put", key: "c", value: bytes(1) }], views as EntityView[]), code("INVALID_ARGUMENT"));
  }
  assert.equal(kv.keys(), ["a", "b"], "no failed batch wrote anything");
  assert.is(kv.dbVersion(), before, "nor took a db_version");
  assert.equal(kv.changesSince(0), []);
});

test("batch: a failure inside the transaction rolls back the ops and the mirror", () => {
  const path = freshPath();
  const kv = open(path);
  kv.batch([{ type: "put", key: "a", value: bytes(1) }], [{ namespace: "n", id: "a", type: "T", value: { v: 1 } }]);
  // another program adds a trigger that makes the third write of the next batch fail in SQLite
  const other = new Database(path);
  other.exec("CREATE TRIGGER boom BEFORE INSERT ON lichen_kv WHEN NEW.key = CAST('c' AS BLOB) BEGIN SELECT RAISE(ABORT, 'boom'); END");
  other.close();
  const ops: KvOp[] = [
    { type: "put", key: "a", value: bytes(2) },
    { type: "put", key: "b", value: bytes(2) },
    { type: "put", key: "c", value: bytes(2) },
  ];
  assert.throws(() => kv.batch(ops, [{ namespace: "n", id: "a", type: "T", value: { v: 2 } }]), (e: unknown) => code("STORAGE")(e) && /boom/.test(String(e)));
  assert.equal([...kv.get("a")!], [1]);
  assert.is(kv.get("b"), undefined);
  assert.is(kv.dbVersion(), 1);
  assert.equal(kv.changesSince(0).map((c) => c.value), ['{"v":1}']);
  // the store stays usable
  kv.batch(ops.slice(0, 2));
  assert.equal(kv.keys(), ["a", "b"]);
});

test("batch: long batches (many rows per statement) write every op, view and change row in order, as MemoryKv would", () => {
  const key = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `k${i}`));
  const op = fc.oneof(
    fc.record({ type: fc.constant("put" as const), key, value: fc.uint8Array({ minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant("delete" as const), key }),
  );
  const id = fc.constantFrom("a", "b", "c", "d", "e");
  const view = fc.oneof(
    fc.record({ id, value: fc.integer() }, { noNullPrototype: true }),
    fc.record({ id, value: fc.constant(undefined) }, { noNullPrototype: true }),
    fc.record({ id, field: fc.constantFrom("x", "y"), value: fc.integer() }, { noNullPrototype: true }),
  );
  property("long batches as MemoryKv", [fc.array(fc.array(op, { maxLength: 200 }), { minLength: 1, maxLength: 3 }), fc.array(view, { maxLength: 150 })], (batches, vs) => {
    const kv = open(freshPath());
    const mem = new MemoryKv();
    const entities = new Map<string, unknown>();
    // each view as the mirror should take it: a value, a deletion, or one field set on the entity as it then is
    const views: EntityView[] = [];
    for (const v of vs) {
      if (!("field" in v)) {
        views.push({ namespace: "n", id: v.id, type: "T", value: v.value === undefined ? undefined : { v: v.value } });
        if (v.value === undefined) entities.delete(v.id);
        else entities.set(v.id, { v: v.value });
        continue;
      }
      const whole = { ...(entities.get(v.id) as object | undefined), [v.field]: v.value };
      views.push({ namespace: "n", id: v.id, type: "T", fields: [[v.field, v.value]], wholeValue: () => whole });
      entities.set(v.id, whole);
    }
    for (const [i, ops] of batches.entries()) {
      kv.batch(ops, i === 0 ? views : undefined);
      mem.batch(ops);
    }
    assert.equal(kv.keys(), mem.keys());
    for (const k of mem.keys()) assert.equal([...kv.get(k)!], [...mem.get(k)!], k);
    const sql = new Database(kv.path, { readonly: true });
    try {
      const rows = sql.prepare("SELECT id, value FROM lichen_entities ORDER BY id").all() as Array<{ id: string; value: string }>;
      assert.equal(
        rows.map((r) => [r.id, JSON.parse(r.value)]),
        [...entities].sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    } finally {
      sql.close();
    }
    const changes = kv.changesSince(0);
    assert.equal(
      changes.map((c) => c.id),
      views.map((v) => v.id),
      "one change row per view, in the views' order",
    );
    assert.equal(changes.map((c) => c.seq), [...changes.map((c) => c.seq)].sort((a, b) => a - b));
  }, { numRuns: 30 });
});

test("batch: a long batch that fails leaves none of its rows behind for the next batch", () => {
  const path = freshPath();
  const kv = open(path);
  const other = new Database(path);
  other.exec("CREATE TRIGGER boom BEFORE INSERT ON lichen_changes WHEN NEW.id = 'v99' BEGIN SELECT RAISE(ABORT, 'boom'); END");
  const ops: KvOp[] = Array.from({ length: 150 }, (_, i) => ({ type: "put", key: `k${i}`, value: bytes(i & 255) }));
  const views: EntityView[] = Array.from({ length: 150 }, (_, i) => ({ namespace: "n", id: `v${i}`, type: "T", value: i }));
  assert.throws(() => kv.batch(ops, views), (e: unknown) => code("STORAGE")(e) && /boom/.test(String(e)));
  other.exec("DROP TRIGGER boom");
  other.close();
  assert.equal(kv.keys(), []);
  kv.batch([{ type: "put", key: "z", value: bytes(1) }], [{ namespace: "n", id: "z", type: "T", value: 1 }]);
  assert.equal(kv.keys(), ["z"], "no op of the failed batch was written by the next");
  assert.equal(kv.changesSince(0).map((c) => c.id), ["z"], "nor a change row");
  const sql = new Database(path, { readonly: true });
  try {
    assert.equal(sql.prepare("SELECT id FROM lichen_entities").pluck().all(), ["z"], "nor a value of the mirror");
  } finally {
    sql.close();
  }
});

test("reopen: keys, values, the mirror and db_version persist", () => {
  const path = freshPath();
  const kv = SqliteKv.open(path);
  kv.put("x", bytes(1, 2));
  kv.batch([{ type: "put", key: "s/r/e1", value: bytes(3) }], [{ namespace: "r", id: "e1", type: "LWWMap", value: { temp: 20 } }]);
  kv.batch([{ type: "put", key: "s/r/e2", value: bytes(4) }], [{ namespace: "r", id: "e2", type: "LWWMap", value: { temp: 21 } }]);
  kv.close();
  const again = open(path);
  assert.equal(again.keys(), ["s/r/e1", "s/r/e2", "x"]);
  assert.equal([...again.get("x")!], [1, 2]);
  assert.is(again.dbVersion(), 2);
  again.batch([], [{ namespace: "r", id: "e3", type: "LWWMap", value: {} }]);
  assert.is(again.dbVersion(), 3, "db_version continues after a reopen");
  assert.equal(again.changesSince(0).map((c) => [c.db_version, c.id]), [[1, "e1"], [2, "e2"], [3, "e3"]]);
});

test("close is idempotent; every use after close is CLOSED", () => {
  const kv = SqliteKv.open(freshPath());
  kv.put("a", bytes(1));
  kv.close();
  kv.close();
  const uses: Array<() => unknown> = [
    () => kv.get("a"),
    () => kv.put("a", bytes(1)),
    () => kv.delete("a"),
    () => kv.keys(),
    () => kv.batch([]),
    () => kv.dbVersion(),
    () => kv.changesSince(0),
    () => kv.pruneChanges(0),
  ];
  for (const use of uses) assert.throws(use, code("CLOSED"));
});

test("open: a file that is not SQLite is CORRUPT, a missing directory is STORAGE, both name the path", () => {
  const long = join(DIR, "garbage.db");
  writeFileSync(long, "this is not a SQLite database, just text. ".repeat(200));
  const short = join(DIR, "short.db");
  writeFileSync(short, "nope");
  const json = join(DIR, "config.json");
  writeFileSync(json, JSON.stringify({ a: 1 }));
  for (const p of [long, short, json]) {
    assert.throws(
      () => SqliteKv.open(p),
      (e: unknown) => code("CORRUPT")(e) && String((e as Error).message).includes(p),
      p,
    );
  }
  const missing = join(DIR, "no-such-dir", "x.db");
  assert.throws(() => SqliteKv.open(missing), (e: unknown) => code("STORAGE")(e) && String((e as Error).message).includes(missing));
  assert.throws(() => SqliteKv.open(DIR), code("STORAGE"), "a directory");
  assert.not.ok(existsSync(join(DIR, "no-such-dir")), "nothing was created");
});

test("open: a newer lichen schema is refused (UNSUPPORTED_VERSION)", () => {
  const path = freshPath();
  SqliteKv.open(path).close();
  const other = new Database(path);
  other.prepare("UPDATE lichen_meta SET value = 99 WHERE name = 'schema_version'").run();
  other.close();
  assert.throws(() => SqliteKv.open(path), code("UNSUPPORTED_VERSION"));
});

/** The tables as schema version 1 wrote them (before change rows had a kind). */
const SCHEMA_V1 = `
CREATE TABLE lichen_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE lichen_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE lichen_entities (namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, id)) WITHOUT ROWID;
CREATE TABLE lichen_changes (seq INTEGER PRIMARY KEY, db_version INTEGER NOT NULL, namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT, changed_at TEXT NOT NULL);
CREATE INDEX lichen_changes_by_version ON lichen_changes (db_version);
INSERT INTO lichen_meta VALUES ('schema_version', 1), ('db_version', 1);
INSERT INTO lichen_kv VALUES (CAST('s/readings/n1' AS BLOB), x'01');
INSERT INTO lichen_entities VALUES ('readings', 'n1', 'LWWMap', '{"temp":20}', 1, '2025-01-01T00:00:00.000Z');
INSERT INTO lichen_changes VALUES (1, 1, 'readings', 'n1', 'LWWMap', '{"temp":20}', '2025-01-01T00:00:00.000Z');
`;

test("open: a schema version 1 file is migrated: its change rows read as whole values, new ones carry their kind", () => {
  const path = freshPath();
  const old = new Database(path);
  old.pragma("journal_mode = WAL");
  old.exec(SCHEMA_V1);
  old.close();
  const kv = open(path);
  assert.equal([...kv.get("s/readings/n1")!], [1], "the data is kept");
  const rows = kv.changesSince(0);
  assert.equal(rows.map((r) => [r.kind, r.value, r.removed]), [["value", '{"temp":20}', null]], "an old row is a whole value");
  const sql = new Database(path, { readonly: true });
  assert.is(sql.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), SQLITE_SCHEMA_VERSION);
  sql.close();
  kv.batch([], [{ namespace: "readings", id: "n1", type: "LWWMap", fields: [["temp", 21]], wholeValue: () => ({ temp: 21 }) }]);
  assert.equal(kv.changesSince(1).map((r) => [r.db_version, r.kind, r.value]), [[2, "fields", '{"temp":21}']]);
  kv.close();
  assert.equal(open(path).changesSince(0).length, 2, "and it opens again as it is");
});

test("views of fields: the entity's JSON is patched in place, the change row holds only what changed", () => {
  const kv = open(freshPath());
  const whole = { a: 1, 'q"uote': "x", "back\\slash": [1, null], "😀": { n: null }, z: true };
  kv.batch([], [{ namespace: "ns", id: "e", type: "LWWMap", value: whole }]);
  const reader = new Database(kv.path, { readonly: true });
  const entity = (id = "e") => reader.prepare("SELECT value FROM lichen_entities WHERE namespace = 'ns' AND id = ?").pluck().get(id) as string;
  assert.is(entity(), toJsonText(whole));
  let asked = 0;
  const fields: Array<readonly [string, unknown]> = [["a", 2], ['q"uote', undefined], ["back\\slash", { deep: [null, 1] }], ["😀", null]];
  kv.batch([], [{ namespace: "ns", id: "e", type: "LWWMap", fields, wholeValue: () => (asked++, {}) }]);
  const after = { a: 2, "back\\slash": { deep: [null, 1] }, "😀": null, z: true };
  assert.is(entity(), toJsonText(after), "set, replaced and removed in place, keys still in order");
  assert.is(asked, 0, "the whole value is not asked for when the row exists");
  const row = kv.changesSince(1)[0]!;
  assert.equal([row.kind, JSON.parse(row.value!), JSON.parse(row.removed!)], ["fields", { a: 2, "back\\slash": { deep: [null, 1] }, "😀": null }, ['q"uote']]);
  assert.ok(row.value!.length < 60, "the change row is the change, not the value");
  // no row yet in the mirror (an entity written before it existed): written whole
  kv.batch([], [{ namespace: "ns", id: "new", type: "LWWMap", fields: [["k", 1]], wholeValue: () => (asked++, { k: 1, other: 2 }) }]);
  assert.is(asked, 1);
  assert.is(entity("new"), '{"k":1,"other":2}');
  // many fields at once (more than SQLite takes as one function's arguments): the row is written whole
  const many: Array<readonly [string, unknown]> = Array.from({ length: 600 }, (_, i) => [`f${i}`, i] as const);
  const wide = Object.fromEntries(many);
  kv.batch([], [{ namespace: "ns", id: "new", type: "LWWMap", fields: many, wholeValue: () => (asked++, wide) }]);
  assert.is(asked, 2);
  assert.is(entity("new"), toJsonText(wide));
  assert.equal(JSON.parse(kv.changesSince(0).pop()!.value!), wide, "the change row still holds the fields changed");
  reader.close();
});

test("rows written by other programs never crash a read", () => {
  const path = freshPath();
  const kv = open(path);
  kv.put("ok", bytes(1));
  const other = new Database(path);
  other.prepare("INSERT INTO lichen_kv (key, value) VALUES (CAST('text' AS BLOB), 'a text value')").run();
  other.prepare("INSERT INTO lichen_kv (key, value) VALUES (CAST('int' AS BLOB), 42)").run();
  other.prepare("INSERT INTO lichen_kv (key, value) VALUES (x'ff41', x'00')").run(); // not UTF-8
  other.prepare("INSERT INTO lichen_kv (key, value) VALUES ('a text key', x'01')").run(); // a TEXT key
  other.close();
  assert.equal(new TextDecoder().decode(kv.get("text")!), "a text value", "what is stored, as bytes");
  assert.equal(new TextDecoder().decode(kv.get("int")!), "42");
  assert.equal([...kv.get("ok")!], [1]);
  const keys = kv.keys();
  assert.ok(keys.includes("\ufffdA"), "a key that is not UTF-8 is listed, decoded with U+FFFD");
  assert.ok(keys.includes("int") && keys.includes("text") && keys.includes("ok"));
  assert.not.ok(keys.includes("a text key"), "a TEXT key is not a lichen key (get cannot reach it either)");
});

// ---- the mirror ----

/** A batch as StateStore would write it: the raw bytes and a view of each entity. */
function write(kv: SqliteKv, entities: Array<[ns: string, id: string, value: unknown]>): void {
  kv.batch(
    entities.map(([ns, id, value]) => (value === undefined ? { type: "delete", key: stateKey(ns, id) } : { type: "put", key: stateKey(ns, id), value: bytes(1) })),
    entities.map(([namespace, id, value]) => ({ namespace, id, type: "LWWMap", value })),
  );
}

test("mirror: one JSON row per entity, readable by a second better-sqlite3 connection", () => {
  const path = freshPath();
  let ms = Date.UTC(2025, 0, 1);
  const kv = open(path, { now: () => ms });
  write(kv, [
    ["readings", "n1", { temp: 21.5, hum: 40 }],
    ["readings", "n2", { temp: 19, hum: 55, raw: bytes(0xde, 0xad) }],
    ["config", "n1", { interval: 60, tags: ["porch", "south"] }],
  ]);
  ms += 1000;
  write(kv, [["readings", "n1", { temp: 22, hum: 41 }]]);
  write(kv, [["readings", "n3", { temp: 5 }]]);
  write(kv, [["readings", "n3", undefined]]); // deleted
  const sql = new Database(path, { readonly: true });
  assert.is(sql.pragma("journal_mode", { simple: true }), "wal");
  const rows = sql.prepare("SELECT id, json_extract(value, '$.temp') AS temp FROM lichen_entities WHERE namespace = 'readings' ORDER BY id").all();
  assert.equal(rows, [
    { id: "n1", temp: 22 },
    { id: "n2", temp: 19 },
  ]);
  const n2 = sql.prepare("SELECT * FROM lichen_entities WHERE namespace = ? AND id = ?").get("readings", "n2");
  assert.equal(n2, {
    namespace: "readings",
    id: "n2",
    type: "LWWMap",
    value: '{"hum":55,"raw":{"$bytes":"dead"},"temp":19}',
    db_version: 1,
    updated_at: "2025-01-01T00:00:00.000Z",
    store: "state",
  });
  assert.is(sql.prepare("SELECT hex(unhex(json_extract(value, '$.raw.\"$bytes\"'))) FROM lichen_entities WHERE id = 'n2'").pluck().get(), "DEAD");
  const n1 = sql.prepare("SELECT db_version, updated_at, json_extract(value, '$.hum') AS hum FROM lichen_entities WHERE namespace = 'readings' AND id = 'n1'").get();
  assert.equal(n1, { db_version: 2, updated_at: "2025-01-01T00:00:01.000Z", hum: 41 });
  assert.is(sql.prepare("SELECT json_extract(value, '$.tags[1]') FROM lichen_entities WHERE namespace = 'config'").pluck().get(), "south");
  assert.is(sql.prepare("SELECT count(*) FROM lichen_entities WHERE id = 'n3'").pluck().get(), 0, "a deleted entity has no row");
  // every change, in order, deletes included
  const changes = sql.prepare("SELECT db_version, namespace, id, value FROM lichen_changes WHERE db_version > ? ORDER BY db_version, seq").raw().all(0);
  assert.equal(changes, [
    [1, "readings", "n1", '{"hum":40,"temp":21.5}'],
    [1, "readings", "n2", '{"hum":55,"raw":{"$bytes":"dead"},"temp":19}'],
    [1, "config", "n1", '{"interval":60,"tags":["porch","south"]}'],
    [2, "readings", "n1", '{"hum":41,"temp":22}'],
    [3, "readings", "n3", '{"temp":5}'],
    [4, "readings", "n3", null],
  ]);
  assert.is(sql.prepare("SELECT value FROM lichen_meta WHERE name = 'db_version'").pluck().get(), 4);
  sql.close();
  assert.is(kv.dbVersion(), 4);
});

test("mirror: a StateStore namespace and a CrdtDb type of the same name keep one row each", () => {
  const path = freshPath();
  const kv = open(path);
  const states = new StateStore(kv);
  const db = new CrdtDb(kv).define({ type: "Sensor", version: 2, migrations: { 1: (v) => v } });
  const map = new LWWMap<number>("n1");
  map.set("temp", 21.5);
  states.save("Sensor", "s1", map);
  db.save("Sensor", "s1", { name: "porch" });
  const sql = new Database(path, { readonly: true });
  const rows = sql.prepare("SELECT namespace, id, type, value, store FROM lichen_entities ORDER BY store").all();
  assert.equal(rows, [
    { namespace: "Sensor", id: "s1", type: "Sensor@2", value: '{"name":"porch"}', store: "entity" },
    { namespace: "Sensor", id: "s1", type: "LWWMap", value: '{"temp":21.5}', store: "state" },
  ]);
  // deleting one leaves the other's row
  db.delete("Sensor", "s1");
  assert.equal(sql.prepare("SELECT store, type FROM lichen_entities").all(), [{ store: "state", type: "LWWMap" }]);
  sql.close();
});

test("open: tables of schema version 1 are upgraded in place, their rows kept", () => {
  const path = freshPath();
  const v1 = new Database(path);
  v1.exec(`
    CREATE TABLE lichen_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE lichen_kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE lichen_entities (namespace TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL,
      db_version INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, id)) WITHOUT ROWID;
    CREATE TABLE lichen_changes (seq INTEGER PRIMARY KEY, db_version INTEGER NOT NULL, namespace TEXT NOT NULL, id TEXT NOT NULL,
      type TEXT NOT NULL, value TEXT, changed_at TEXT NOT NULL);
    INSERT INTO lichen_meta VALUES ('schema_version', 1), ('db_version', 2);
    INSERT INTO lichen_entities VALUES ('readings', 'n1', 'LWWMap', '{"temp":1}', 1, '2025-01-01T00:00:00.000Z');
    INSERT INTO lichen_entities VALUES ('Sensor', 's1', 'Sensor@2', '{"name":"shed"}', 2, '2025-01-01T00:00:00.000Z');
  `);
  v1.close();
  const kv = open(path);
  assert.is(kv.dbVersion(), 2);
  const sql = new Database(path, { readonly: true });
  assert.is(sql.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get(), SQLITE_SCHEMA_VERSION);
  assert.equal(sql.prepare("SELECT namespace, id, store FROM lichen_entities ORDER BY namespace").raw().all(), [
    ["Sensor", "s1", "entity"],
    ["readings", "n1", "state"],
  ]);
  sql.close();
});

test("mirror: readable with the sqlite3 shell", () => {
  if (!existsSync(SQLITE3)) {
    console.log(`note: ${SQLITE3} is absent: the sqlite3-shell part of this test is skipped`);
    return;
  }
  const path = freshPath();
  const kv = open(path, { now: () => Date.UTC(2025, 5, 1) });
  write(kv, [
    ["readings", "n1", { temp: 21.5 }],
    ["readings", "n2", { temp: -3 }],
  ]);
  write(kv, [["readings", "n2", undefined]]);
  write(kv, [["readings", "n1", { temp: 22.25, note: "it's \"warm\"" }]]);
  // the store stays open (WAL): the shell reads the committed state beside it
  const shell = (query: string): string => execFileSync(SQLITE3, [path, query], { encoding: "utf8", timeout: PATIENCE_MS }).trim();
  assert.is(shell("SELECT id, json_extract(value,'$.temp') FROM lichen_entities WHERE namespace='readings' ORDER BY id"), "n1|22.25");
  assert.is(shell("SELECT json_extract(value,'$.note') FROM lichen_entities WHERE id='n1'"), `it's "warm"`);
  assert.is(
    shell("SELECT db_version, id, coalesce(value, 'deleted') FROM lichen_changes WHERE db_version > 1 ORDER BY db_version, seq"),
    ['2|n2|deleted', `3|n1|{"note":"it's \\"warm\\"","temp":22.25}`].join("\n"),
  );
  assert.is(shell("SELECT CAST(key AS TEXT) FROM lichen_kv ORDER BY key"), stateKey("readings", "n1"));
  assert.is(shell("SELECT updated_at FROM lichen_entities"), "2025-06-01T00:00:00.000Z");
  assert.is(shell("PRAGMA journal_mode"), "wal");
  // the shell can write too (another program's transaction); the store sees it
  shell("INSERT INTO lichen_kv VALUES (CAST('from-shell' AS BLOB), x'0102')");
  assert.equal([...kv.get("from-shell")!], [1, 2]);
});

test("changesSince: ordered by db_version then seq, several rows per version, with a limit; pruneChanges", () => {
  const kv = open(freshPath());
  assert.is(kv.dbVersion(), 0);
  assert.equal(kv.changesSince(0), []);
  for (let v = 1; v <= 5; v++) {
    write(kv, [
      ["a", `x${v}`, { v }],
      ["b", `y${v}`, { v }],
    ]);
  }
  kv.batch([{ type: "put", key: "no-views", value: bytes(1) }]);
  assert.is(kv.dbVersion(), 5, "a batch without views takes no db_version");
  const all = kv.changesSince(0);
  assert.is(all.length, 10);
  assert.equal(all.map((c) => c.db_version), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq);
  assert.equal(kv.changesSince(3).map((c) => [c.db_version, c.namespace, c.id]), [
    [4, "a", "x4"],
    [4, "b", "y4"],
    [5, "a", "x5"],
    [5, "b", "y5"],
  ]);
  assert.equal(Object.keys(all[0]!).sort(), ["changed_at", "db_version", "id", "kind", "namespace", "removed", "seq", "type", "value"]);
  assert.equal([all[0]!.kind, all[0]!.removed], ["value", null], "a whole value's row");
  assert.equal(JSON.parse(all[9]!.value!), { v: 5 });
  assert.equal(kv.changesSince(5), []);
  assert.equal(kv.changesSince(1, { limit: 3 }).map((c) => c.id), ["x2", "y2", "x3"]);
  // paging with a cursor, even through a batch larger than the page
  write(kv, Array.from({ length: 7 }, (_, i): [string, string, unknown] => ["c", `z${i}`, { i }]));
  const paged: string[] = [];
  let cursor = { version: 0, afterSeq: undefined as number | undefined };
  for (let pages = 0; pages < 100; pages++) {
    const page = kv.changesSince(cursor.version, { limit: 3, afterSeq: cursor.afterSeq });
    if (page.length === 0) break;
    for (const c of page) paged.push(c.id);
    const last = page[page.length - 1]!;
    cursor = { version: last.db_version, afterSeq: last.seq };
  }
  assert.equal(paged, kv.changesSince(0).map((c) => c.id));
  assert.is(paged.length, 17);
  assert.equal(kv.changesSince(6, { afterSeq: 13 }).map((c) => c.id), ["z3", "z4", "z5", "z6"]);
  assert.throws(() => kv.changesSince(0, { limit: 0 }), code("INVALID_ARGUMENT"));
  assert.throws(() => kv.changesSince(0, { afterSeq: -1 }), code("INVALID_ARGUMENT"));
  assert.is(kv.pruneChanges(2), 4);
  assert.equal(kv.changesSince(0).map((c) => c.db_version), [3, 3, 4, 4, 5, 5, 6, 6, 6, 6, 6, 6, 6]);
  assert.is(kv.dbVersion(), 6, "pruning does not move db_version");
  // pruning everything: seq may start over, db_version does not, so (db_version, seq) stays a cursor
  assert.is(kv.pruneChanges(6), 13);
  write(kv, [["a", "after", 1]]);
  assert.equal(kv.changesSince(6, { afterSeq: 17 }).map((c) => [c.db_version, c.id]), [[7, "after"]]);
});

test("two connections on one file never share a db_version", () => {
  const path = freshPath();
  const a = open(path);
  const b = open(path);
  for (let i = 0; i < 20; i++) {
    const kv = i % 3 === 0 ? b : a;
    write(kv, [["n", `e${i}`, { i }]]);
  }
  assert.is(a.dbVersion(), 20);
  assert.is(b.dbVersion(), 20);
  assert.equal(a.changesSince(0).map((c) => c.db_version), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(b.keys(statePrefix("n")).length, 20);
});

test("busy timeout: a write waits for another program's lock, then fails with STORAGE; WAL and FULL are set", () => {
  const path = freshPath();
  const kv = open(path, { busyTimeoutMs: 100 });
  assert.is(kv.synchronous, "FULL", "durable by default");
  const other = new Database(path);
  assert.is(other.pragma("journal_mode", { simple: true }), "wal");
  other.exec("BEGIN IMMEDIATE");
  const t0 = Date.now();
  assert.throws(() => kv.put("a", bytes(1)), (e: unknown) => code("STORAGE")(e) && /SQLITE_BUSY/.test(String((e as Error).message)));
  assert.throws(() => kv.batch([{ type: "put", key: "a", value: bytes(1) }], [{ namespace: "n", id: "a", type: "T", value: 1 }]), code("STORAGE"));
  assert.ok(Date.now() - t0 >= 150, "each write waited for the busy timeout");
  assert.is(kv.get("a"), undefined, "reads go on beside another program's write transaction (WAL)");
  other.exec("ROLLBACK");
  other.close();
  kv.batch([{ type: "put", key: "a", value: bytes(1) }], [{ namespace: "n", id: "a", type: "T", value: 1 }]);
  assert.equal([...kv.get("a")!], [1]);
  assert.is(kv.dbVersion(), 1, "the failed batch took no db_version");
});

test("JSON of views: bytes as hex, object keys in code-unit order, otherwise as JSON.stringify", () => {
  assert.is(toJsonText({ b: 1, a: [1, "x", null, true], "10": 0, "9": 0 }), '{"10":0,"9":0,"a":[1,"x",null,true],"b":1}');
  assert.is(toJsonText({ z: bytes(0, 15, 255), nested: { raw: new Uint8Array(0) } }), '{"nested":{"raw":{"$bytes":""}},"z":{"$bytes":"000fff"}}');
  assert.is(toJsonText(Buffer.from([1, 2])), '{"$bytes":"0102"}', "a Buffer is bytes, not its toJSON form");
  const odd = { u: undefined, f: () => 1, n: NaN, i: -Infinity, arr: [undefined, () => 1], d: new Date(0), s: "\u2028\"\\" };
  assert.is(toJsonText(odd), JSON.stringify({ arr: [null, null], d: new Date(0), i: null, n: null, s: "\u2028\"\\" }));
  for (const v of [0, -0, 1.5e300, "", "a\u0000b", null, true, [], {}, [[{}]], { "\u{1f600}": 1, "\ue000": 2 }]) {
    assert.equal(JSON.parse(toJsonText(v)!), JSON.parse(JSON.stringify(v)), JSON.stringify(v));
  }
  assert.is(toJsonText(undefined), undefined);
  assert.is(toJsonText({ "\ue000": 1, "\u{1f600}": 2 }), '{"\u{1f600}":2,"\ue000":1}', "code-unit order of keys");
});

// ---- the store suite shared by every backend ----

function sqliteBackend() {
  const path = freshPath();
  return {
    name: "SqliteKv",
    open: (): KvStore => open(path),
    corrupt(key: string, value: Uint8Array): void {
      const db = new Database(path);
      db.prepare("INSERT OR REPLACE INTO lichen_kv (key, value) VALUES (?, ?)").run(encodeKey(key), value);
      db.close();
    },
  };
}

test("readOnly: reads what a writer wrote, writes nothing, refuses writes with STORAGE; needs an existing lichen file", () => {
  const path = freshPath();
  const w = SqliteKv.open(path);
  w.batch([{ type: "put", key: stateKey("r", "e1"), value: bytes(7) }], [{ namespace: "r", id: "e1", type: "LWWMap", value: { temp: 20 } }]);
  w.put("\u{1f600}/odd", bytes(1, 2));
  w.close();
  const mtime = statSync(path).mtimeMs;
  const ro = open(path, { readOnly: true });
  assert.ok(ro.readOnly);
  assert.equal(ro.keys(), ["\u{1f600}/odd", stateKey("r", "e1")].sort());
  assert.equal(ro.get(stateKey("r", "e1")), bytes(7));
  assert.is(ro.dbVersion(), 1);
  assert.is(ro.changesSince(0).length, 1);
  for (const write of [() => ro.put("a", bytes(1)), () => ro.delete("a"), () => ro.batch([]), () => ro.pruneChanges(1)]) {
    assert.throws(write, (e: unknown) => e instanceof LichenError && e.code === "STORAGE" && /opened read-only/.test(e.message));
  }
  assert.is(statSync(path).mtimeMs, mtime, "the file was not written");
  assert.throws(() => SqliteKv.open(join(DIR, "missing.db"), { readOnly: true }), code("STORAGE"));
  assert.not.ok(existsSync(join(DIR, "missing.db")), "a read-only open creates nothing");
  assert.throws(() => SqliteKv.open(":memory:", { readOnly: true }), code("INVALID_ARGUMENT"));
});

storeSuite(sqliteBackend());

test.run();
