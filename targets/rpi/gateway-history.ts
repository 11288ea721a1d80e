// Each document's values over time, in the gateway's SQLite file: the view lichen_history_all over
// the tables lichen_history_recent (rows as they come) and lichen_history (rows before, indexed by
// document; see HISTORY_MERGE_MS), each with the columns
//
//   (t INTEGER, doc TEXT, field TEXT, value TEXT)
//     t      wall-clock ms at which the gateway applied the change (its row is stored with it)
//     doc    "namespace/id"
//     field  a top-level key of the document's value (an LWWMap's key), or "value" for a
//            document whose value is not an object (a counter, a register)
//     value  the field's new value as JSON text; NULL: the field was removed
//
// One row per field that changed, never the whole value: a node writing temp, hum and battery
// every second where only temp moved adds one small row. The recorder keeps each document's last
// flattened value in memory (read from the states when the gateway starts, so a restart records
// nothing by itself) and compares. A delta that says which keys it changed (recordKeys) has only
// those fields read and compared. The rows are written by the gateway's SqliteKv in the
// transaction of the batch that stores the change (BatchRows): no transaction of their own.
//
// Retention: rows older than the retention (lichen gateway --history-days) are deleted by the
// daemon's maintenance, so the table is compacted by age.
//
// Reading (readHistory) goes through any connection, read-only included: `lichen history` reads
// the file while the gateway runs, as SQLite's WAL allows. Node only.

import type BetterSqlite3 from "better-sqlite3";
import { LichenError } from "../../src/core/errors.js";
import { type BatchRows, RowWriter, type SqliteKv } from "../../src/store/sqlite.js";
import { jsonText } from "./report.js";

export const HISTORY_TABLE = "lichen_history";
/** The rows of the last minute or so, not yet in lichen_history: appended, no index. */
const RECENT_TABLE = "lichen_history_recent";
/** Both, for SQL: every row. */
const HISTORY_VIEW = "lichen_history_all";

/**
 * Staged rows move into lichen_history, sorted by document, once the oldest is this old (in the
 * rows' own time) or there are this many. lichen_history's (doc, t) index puts each document's
 * rows apart: rows written as they come (one per document per group) dirty one index page per
 * row, and its cost grows with the table (measured: 7 µs a row at 40,000 rows, 49 µs at 400,000);
 * moved a minute's worth at a time, a document's rows share their page.
 */
export const HISTORY_MERGE_MS = 60_000;
const HISTORY_MERGE_ROWS = 250_000;

// No index on t: lichen_history's rows come in time order (a minute at a time), so pruning finds
// the old ones by rowid (an index more would cost every row; a file made before had one, dropped).
const CREATE = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
CREATE INDEX IF NOT EXISTS ${HISTORY_TABLE}_doc_t ON ${HISTORY_TABLE} (doc, t);
DROP INDEX IF EXISTS ${HISTORY_TABLE}_t;
CREATE TABLE IF NOT EXISTS ${RECENT_TABLE} (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
CREATE VIEW IF NOT EXISTS ${HISTORY_VIEW} AS SELECT t, doc, field, value FROM ${HISTORY_TABLE} UNION ALL SELECT t, doc, field, value FROM ${RECENT_TABLE}`;

const MERGE = `INSERT INTO ${HISTORY_TABLE} (t, doc, field, value) SELECT t, doc, field, value FROM ${RECENT_TABLE} ORDER BY doc, t, rowid`;

/** A document's value as fields → JSON text: the top-level keys of an object, else one field "value". */
export function flatten(value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out.set(k, jsonText(v));
  } else out.set("value", jsonText(value));
  return out;
}

export interface HistoryRow {
  t: number;
  doc: string;
  field: string;
  /** The value (parsed from its JSON text); null when the field was removed. */
  value: unknown;
}

/** A document as the recorder reads it (a Crdt). */
export interface HistorySource {
  valueAt(key: string): unknown;
  value(): unknown;
}

/** The staged rows (RECENT_TABLE): how many, the least t (undefined: none). */
interface Staged {
  rows: number;
  since: number | undefined;
}

/**
 * Records changes into lichen_history, in the gateway's SqliteKv: the rows of a change wait for
 * the next batch (the one storing the change's state) and are written in its transaction.
 */
export class HistoryRecorder implements BatchRows {
  private readonly last = new Map<string, Map<string, string>>();
  /** Rows not yet stored, flat: t, doc, field, value (JSON text, or null: removed), row after row. */
  private pending: unknown[] = [];
  /** How many values of `pending` the batch being written holds. */
  private writing = 0;
  private rows: RowWriter | undefined;
  /** `stage` in a savepoint of the batch's transaction (made at the first write). */
  private savepoint: (() => Staged) | undefined;
  /** The staged rows (RECENT_TABLE) as stored. */
  private staged: Staged;
  /** What `staged` becomes if the batch being written commits. */
  private stagedAfter: Staged | undefined;

  /** `onError`: a write of history rows failed; they are dropped, the batch (the states) goes on. */
  constructor(
    private readonly kv: SqliteKv,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    this.staged = kv.transaction(`create ${HISTORY_TABLE}`, (db) => {
      db.exec(CREATE);
      return readStaged(db);
    });
    kv.addBatchRows(this);
  }

  /** What the document holds now, without recording it (at start: a restart is not a change). */
  know(doc: string, value: unknown): void {
    this.last.set(doc, flatten(value));
  }

  /** Records the fields of `doc` that differ from what was last seen (written with the next batch); returns how many. */
  record(doc: string, value: unknown, t: number): number {
    const now = flatten(value);
    const before = this.last.get(doc) ?? new Map<string, string>();
    let n = 0;
    for (const [field, text] of now) {
      if (before.get(field) === text) continue;
      this.pending.push(t, doc, field, text);
      n++;
    }
    for (const field of before.keys()) {
      if (now.has(field)) continue;
      this.pending.push(t, doc, field, null);
      n++;
    }
    this.last.set(doc, now);
    return n;
  }

  /**
   * Records the fields `keys` of `doc` that differ from what was last seen (undefined: removed),
   * read from `source`; without keys, the whole value. Written with the next batch. Returns how many.
   */
  recordKeys(doc: string, keys: readonly string[] | undefined, source: HistorySource, t: number): number {
    const before = this.last.get(doc);
    if (keys === undefined || before === undefined) return this.record(doc, source.value(), t);
    let n = 0;
    for (const field of keys) {
      const v = source.valueAt(field);
      const text = v === undefined ? undefined : jsonText(v);
      if (before.get(field) === text) continue;
      if (text === undefined) before.delete(field);
      else before.set(field, text);
      this.pending.push(t, doc, field, text ?? null);
      n++;
    }
    return n;
  }

  /** BatchRows: the pending rows staged, and the staged rows moved if due, in the batch's transaction. */
  write(db: BetterSqlite3.Database): void {
    this.writing = this.pending.length;
    this.stagedAfter = undefined;
    if (this.writing === 0) return;
    try {
      // a savepoint: a failure here undoes these rows only; the history is a record, not the truth.
      // Made once: better-sqlite3's transaction() builds four wrapper functions at each call
      // (measured: about 35 µs, a tenth of a one-key delta's own work).
      this.savepoint ??= db.transaction(() => this.stage(db));
      this.stagedAfter = this.savepoint();
    } catch (e) {
      this.rows?.clear();
      this.onError(e); // dropped with the batch's commit (stored), else retried with the next batch
    }
  }

  /** Inside write's savepoint: the rows of the batch staged; what `staged` becomes once it commits. */
  private stage(db: BetterSqlite3.Database): Staged {
    const rows = (this.rows ??= new RowWriter(db, `INSERT INTO ${RECENT_TABLE} (t, doc, field, value)`, "(?, ?, ?, ?)", ""));
    let since = this.staged.since;
    let newest = -Infinity;
    for (let i = 0; i < this.writing; i += 4) {
      const t = this.pending[i] as number;
      if (since === undefined || t < since) since = t;
      if (t > newest) newest = t;
      rows.args.push(t, this.pending[i + 1], this.pending[i + 2], this.pending[i + 3]);
      rows.endRow();
    }
    rows.flush();
    const after = { rows: this.staged.rows + this.writing / 4, since };
    return newest - since! >= HISTORY_MERGE_MS || after.rows >= HISTORY_MERGE_ROWS ? mergeStaged(db) : after;
  }

  /** BatchRows: the batch committed. */
  stored(): void {
    this.pending.splice(0, this.writing);
    this.writing = 0;
    if (this.stagedAfter !== undefined) this.staged = this.stagedAfter;
    this.stagedAfter = undefined;
  }

  /** Moves the staged rows into lichen_history now, whatever their age (tests, tools); returns how many. */
  merge(): number {
    const n = this.staged.rows;
    this.staged = this.kv.transaction(`merge ${RECENT_TABLE}`, (db) => mergeStaged(db));
    return n;
  }

  /**
   * Deletes the rows older than `beforeMs`; returns how many. lichen_history's rows come as time
   * goes on, so the old ones are the first rowids: bisected, then deleted up to there. A clock
   * stepped back leaves rows out of order: `t < ?` keeps any newer one among them, and later
   * prunes take the older ones that a bisection stopped short of. (The staged rows are a minute's:
   * a plain scan.)
   */
  prune(beforeMs: number): number {
    const { deleted, staged } = this.kv.transaction(`prune ${HISTORY_TABLE}`, (db) => {
      let deleted = db.prepare(`DELETE FROM ${RECENT_TABLE} WHERE t < ?`).run(beforeMs).changes;
      const staged = readStaged(db);
      const tFrom = db.prepare(`SELECT rowid, t FROM ${HISTORY_TABLE} WHERE rowid >= ? ORDER BY rowid LIMIT 1`);
      const first = tFrom.get(0) as { rowid: number; t: number } | undefined;
      if (first !== undefined && first.t < beforeMs) {
        // the greatest rowid known to start a row older than beforeMs
        let lo = first.rowid;
        let hi = db.prepare(`SELECT max(rowid) FROM ${HISTORY_TABLE}`).pluck().get() as number;
        while (lo < hi) {
          const mid = lo + Math.ceil((hi - lo) / 2);
          const row = tFrom.get(mid) as { rowid: number; t: number };
          if (row.t < beforeMs) lo = row.rowid;
          else hi = mid - 1;
        }
        deleted += db.prepare(`DELETE FROM ${HISTORY_TABLE} WHERE rowid <= ? AND t < ?`).run(lo, beforeMs).changes;
      }
      return { deleted, staged };
    });
    this.staged = staged;
    return deleted;
  }
}

/** The staged rows as the file holds them. */
function readStaged(db: BetterSqlite3.Database): Staged {
  const r = db.prepare(`SELECT count(*) AS rows, min(t) AS since FROM ${RECENT_TABLE}`).get() as { rows: number; since: number | null };
  return { rows: r.rows, since: r.since ?? undefined };
}

/** The staged rows moved into lichen_history, each document's together (see HISTORY_MERGE_MS); the staged rows after: none. */
function mergeStaged(db: BetterSqlite3.Database): Staged {
  db.prepare(MERGE).run();
  db.prepare(`DELETE FROM ${RECENT_TABLE}`).run();
  return { rows: 0, since: undefined };
}

export interface HistoryQuery {
  /** Only rows at or after this wall-clock ms. */
  since?: number;
  /** Only these fields. */
  fields?: readonly string[];
  /** At most this many rows, the most recent (default: all). */
  limit?: number;
}

/** Whether the file has a history table (a database written before it, or by the CLI only, has none). */
export function hasHistory(sql: BetterSqlite3.Database): boolean {
  return tableExists(sql, HISTORY_TABLE);
}

function tableExists(sql: BetterSqlite3.Database, name: string): boolean {
  return sql.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name) !== undefined;
}

/** The tables that hold history rows in this file: lichen_history, and the staged rows if it has them (a file from before has not). */
function historyTables(sql: BetterSqlite3.Database): string[] {
  if (!hasHistory(sql)) return [];
  return tableExists(sql, RECENT_TABLE) ? [HISTORY_TABLE, RECENT_TABLE] : [HISTORY_TABLE];
}

/**
 * The history of one document, oldest first (the staged rows included). A row whose value is not
 * JSON (a damaged row) is skipped and counted in `damaged`, never an abort.
 */
export function readHistory(sql: BetterSqlite3.Database, doc: string, q: HistoryQuery = {}): { rows: HistoryRow[]; damaged: number } {
  const tables = historyTables(sql);
  if (tables.length === 0) return { rows: [], damaged: 0 };
  const where = ["doc = ?"];
  const args: unknown[] = [doc];
  if (q.since !== undefined) {
    where.push("t >= ?");
    args.push(q.since);
  }
  if (q.fields !== undefined && q.fields.length > 0) {
    where.push(`field IN (${q.fields.map(() => "?").join(", ")})`);
    args.push(...q.fields);
  }
  const limit = q.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(q.limit))}`;
  // in time order; rows of one time in the order they were recorded (the staged ones are later)
  const order = q.limit === undefined ? "ORDER BY t, part, seq" : "ORDER BY t DESC, part DESC, seq DESC";
  const union = tables.map((table, part) => `SELECT t, field, value, ${part} AS part, rowid AS seq FROM ${table} WHERE ${where.join(" AND ")}`).join(" UNION ALL ");
  let raw: Array<{ t: unknown; field: unknown; value: unknown }>;
  try {
    raw = sql.prepare(`SELECT t, field, value FROM (${union}) ${order}${limit}`).all(...tables.flatMap(() => args)) as typeof raw;
  } catch (e) {
    throw new LichenError("STORAGE", `cannot read ${HISTORY_TABLE}: ${(e as Error).message}`);
  }
  if (q.limit !== undefined) raw.reverse();
  const rows: HistoryRow[] = [];
  let damaged = 0;
  for (const r of raw) {
    if (typeof r.t !== "number" || typeof r.field !== "string" || (r.value !== null && typeof r.value !== "string")) {
      damaged++;
      continue;
    }
    let value: unknown = null;
    if (r.value !== null) {
      try {
        value = JSON.parse(r.value as string);
      } catch {
        damaged++;
        continue;
      }
    }
    rows.push({ t: r.t, doc, field: r.field, value });
  }
  return { rows, damaged };
}

/** The documents that have history, sorted. */
export function historyDocs(sql: BetterSqlite3.Database): string[] {
  const tables = historyTables(sql);
  if (tables.length === 0) return [];
  return sql.prepare(`${tables.map((t) => `SELECT DISTINCT doc FROM ${t}`).join(" UNION ")} ORDER BY doc`).pluck().all() as string[];
}

/**
 * The rows as a table: one row per time, one column per field, each field carrying its last
 * value forward (a change row says what changed; the table says what held at that time).
 */
export function pivot(rows: readonly HistoryRow[], fields?: readonly string[]): { columns: string[]; records: Array<{ t: number; values: unknown[] }> } {
  const columns = fields !== undefined && fields.length > 0 ? [...fields] : [...new Set(rows.map((r) => r.field))].sort();
  const index = new Map(columns.map((c, i) => [c, i]));
  const current: unknown[] = columns.map(() => null);
  const records: Array<{ t: number; values: unknown[] }> = [];
  for (const r of rows) {
    const i = index.get(r.field);
    if (i === undefined) continue;
    current[i] = r.value;
    const lastRecord = records[records.length - 1];
    if (lastRecord !== undefined && lastRecord.t === r.t) lastRecord.values[i] = r.value;
    else records.push({ t: r.t, values: current.slice() });
  }
  return { columns, records };
}
