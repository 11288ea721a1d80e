// SqliteKv: the gateway's KvStore, one SQLite file through better-sqlite3. Node only (the file
// name marks it so for the device-rules check; nothing on the device may import it).
//
// Tables (see docs/sql.md, which must stay accurate to this file):
//
//   lichen_meta(name TEXT PRIMARY KEY, value INTEGER)        schema_version, db_version
//   lichen_kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID the KvStore itself
//   lichen_entities(namespace, id, type, value JSON, db_version, updated_at, store)
//                                                            one row per live entity (the mirror):
//                                                            store 'state' (StateStore) or 'entity'
//                                                            (CrdtDb), part of the row's identity.
//                                                            A VIEW (schema version 3) over:
//   lichen_entity_values(the same columns)                   each entity's value as last written
//   lichen_entity_patches(namespace, id, store, type, patch JSON, db_version, updated_at)
//                                                            a large entity's fields set since, as
//                                                            a JSON merge patch the view applies
//   lichen_changes(seq INTEGER PRIMARY KEY, db_version, namespace, id, type, value JSON|NULL,
//                  changed_at, kind, removed JSON|NULL)      every change, pulled by db_version
//
// Decisions:
//
// - Durability. The KvStore contract: "a put or a batch that returned is durable". In WAL mode,
//   synchronous=NORMAL syncs the WAL only at checkpoints, so a power cut can roll back the last
//   transactions that had already returned (the file stays consistent, but they are gone).
//   synchronous=FULL syncs the WAL at every commit, which is what the contract needs: FULL is the
//   default. NORMAL is an option for callers that can re-fetch what they lose (e.g. a gateway
//   whose nodes resend what was not acknowledged, when acks are sent only after a checkpoint);
//   bench/sqlite-ingest.ts measures both.
// - Keys are stored as BLOBs holding the key's WTF-8 bytes: UTF-8 for every well-formed string
//   (so `SELECT CAST(key AS TEXT) FROM lichen_kv` in any tool reads them), with a lone surrogate
//   written as the 3-byte sequence of its code unit, so that every JS string round-trips exactly
//   (better-sqlite3 would turn a lone surrogate in a TEXT into U+FFFD and merge distinct keys).
//   A BLOB compares with memcmp whatever the collation, so `keys(prefix)` is a range scan on the
//   primary key: key >= bytes(prefix) AND key < successor(bytes(prefix)). UTF-8 byte order is
//   not UTF-16 code-unit order (an astral character, F0.., sorts after U+E000..U+FFFF, EE..EF,
//   in bytes but before them in code units), so the keys of the range are then sorted in JS;
//   the set is the same in both orders, only the order differs. (Keys without a 0xED byte come
//   back as TEXT, decoded by the driver: 100,000 keys list in about 60-100 ms.)
// - Values are BLOBs; `get` returns a plain Uint8Array that the caller owns (a copy, or the
//   driver's fresh buffer re-wrapped when that buffer is exclusively its own).
// - The mirror is written in the same transaction as the ops, only when `batch` gets views.
//   db_version is a counter in lichen_meta, incremented once per batch that carries views (as
//   cr-sqlite's db_version is once per transaction), and read inside the write transaction, so
//   two connections writing the same file never hand out one version twice. Several change rows
//   share a db_version; `seq` (the rowid) orders them within it and across the table.
// - What changed, not the whole value (schema version 2): a view that names the fields it changed
//   (a delta's keys) writes a change row of kind 'fields' holding only those fields' new values
//   (and the removed ones in `removed`), and patches the entity's JSON in place with json_set /
//   json_remove, so a one-key change on a 10,000-key map writes a few dozen bytes of rows, not the
//   whole value twice. Paths are `$."<key>"` with the key JSON-escaped, which SQLite matches
//   exactly. A version 1 file is migrated when opened for writing: two columns added to
//   lichen_changes (its rows read as kind 'value'), schema_version set to 2.
// - A large entity's value is not rewritten per change (schema version 3). SQLite rewrites a row
//   whole, so a json_set on a 10,000-key map's row wrote its ~200 KB again at every change. An
//   entity whose value is over PATCH_ROW_BYTES keeps it in lichen_entity_values, and the fields a
//   change sets (scalars: numbers, strings, booleans) go to its small row in
//   lichen_entity_patches (json_set there); the view lichen_entities reads
//   json_patch(value, patch), so every query of docs/sql.md reads the current value. The patch
//   is folded into the value when it passes FOLD_PATCH_BYTES, when a change removes a field or
//   sets null or an object (which a merge patch cannot say), and when the value is written
//   whole. Which entities have a patch row is known to the connection that writes them (read at
//   open): the mirror of an entity has one writer, the gateway. A version 2 file is migrated
//   when opened for writing (its table renamed, the view made); read-only, it is read as it is.
//   Version 4 keeps the patch rows in a rowid table (see PATCHES_TABLE), a version 3 file's
//   rows copied over when it is opened for writing.
// - No per-namespace VIEWs: namespaces are data, not schema. Creating views on the fly would
//   change the schema under other readers, and sanitized names can collide ("a-b", "a_b");
//   `WHERE namespace = ?` uses the primary key's prefix and is as fast as a view.
// - A batch's rows go many to a statement (RowWriter: the ops' puts, the mirror's whole values,
//   the change rows), in their order: a gateway's group of 1,000 deltas ran ~4,000 statements,
//   each bound, stepped and reset on its own (about a fifth of a batch of whole values' CPU time;
//   a field patch of the mirror stays one UPDATE per entity).
// - A caller's own table can ride in the batches (BatchRows: the gateway's lichen_history): its
//   rows go in each batch's transaction through this connection. A second connection writing the
//   file would cost a transaction (and fsync) of its own, and each of its commits empties this
//   connection's page cache (SQLite sees the file changed): the next batch reads its pages again.
// - Write transactions are BEGIN IMMEDIATE: they take the write lock up front, so the busy
//   timeout applies (a deferred transaction that upgrades from read to write gets SQLITE_BUSY
//   at once when another connection writes).

import { createRequire } from "node:module";
import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { LichenError, invalidArgument } from "../core/errors.js";
import { toHex } from "../core/hex.js";
import { checkBatch, checkKvKey, checkKvValue, closedError, type EntityView, type KvOp, type KvStore, type MirrorStore } from "./kv.js";

/**
 * The version of the tables this file writes (lichen_meta.schema_version). 2: a mirror row per
 * store, change rows of kind 'fields'. 3: lichen_entities a view over the values and the patches
 * of large entities. 4: the patches in a rowid table.
 */
export const SQLITE_SCHEMA_VERSION = 4;

export type SqliteSynchronous = "FULL" | "NORMAL";

export interface SqliteKvOptions {
  /** "FULL" (default): every returned put or batch is durable. "NORMAL": faster, but the last
   * transactions can be lost on power loss (never a corrupt file). */
  synchronous?: SqliteSynchronous;
  /** How long a write waits for another connection's lock before failing with STORAGE, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** The wall clock for updated_at / changed_at, in ms since 1970. Default Date.now. */
  now?: () => number;
  /**
   * Open through a read-only connection: the file must exist and hold lichen's tables; nothing
   * is created or written, no write lock is taken, and a user who may only read the file can
   * read it. put, delete, batch and pruneChanges fail with STORAGE.
   */
  readOnly?: boolean;
}

/**
 * Rows of a table of the caller's own, stored with the batches (the gateway's lichen_history):
 * written inside each batch's transaction, so they are durable exactly when the states they
 * describe are, with no transaction (no fsync) of their own, and no second connection whose
 * writes would empty this one's page cache at every batch.
 */
export interface BatchRows {
  /** Inside a batch's transaction, after the batch's own rows. Throwing rolls the whole batch back. */
  write(db: BetterSqlite3.Database): void;
  /** The transaction committed: what `write` wrote is stored (not called when it rolled back). */
  stored(): void;
}

/** One row of lichen_changes, as SQL returns it. */
export interface SqliteChange {
  /** Orders the rows: increasing, in commit order. */
  seq: number;
  /** The batch that made the change; several rows share one. */
  db_version: number;
  namespace: string;
  id: string;
  type: string;
  /**
   * JSON text: with kind 'value', the entity's whole value after the change (null: it was
   * deleted); with kind 'fields', an object of the top-level fields the change set, each with its
   * new value.
   */
  value: string | null;
  /** ISO 8601 UTC, e.g. 2025-01-01T00:00:00.000Z. */
  changed_at: string;
  /** 'value': `value` is the whole value; 'fields': only what changed (see value and removed). */
  kind: ChangeKind;
  /** With kind 'fields': a JSON array of the top-level fields the change removed, or null if none. */
  removed: string | null;
}

export type ChangeKind = "value" | "fields";

/** The columns of a change row, as changesSince returns them (shared with read-only readers of the file). */
export const CHANGE_COLUMNS = "seq, db_version, namespace, id, type, value, changed_at, kind, removed";
/** The same columns from a version 1 file, whose rows are all whole values. */
export const CHANGE_COLUMNS_V1 = "seq, db_version, namespace, id, type, value, changed_at, 'value' AS kind, NULL AS removed";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lichen_meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lichen_kv (
  key   BLOB PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lichen_entities (
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  type       TEXT NOT NULL,
  value      TEXT NOT NULL,
  db_version INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  store      TEXT NOT NULL,
  PRIMARY KEY (namespace, id, store)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lichen_changes (
  seq        INTEGER PRIMARY KEY,
  db_version INTEGER NOT NULL,
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  type       TEXT NOT NULL,
  value      TEXT,
  changed_at TEXT NOT NULL,
  kind       TEXT NOT NULL DEFAULT 'value',
  removed    TEXT
);
CREATE INDEX IF NOT EXISTS lichen_changes_by_version ON lichen_changes (db_version);
INSERT OR IGNORE INTO lichen_meta (name, value) VALUES ('schema_version', 2), ('db_version', 0);
`;
// (a new file is made as version 2, then upgraded as an existing one is)

/**
 * Version 1 keyed lichen_entities by (namespace, id) alone, so a StateStore namespace and a CrdtDb
 * type of the same name shared a row and one of the two was lost. Version 2 adds the store to the
 * key; the rows of a version-1 file get theirs from their type ("Type@N" is a CrdtDb entity).
 * Version 2's change rows also learn their kind (version 1's rows are whole values).
 */
const UPGRADE_1_TO_2 = `
CREATE TABLE lichen_entities_2 (
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  type       TEXT NOT NULL,
  value      TEXT NOT NULL,
  db_version INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  store      TEXT NOT NULL,
  PRIMARY KEY (namespace, id, store)
) WITHOUT ROWID;
INSERT INTO lichen_entities_2 SELECT namespace, id, type, value, db_version, updated_at,
  CASE WHEN instr(type, '@') > 0 THEN 'entity' ELSE 'state' END FROM lichen_entities;
DROP TABLE lichen_entities;
ALTER TABLE lichen_entities_2 RENAME TO lichen_entities;
ALTER TABLE lichen_changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'value';
ALTER TABLE lichen_changes ADD COLUMN removed TEXT;
UPDATE lichen_meta SET value = 2 WHERE name = 'schema_version';
`;

/**
 * A large entity's patch row. A rowid table, not WITHOUT ROWID: a WITHOUT ROWID row keeps at most
 * about 1,000 bytes in its page and spills the rest to overflow pages, which every json_set then
 * freed and allocated again (3 to 5 more pages a commit: the overflow pages, the free-list trunk,
 * page 1); a rowid table keeps a row of up to 4,061 bytes in its page (FOLD_PATCH_BYTES).
 */
const PATCHES_TABLE = `
CREATE TABLE lichen_entity_patches (
  namespace  TEXT NOT NULL,
  id         TEXT NOT NULL,
  store      TEXT NOT NULL,
  type       TEXT NOT NULL,
  patch      TEXT NOT NULL,
  db_version INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (namespace, id, store)
);`;

const ENTITIES_VIEW = `
CREATE VIEW lichen_entities AS
  SELECT v.namespace AS namespace, v.id AS id, coalesce(p.type, v.type) AS type,
    CASE WHEN p.patch IS NULL THEN v.value ELSE json_patch(v.value, p.patch) END AS value,
    coalesce(p.db_version, v.db_version) AS db_version, coalesce(p.updated_at, v.updated_at) AS updated_at, v.store AS store
  FROM lichen_entity_values v LEFT JOIN lichen_entity_patches p ON p.namespace = v.namespace AND p.id = v.id AND p.store = v.store;`;

/** Version 3: large entities' changed fields in rows of their own, read through the view lichen_entities. */
const UPGRADE_2_TO_3 = `
ALTER TABLE lichen_entities RENAME TO lichen_entity_values;
${PATCHES_TABLE}
${ENTITIES_VIEW}
UPDATE lichen_meta SET value = 3 WHERE name = 'schema_version';
`;

/** Version 4: the patch rows in a rowid table (see PATCHES_TABLE); a version 3 file's rows copied over. */
const UPGRADE_3_TO_4 = `
DROP VIEW lichen_entities;
ALTER TABLE lichen_entity_patches RENAME TO lichen_entity_patches_3;
${PATCHES_TABLE}
INSERT INTO lichen_entity_patches (namespace, id, store, type, patch, db_version, updated_at)
  SELECT namespace, id, store, type, patch, db_version, updated_at FROM lichen_entity_patches_3;
DROP TABLE lichen_entity_patches_3;
${ENTITIES_VIEW}
UPDATE lichen_meta SET value = 4 WHERE name = 'schema_version';
`;

const KEY_OUT = "CASE WHEN instr(key, x'ed') = 0 THEN CAST(key AS TEXT) ELSE key END";

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;
type DatabaseConstructor = typeof BetterSqlite3;

/** better-sqlite3, loaded at the first open: importing this module does not load the native addon. */
function loadDriver(): DatabaseConstructor {
  const require = createRequire(import.meta.url);
  return require("better-sqlite3") as DatabaseConstructor;
}

// ---- errors ----

function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

function withCause(err: LichenError, cause: unknown): LichenError {
  Object.defineProperty(err, "cause", { value: cause, enumerable: false, writable: true, configurable: true });
  return err;
}

/** A driver error as a LichenError: CORRUPT for a damaged or foreign file, STORAGE for the rest. */
export function storageError(e: unknown, path: string, doing: string): LichenError {
  if (e instanceof LichenError) return e;
  const code = sqliteCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_READONLY_DIRECTORY") {
    // a WAL database read by a user who may not create its -shm file (the gateway is stopped)
    return withCause(
      new LichenError(
        "STORAGE",
        `${path}: ${doing}: SQLite needs to create ${path}-shm beside this WAL database and may not (the directory is read-only for this user): run as the gateway's user, or while the gateway runs`,
      ),
      e,
    );
  }
  if (code !== undefined && (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"))) {
    return withCause(new LichenError("CORRUPT", `${path}: ${doing}: ${msg} (${code})`), e);
  }
  return withCause(new LichenError("STORAGE", `${path}: ${doing}: ${msg}${code ? ` (${code})` : ""}`), e);
}

// ---- keys as WTF-8 bytes ----

/** The WTF-8 bytes of a string: UTF-8, with lone surrogates encoded like any other code point. */
export function encodeKey(s: string): Uint8Array {
  // the usual key is ASCII: its bytes are its code units, copied natively from Buffer's pool
  // (a fresh Uint8Array per key costs ten times as much; the driver copies what it binds)
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    const b = Buffer.from(s, "latin1");
    return new Uint8Array(b.buffer, b.byteOffset, b.length); // not a Buffer: its slice() copies, as a Uint8Array's does
  }
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out[n++] = c;
    else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 0x3f);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return out.subarray(0, n);
}

/** Reads WTF-8 back; bytes that are not (a stored row written by someone else) become U+FFFD. */
export function decodeKey(b: Uint8Array): string {
  let s = "";
  const len = b.length;
  for (let i = 0; i < len; ) {
    const x = b[i]!;
    let cp = 0xfffd;
    let need = 0;
    let min = 0;
    if (x < 0x80) {
      cp = x;
    } else if (x >= 0xc2 && x <= 0xdf) {
      cp = x & 0x1f;
      need = 1;
      min = 0x80;
    } else if (x >= 0xe0 && x <= 0xef) {
      cp = x & 0x0f;
      need = 2;
      min = 0x800;
    } else if (x >= 0xf0 && x <= 0xf4) {
      cp = x & 0x07;
      need = 3;
      min = 0x10000;
    }
    i++;
    if (need > 0) {
      let ok = i + need <= len;
      for (let k = 0; ok && k < need; k++) {
        const y = b[i + k]!;
        if ((y & 0xc0) !== 0x80) ok = false;
        else cp = (cp << 6) | (y & 0x3f);
      }
      if (ok && cp >= min && cp <= 0x10ffff) i += need;
      else cp = 0xfffd; // skip only the lead byte and resynchronize
    } else if (x >= 0x80) cp = 0xfffd;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      s += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else s += String.fromCharCode(cp);
  }
  return s;
}

/** The smallest byte string greater than every string that starts with `b`; undefined if none. */
function successor(b: Uint8Array): Uint8Array | undefined {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  const out = b.slice(0, n);
  out[n - 1]!++;
  return out;
}

/** A driver buffer as a plain Uint8Array the caller owns. */
function ownBytes(b: Uint8Array): Uint8Array {
  // A buffer that is the whole of its own ArrayBuffer (better-sqlite3 copies every BLOB into a
  // fresh one) can be re-wrapped; a slice of a shared pool must be copied.
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length && !(b.buffer instanceof SharedArrayBuffer)) {
    return new Uint8Array(b.buffer, 0, b.length);
  }
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

// ---- multi-row statements ----

/** Rows per statement at most: one statement of many rows costs less than a statement per row (each run binds, steps and resets). */
const ROWS_PER_STATEMENT = 64;
/** The last rows of a group go this many to a statement at most, the very last ones in a statement of their count (at most ROWS_PER_TAIL_STATEMENT + 1 statements prepared per writer). */
const ROWS_PER_TAIL_STATEMENT = 8;

/**
 * One INSERT written with many rows per statement: the caller pushes a row's values onto `args`
 * and calls `endRow`; full statements run as rows come, `flush` runs the rest. Rows are written
 * in the order given (SQLite inserts a statement's rows in order, so an upsert's later row of
 * the same key wins, and rowids follow the order). Statements are prepared at the first use.
 */
export class RowWriter {
  /** The values of the rows not yet written, row after row. */
  readonly args: unknown[] = [];
  private rows = 0;
  private readonly statements = new Map<number, Statement>();

  /** `insert` up to VALUES, `row` one row's tuple ("(?, ?)"), `tail` what follows the rows (ON CONFLICT ..., or ""). */
  constructor(
    private readonly db: Database,
    private readonly insert: string,
    private readonly row: string,
    private readonly tail: string,
  ) {}

  endRow(): void {
    if (++this.rows < ROWS_PER_STATEMENT) return;
    this.statement(ROWS_PER_STATEMENT).run(this.args);
    this.args.length = 0;
    this.rows = 0;
  }

  flush(): void {
    if (this.rows === 0) return;
    const perRow = this.args.length / this.rows;
    let at = 0;
    for (let left = this.rows; left > 0; ) {
      const n = Math.min(left, ROWS_PER_TAIL_STATEMENT);
      this.statement(n).run(n === this.rows ? this.args : this.args.slice(at, at + n * perRow));
      at += n * perRow;
      left -= n;
    }
    this.args.length = 0;
    this.rows = 0;
  }

  /** Drops the rows not yet written (their transaction failed). */
  clear(): void {
    this.args.length = 0;
    this.rows = 0;
  }

  private statement(n: number): Statement {
    let st = this.statements.get(n);
    if (st === undefined) {
      st = this.db.prepare(`${this.insert} VALUES ${Array(n).fill(this.row).join(", ")}${this.tail === "" ? "" : ` ${this.tail}`}`);
      this.statements.set(n, st);
    }
    return st;
  }
}

// ---- values as JSON ----

const MAX_JSON_DEPTH = 256;

/**
 * JSON text of a view's value, as JSON.stringify would write it, except that:
 * - a Uint8Array (a Buffer too) becomes {"$bytes":"<lowercase hex>"} (SQLite >= 3.41 decodes
 *   it with unhex(json_extract(value, '$.path."$bytes"')));
 * - object keys are written in code-unit order, so one value always gives one text.
 * Returns undefined where JSON.stringify would (undefined, functions, symbols at top level).
 */
export function toJsonText(value: unknown): string | undefined {
  // the usual field (a number or a string) needs no walk
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : "null";
  if (typeof value === "string") return JSON.stringify(value);
  return jsonWalk(value, "", []);
}

/** toJsonText's walk; `stack` holds the objects being written (cycles, depth). A module-level function: no closure made per call. */
function jsonWalk(v: unknown, key: string, stack: object[]): string | undefined {
  if (v !== null && (typeof v === "object" || typeof v === "bigint") && !(v instanceof Uint8Array)) {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") v = toJSON.call(v, key);
  }
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? JSON.stringify(v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      throw invalidArgument("entity views must be JSON-able: a BigInt is not");
    case "object": {
      if (v === null) return "null";
      if (v instanceof Uint8Array) return `{"$bytes":"${toHex(v)}"}`;
      if (v instanceof Number || v instanceof String || v instanceof Boolean) return jsonWalk(v.valueOf(), key, stack);
      if (stack.includes(v)) throw invalidArgument("entity views must be JSON-able: this value is cyclic");
      if (stack.length >= MAX_JSON_DEPTH) throw invalidArgument(`entity views may nest at most ${MAX_JSON_DEPTH} levels`);
      stack.push(v);
      let out: string;
      if (Array.isArray(v)) {
        const parts: string[] = [];
        for (let i = 0; i < v.length; i++) parts.push(jsonWalk(v[i], String(i), stack) ?? "null");
        out = `[${parts.join(",")}]`;
      } else {
        const obj = v as { [k: string]: unknown };
        const parts: string[] = [];
        for (const k of Object.keys(obj).sort()) {
          const s = jsonWalk(obj[k], k, stack);
          if (s !== undefined) parts.push(`${JSON.stringify(k)}:${s}`);
        }
        out = `{${parts.join(",")}}`;
      }
      stack.pop();
      return out;
    }
    default:
      return undefined; // undefined, function, symbol
  }
}

interface PreparedView {
  store: MirrorStore;
  namespace: string;
  id: string;
  type: string;
  /** The whole value's JSON; undefined: the entity was deleted, or (with `set`) only fields changed. */
  json: string | undefined;
  /** Fields changed: paths and JSON of the fields set, and paths of the fields removed. */
  set?: Array<[string, string]>;
  removed?: string[];
  /** With `set`: the change row's value (the fields set) and removed list, as JSON. */
  setJson?: string;
  removedJson?: string | null;
  /** With `set`: the whole value's JSON, for an entity the mirror has no row of yet. */
  whole?: () => string;
}

function valueJson(value: unknown, where: string): string {
  const json = toJsonText(value);
  if (json === undefined) throw invalidArgument(`entity ${where}: a ${typeof value} is not JSON-able`);
  return json;
}

function prepareViews(views: readonly EntityView[] | undefined): PreparedView[] {
  if (views === undefined) return [];
  if (!Array.isArray(views)) throw invalidArgument("views is an array of EntityViews");
  const out: PreparedView[] = [];
  for (const v of views as readonly unknown[]) {
    if (v === null || typeof v !== "object") throw invalidArgument("an EntityView is an object");
    const { namespace, id, type, value, fields, wholeValue } = v as EntityView;
    const store = (v as EntityView).store ?? "state";
    if (store !== "state" && store !== "entity") throw invalidArgument('an EntityView\'s store is "state" or "entity"');
    if (typeof namespace !== "string" || typeof id !== "string" || typeof type !== "string") {
      throw invalidArgument("an EntityView has string namespace, id and type");
    }
    const where = `${namespace}/${id}`;
    if (fields === undefined) {
      out.push({ store, namespace, id, type, json: value === undefined ? undefined : valueJson(value, where) });
      continue;
    }
    if (!Array.isArray(fields) || typeof wholeValue !== "function") throw invalidArgument("an EntityView's fields are [key, value] pairs, given with wholeValue()");
    const set: Array<[string, string]> = [];
    const removed: string[] = [];
    const setParts: string[] = [];
    const removedKeys: string[] = [];
    for (const f of fields as ReadonlyArray<readonly [unknown, unknown]>) {
      if (!Array.isArray(f) || typeof f[0] !== "string") throw invalidArgument("an EntityView's fields are [key, value] pairs");
      const key = JSON.stringify(f[0]);
      if (f[1] === undefined) {
        removed.push(`$.${key}`);
        removedKeys.push(key);
      } else {
        const json = valueJson(f[1], where);
        set.push([`$.${key}`, json]);
        setParts.push(`${key}:${json}`);
      }
    }
    out.push({
      store,
      namespace,
      id,
      type,
      json: undefined,
      set,
      removed,
      setJson: `{${setParts.join(",")}}`,
      removedJson: removedKeys.length === 0 ? null : `[${removedKeys.join(",")}]`,
      whole: () => valueJson(wholeValue(), where),
    });
  }
  return out;
}

/**
 * The most fields patched in place in one change (SQLite caps a function's arguments, and past a
 * few dozen fields writing the whole value costs about the same): above, the row is written whole.
 */
const MAX_PATCH_FIELDS = 64;
/** An entity whose value's JSON is at least this long takes its changed fields in a patch row (see the file's header). */
const PATCH_ROW_BYTES = 8192;
/**
 * A patch row is folded into its value once its JSON passes this length: the row, its other
 * columns included, stays within what a 4 KB page keeps of a row (4,061 bytes; past it, overflow pages).
 */
export const FOLD_PATCH_BYTES = 3840;

/** The mirror's writes: whole values, fields patched in place, and large entities' patch rows (see the file's header). */
class EntityPatcher {
  private readonly statements = new Map<string, Statement>();
  /** The entities that have a patch row, as "store/namespace/id" (read at open, then kept by this connection). */
  private readonly patched = new Set<string>();
  /** The length of each entity's stored value as this connection last wrote or read it (-1: no row). */
  private readonly sizes = new Map<string, number>();
  private readonly size: Statement;
  private readonly insertPatch: Statement;
  private readonly takePatch: Statement;
  private readonly fold: Statement;
  /** Whole values, written many rows per statement; flushed before any other write of the mirror (order kept). */
  private readonly values: RowWriter;

  constructor(
    private readonly db: Database,
    private readonly st: Statements,
  ) {
    for (const r of db.prepare("SELECT store, namespace, id FROM lichen_entity_patches").all() as Array<{ store: string; namespace: string; id: string }>) {
      this.patched.add(entityKey(r.store, r.namespace, r.id));
    }
    this.size = db.prepare("SELECT length(value) FROM lichen_entity_values WHERE namespace = ? AND id = ? AND store = ?").pluck();
    this.insertPatch = db.prepare("INSERT INTO lichen_entity_patches (namespace, id, store, type, patch, db_version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.takePatch = db.prepare("DELETE FROM lichen_entity_patches WHERE namespace = ? AND id = ? AND store = ? RETURNING patch").pluck();
    this.fold = db.prepare(
      "UPDATE lichen_entity_values AS v SET value = json_patch(v.value, p.patch), type = p.type, db_version = p.db_version, updated_at = p.updated_at " +
        "FROM lichen_entity_patches AS p WHERE p.namespace = v.namespace AND p.id = v.id AND p.store = v.store AND v.namespace = ? AND v.id = ? AND v.store = ?",
    );
    this.values = new RowWriter(
      db,
      "INSERT INTO lichen_entity_values (namespace, id, type, value, db_version, updated_at, store)",
      "(?, ?, ?, ?, ?, ?, ?)",
      "ON CONFLICT (namespace, id, store) DO UPDATE SET type = excluded.type, value = excluded.value, db_version = excluded.db_version, updated_at = excluded.updated_at",
    );
  }

  /** Writes the whole values not yet written (at the end of a batch, and before any other write of the mirror). */
  flush(): void {
    this.values.flush();
  }

  /** Forgets the values not yet written (their transaction failed). */
  clear(): void {
    this.values.clear();
  }

  /** Writes an entity's whole value (its patch row, if any, goes). */
  upsert(v: PreparedView, json: string, version: number, at: string): void {
    const k = entityKey(v.store, v.namespace, v.id);
    this.dropPatch(v, k);
    this.values.args.push(v.namespace, v.id, v.type, json, version, at, v.store);
    this.values.endRow();
    this.sizes.set(k, json.length);
  }

  remove(v: PreparedView): void {
    const k = entityKey(v.store, v.namespace, v.id);
    this.dropPatch(v, k);
    this.values.flush();
    this.st.deleteEntity.run(v.namespace, v.id, v.store);
    this.sizes.set(k, -1);
  }

  /** Sets and removes fields of an existing entity; false if the mirror has no row of it, or too many fields changed. */
  patch(v: PreparedView, version: number, at: string): boolean {
    const set = v.set!;
    const removed = v.removed!;
    if (set.length + removed.length > MAX_PATCH_FIELDS) return false;
    this.values.flush();
    const k = entityKey(v.store, v.namespace, v.id);
    if (removed.length === 0 && set.every(([, json]) => mergeable(json))) {
      if (this.patched.has(k)) {
        const len = this.statement(`p${set.length}`, () => `UPDATE lichen_entity_patches SET type = ?, patch = json_set(patch${", ?, json(?)".repeat(set.length)}), db_version = ?, updated_at = ? WHERE namespace = ? AND id = ? AND store = ? RETURNING length(patch)`, true).get(...this.args(v, version, at, set, [])) as number | undefined;
        if (len !== undefined) {
          if (len > FOLD_PATCH_BYTES) {
            this.fold.run(v.namespace, v.id, v.store);
            this.takePatch.get(v.namespace, v.id, v.store);
            this.patched.delete(k);
          }
          return true;
        }
        this.patched.delete(k); // folded by someone else meanwhile
      } else if (this.valueSize(v, k) >= PATCH_ROW_BYTES) {
        let patch = "{";
        for (let i = 0; i < set.length; i++) patch += `${i === 0 ? "" : ","}${set[i]![0].slice(2)}:${set[i]![1]}`;
        this.insertPatch.run(v.namespace, v.id, v.store, v.type, `${patch}}`, version, at);
        this.patched.add(k);
        return true;
      }
    }
    // into the value itself, the patch row (if any) folded in first
    const pending = this.patched.has(k) ? (this.takePatch.get(v.namespace, v.id, v.store) as string | undefined) : undefined;
    this.patched.delete(k);
    const from = pending === undefined ? "value" : "json_patch(value, ?)";
    const st = this.statement(`v${pending === undefined ? "" : "p"}${set.length}/${removed.length}`, () => {
      let expr = from;
      if (set.length > 0) expr = `json_set(${expr}${", ?, json(?)".repeat(set.length)})`;
      if (removed.length > 0) expr = `json_remove(${expr}${", ?".repeat(removed.length)})`;
      return `UPDATE lichen_entity_values SET type = ?, value = ${expr}, db_version = ?, updated_at = ? WHERE namespace = ? AND id = ? AND store = ?`;
    });
    const args = this.args(v, version, at, set, removed);
    if (pending !== undefined) args.splice(1, 0, pending);
    return st.run(...args).changes > 0;
  }

  private args(v: PreparedView, version: number, at: string, set: ReadonlyArray<[string, string]>, removed: readonly string[]): unknown[] {
    const args: unknown[] = [v.type];
    for (const [path, json] of set) args.push(path, json);
    for (const path of removed) args.push(path);
    args.push(version, at, v.namespace, v.id, v.store);
    return args;
  }

  private statement(shape: string, sql: () => string, pluck = false): Statement {
    let st = this.statements.get(shape);
    if (st === undefined) {
      st = this.db.prepare(sql());
      if (pluck) st = st.pluck();
      this.statements.set(shape, st);
    }
    return st;
  }

  private valueSize(v: PreparedView, k: string): number {
    let n = this.sizes.get(k);
    if (n === undefined) {
      const got = this.size.get(v.namespace, v.id, v.store);
      n = typeof got === "number" ? got : -1;
      this.sizes.set(k, n);
    }
    return n;
  }

  private dropPatch(v: PreparedView, k: string): void {
    if (!this.patched.has(k)) return;
    this.values.flush();
    this.takePatch.get(v.namespace, v.id, v.store);
    this.patched.delete(k);
  }
}

function entityKey(store: string, ns: string, id: string): string {
  return `${store}/${ns}/${id}`;
}

/** True if a merge patch can set a field to this JSON: not null (it removes), not an object (it merges). */
function mergeable(json: string): boolean {
  return json !== "null" && json.charCodeAt(0) !== 0x7b;
}

// ---- the store ----

interface Statements {
  get: Statement;
  put: Statement;
  del: Statement;
  keysAll: Statement;
  keysFrom: Statement;
  keysRange: Statement;
  bumpVersion: Statement;
  dbVersion: Statement;
  deleteEntity: Statement;
  changesSince: Statement;
  pruneChanges: Statement;
}

/** A KvStore in one SQLite file, with a SQL-readable mirror of the entities (see the file's header). */
export class SqliteKv implements KvStore {
  /** The file's absolute path (or ":memory:"). */
  readonly path: string;
  /** The mirror: views given to batch are kept. */
  readonly keepsViews = true;
  readonly synchronous: SqliteSynchronous;
  readonly readOnly: boolean;
  private db: Database | undefined;
  private readonly st: Statements;
  private readonly now: () => number;
  private readonly writeBatch: (keys: Uint8Array[], ops: readonly KvOp[], views: PreparedView[]) => void;
  private readonly batchRows: BatchRows[] = [];

  /** Opens (creating if needed) the database at `path`; ":memory:" for a private in-memory one. */
  static open(path: string, options: SqliteKvOptions = {}): SqliteKv {
    return new SqliteKv(path, options);
  }

  constructor(path: string, options: SqliteKvOptions = {}) {
    if (typeof path !== "string" || path.length === 0) throw invalidArgument("a SqliteKv needs a file path");
    const synchronous = options.synchronous ?? "FULL";
    if (synchronous !== "FULL" && synchronous !== "NORMAL") throw invalidArgument('synchronous is "FULL" or "NORMAL"');
    const busy = options.busyTimeoutMs ?? 5000;
    if (!(Number.isSafeInteger(busy) && busy >= 0)) throw invalidArgument("busyTimeoutMs is a non-negative integer");
    if (options.now !== undefined && typeof options.now !== "function") throw invalidArgument("now is a function");
    this.now = options.now ?? Date.now;
    this.synchronous = synchronous;
    const readOnly = options.readOnly === true;
    this.readOnly = readOnly;
    const memory = path === ":memory:";
    if (memory && readOnly) throw invalidArgument("a read-only SqliteKv reads a file, not :memory:");
    this.path = memory ? path : resolve(path);
    if (!memory) {
      const dir = dirname(this.path);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw new LichenError("STORAGE", `${this.path}: cannot open the database: the directory ${dir} does not exist`);
      }
      if (existsSync(this.path) && statSync(this.path).isDirectory()) {
        throw new LichenError("STORAGE", `${this.path}: cannot open the database: it is a directory`);
      }
    }
    const Driver = loadDriver();
    let db: Database;
    try {
      db = new Driver(this.path, readOnly ? { timeout: busy, readonly: true, fileMustExist: true } : { timeout: busy });
    } catch (e) {
      throw storageError(e, this.path, "cannot open the database");
    }
    try {
      // Read-only: nothing to set up, and nothing may be written (the file's own mode stays).
      if (!readOnly) {
        // The first statement reads the header: a file that is not SQLite fails here (NOTADB).
        const mode = db.pragma("journal_mode = WAL", { simple: true });
        if (!memory && String(mode).toLowerCase() !== "wal") {
          throw new LichenError("STORAGE", `${this.path}: the database cannot use WAL mode (journal_mode is ${String(mode)})`);
        }
        db.pragma(`synchronous = ${synchronous}`);
        db.exec("BEGIN IMMEDIATE");
        try {
          db.exec(SCHEMA);
          const version = (): unknown => db.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get();
          if (version() === 1) db.exec(UPGRADE_1_TO_2);
          if (version() === 2) db.exec(UPGRADE_2_TO_3);
          if (version() === 3) db.exec(UPGRADE_3_TO_4);
          db.exec("COMMIT");
        } catch (e) {
          if (db.inTransaction) db.exec("ROLLBACK");
          throw e;
        }
      }
      const schema = db.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get();
      if (typeof schema !== "number" || !Number.isSafeInteger(schema)) {
        throw new LichenError("CORRUPT", `${this.path}: lichen_meta holds no valid schema_version`);
      }
      if (schema > SQLITE_SCHEMA_VERSION) {
        throw new LichenError("UNSUPPORTED_VERSION", `${this.path}: its lichen tables are of schema version ${schema}; this code knows up to ${SQLITE_SCHEMA_VERSION}`);
      }
      // Read-only, the write statements are not prepared: a version 1 file (read as it is, never
      // migrated) lacks the columns they name, and every write is refused before it reaches them.
      const write = (sql: string, pluck = false): Statement => (readOnly ? (undefined as unknown as Statement) : pluck ? db.prepare(sql).pluck() : db.prepare(sql));
      this.st = {
        get: db.prepare("SELECT CAST(value AS BLOB) FROM lichen_kv WHERE key = ?").pluck(),
        put: write("INSERT INTO lichen_kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        del: write("DELETE FROM lichen_kv WHERE key = ?"),
        // A key without a byte 0xED (the lead byte of U+D000..U+DFFF, surrogates included) comes
        // back as TEXT, decoded by the driver; the others as BLOBs, decoded by decodeKey.
        keysAll: db.prepare(`SELECT ${KEY_OUT} FROM lichen_kv WHERE key >= x'' ORDER BY key`).pluck(),
        keysFrom: db.prepare(`SELECT ${KEY_OUT} FROM lichen_kv WHERE key >= ? ORDER BY key`).pluck(),
        keysRange: db.prepare(`SELECT ${KEY_OUT} FROM lichen_kv WHERE key >= ? AND key < ? ORDER BY key`).pluck(),
        bumpVersion: write("UPDATE lichen_meta SET value = value + 1 WHERE name = 'db_version' RETURNING value", true),
        dbVersion: db.prepare("SELECT value FROM lichen_meta WHERE name = 'db_version'").pluck(),
        deleteEntity: write("DELETE FROM lichen_entity_values WHERE namespace = ? AND id = ? AND store = ?"),
        // (db_version, seq) > (?, ?): a cursor; the index on db_version (which holds the rowid) serves it
        changesSince: db.prepare(`SELECT ${schema < 2 ? CHANGE_COLUMNS_V1 : CHANGE_COLUMNS} FROM lichen_changes WHERE (db_version, seq) > (?, ?) ORDER BY db_version, seq LIMIT ?`),
        pruneChanges: write("DELETE FROM lichen_changes WHERE db_version <= ?"),
      };
    } catch (e) {
      try {
        db.close();
      } catch {
        // the open already failed; that error is the one to report
      }
      throw storageError(e, this.path, "cannot open the database");
    }
    this.db = db;
    const st = this.st;
    const patcher = readOnly ? (undefined as unknown as EntityPatcher) : new EntityPatcher(db, st);
    // many rows per statement (see RowWriter); prepared at the first batch, so never read-only
    const puts = new RowWriter(db, "INSERT INTO lichen_kv (key, value)", "(?, ?)", "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const changes = new RowWriter(db, "INSERT INTO lichen_changes (db_version, namespace, id, type, value, changed_at, kind, removed)", "(?, ?, ?, ?, ?, ?, ?, ?)", "");
    const tx = db.transaction((keys: Uint8Array[], ops: readonly KvOp[], views: PreparedView[]): void => {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op.type === "put") {
          puts.args.push(keys[i], op.value);
          puts.endRow();
        } else {
          puts.flush(); // the ops in their order: a delete after a put of its key wins
          st.del.run(keys[i]);
        }
      }
      puts.flush();
      for (const r of this.batchRows) r.write(db);
      if (views.length === 0) return;
      const version = st.bumpVersion.get() as number | undefined;
      // (patcher: see EntityPatcher)
      if (typeof version !== "number") throw new LichenError("CORRUPT", `${this.path}: lichen_meta holds no db_version`);
      const at = new Date(this.now()).toISOString();
      for (const v of views) {
        if (v.set !== undefined) {
          // what changed: the row patched in place (or written whole if the mirror lacks it, or many fields changed)
          if (!patcher.patch(v, version, at)) patcher.upsert(v, v.whole!(), version, at);
          changes.args.push(version, v.namespace, v.id, v.type, v.setJson, at, "fields", v.removedJson);
          changes.endRow();
          continue;
        }
        if (v.json === undefined) patcher.remove(v);
        else patcher.upsert(v, v.json, version, at);
        changes.args.push(version, v.namespace, v.id, v.type, v.json ?? null, at, "value", null);
        changes.endRow();
      }
      patcher.flush();
      changes.flush();
    });
    this.writeBatch = (keys, ops, views) => {
      try {
        tx.immediate(keys, ops, views);
      } catch (e) {
        // rolled back: the rows not yet written go with it
        puts.clear();
        changes.clear();
        patcher.clear();
        throw e;
      }
      for (const r of this.batchRows) r.stored();
    };
  }

  get(key: string): Uint8Array | undefined {
    this.check();
    const k = encodeKey(checkKvKey(key));
    let v: unknown;
    try {
      v = this.st.get.get(k);
    } catch (e) {
      throw storageError(e, this.path, `get(${JSON.stringify(key)})`);
    }
    if (v === undefined || v === null) return undefined;
    // CAST(... AS BLOB) makes every stored type bytes: a row written by another tool reads as it is.
    return v instanceof Uint8Array ? ownBytes(v) : new TextEncoder().encode(String(v));
  }

  put(key: string, value: Uint8Array): void {
    this.checkWritable();
    const k = encodeKey(checkKvKey(key));
    checkKvValue(value);
    try {
      this.st.put.run(k, value);
    } catch (e) {
      throw storageError(e, this.path, `put(${JSON.stringify(key)})`);
    }
  }

  delete(key: string): void {
    this.checkWritable();
    const k = encodeKey(checkKvKey(key));
    try {
      this.st.del.run(k);
    } catch (e) {
      throw storageError(e, this.path, `delete(${JSON.stringify(key)})`);
    }
  }

  keys(prefix = ""): string[] {
    this.check();
    if (typeof prefix !== "string") throw invalidArgument("a key prefix is a string");
    // A prefix ending in a high surrogate may split a pair of a key ("\uD83D" of "\uD83D\uDE00"),
    // whose bytes are then not a prefix of the key's: search from the code unit before it.
    let search = prefix;
    const last = prefix.charCodeAt(prefix.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) search = prefix.slice(0, -1);
    let rows: unknown[];
    try {
      if (search.length === 0) rows = this.st.keysAll.all();
      else {
        const lo = encodeKey(search);
        const hi = successor(lo);
        rows = hi === undefined ? this.st.keysFrom.all(lo) : this.st.keysRange.all(lo, hi);
      }
    } catch (e) {
      throw storageError(e, this.path, `keys(${JSON.stringify(prefix)})`);
    }
    const out: string[] = [];
    for (const r of rows) {
      const k = r instanceof Uint8Array ? decodeKey(r) : String(r);
      if (k.startsWith(prefix)) out.push(k);
    }
    // SQLite returned UTF-8 byte order; the contract is code-unit order (sort's default).
    return out.sort();
  }

  batch(ops: readonly KvOp[], views?: readonly EntityView[]): void {
    this.checkWritable();
    checkBatch(ops);
    const prepared = prepareViews(views);
    const keys = ops.map((op) => encodeKey(op.key));
    try {
      this.writeBatch(keys, ops, prepared);
    } catch (e) {
      throw storageError(e, this.path, "batch");
    }
  }

  /** The db_version of the last batch that wrote views (0 before any). */
  dbVersion(): number {
    this.check();
    try {
      const v = this.st.dbVersion.get();
      return typeof v === "number" ? v : 0;
    } catch (e) {
      throw storageError(e, this.path, "dbVersion()");
    }
  }

  /**
   * The changes of every batch after db_version `version`, in order (db_version, then seq).
   * To page with `limit`, pass the db_version and seq of the last row received: the next page
   * starts right after it, even inside a batch larger than the limit.
   */
  changesSince(version: number, options: { limit?: number; afterSeq?: number } = {}): SqliteChange[] {
    this.check();
    if (!(Number.isSafeInteger(version) && version >= 0)) throw invalidArgument("changesSince takes a db_version: a non-negative integer");
    const { limit, afterSeq } = options ?? {};
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) throw invalidArgument("limit is a positive integer");
    if (afterSeq !== undefined && !(Number.isSafeInteger(afterSeq) && afterSeq >= 0)) throw invalidArgument("afterSeq is a non-negative integer");
    try {
      // without afterSeq: every row of db_version > version (no seq reaches MAX_SAFE_INTEGER)
      const rows = this.st.changesSince.all(version, afterSeq ?? Number.MAX_SAFE_INTEGER, limit ?? -1);
      return rows as SqliteChange[];
    } catch (e) {
      throw storageError(e, this.path, "changesSince()");
    }
  }

  /** Writes `rows` in the transaction of every batch from now on (see BatchRows). */
  addBatchRows(rows: BatchRows): void {
    this.checkWritable();
    this.batchRows.push(rows);
  }

  /** Runs `fn` in a write transaction of this connection: a table of the caller's own (its schema, its pruning). Errors: STORAGE. */
  transaction<T>(doing: string, fn: (db: BetterSqlite3.Database) => T): T {
    this.checkWritable();
    const db = this.db!;
    try {
      return db.transaction(() => fn(db)).immediate();
    } catch (e) {
      throw storageError(e, this.path, doing);
    }
  }

  /** Deletes the change rows of db_version <= `version` (once every reader has pulled them). Returns how many. */
  pruneChanges(version: number): number {
    this.checkWritable();
    if (!(Number.isSafeInteger(version) && version >= 0)) throw invalidArgument("pruneChanges takes a db_version: a non-negative integer");
    try {
      return this.st.pruneChanges.run(version).changes;
    } catch (e) {
      throw storageError(e, this.path, "pruneChanges()");
    }
  }

  close(): void {
    const db = this.db;
    if (db === undefined) return;
    this.db = undefined;
    try {
      db.close();
    } catch (e) {
      throw storageError(e, this.path, "close()");
    }
  }

  private check(): Database {
    if (this.db === undefined) throw closedError(`the SqliteKv of ${this.path}`);
    return this.db;
  }

  private checkWritable(): void {
    this.check();
    if (this.readOnly) throw new LichenError("STORAGE", `${this.path}: opened read-only`);
  }
}
