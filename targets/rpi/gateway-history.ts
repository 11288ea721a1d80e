// Each document's values over time, in the gateway's SQLite file: the table lichen_history.
//
//   lichen_history(t INTEGER, doc TEXT, field TEXT, value TEXT)
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

// No index on t: the rows are appended in time order, so pruning finds the old ones by rowid (an
// index more would cost every row written; a file made before kept one, dropped here).
const CREATE = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
CREATE INDEX IF NOT EXISTS ${HISTORY_TABLE}_doc_t ON ${HISTORY_TABLE} (doc, t);
DROP INDEX IF EXISTS ${HISTORY_TABLE}_t`;

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

  /** `onError`: a write of history rows failed; they are dropped, the batch (the states) goes on. */
  constructor(
    private readonly kv: SqliteKv,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    kv.transaction(`create ${HISTORY_TABLE}`, (db) => db.exec(CREATE));
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

  /** BatchRows: the pending rows, in the batch's transaction. */
  write(db: BetterSqlite3.Database): void {
    this.writing = this.pending.length;
    if (this.writing === 0) return;
    const rows = (this.rows ??= new RowWriter(db, `INSERT INTO ${HISTORY_TABLE} (t, doc, field, value)`, "(?, ?, ?, ?)", ""));
    try {
      // a savepoint: a failure here undoes these rows only; the history is a record, not the truth
      db.transaction(() => {
        for (let i = 0; i < this.writing; i += 4) {
          rows.args.push(this.pending[i], this.pending[i + 1], this.pending[i + 2], this.pending[i + 3]);
          rows.endRow();
        }
        rows.flush();
      })();
    } catch (e) {
      rows.clear();
      this.onError(e); // dropped with the batch's commit (stored), else retried with the next batch
    }
  }

  /** BatchRows: the batch committed. */
  stored(): void {
    this.pending.splice(0, this.writing);
    this.writing = 0;
  }

  /**
   * Deletes the rows older than `beforeMs`; returns how many. The rows are appended as time goes
   * on, so the old ones are the first rowids: bisected, then deleted up to there. A clock stepped
   * back leaves rows out of order: `t < ?` keeps any newer one among them, and later prunes take
   * the older ones that a bisection stopped short of.
   */
  prune(beforeMs: number): number {
    return this.kv.transaction(`prune ${HISTORY_TABLE}`, (db) => {
      const tFrom = db.prepare(`SELECT rowid, t FROM ${HISTORY_TABLE} WHERE rowid >= ? ORDER BY rowid LIMIT 1`);
      const first = tFrom.get(0) as { rowid: number; t: number } | undefined;
      if (first === undefined || !(first.t < beforeMs)) return 0;
      // the greatest rowid known to start a row older than beforeMs
      let lo = first.rowid;
      let hi = db.prepare(`SELECT max(rowid) FROM ${HISTORY_TABLE}`).pluck().get() as number;
      while (lo < hi) {
        const mid = lo + Math.ceil((hi - lo) / 2);
        const row = tFrom.get(mid) as { rowid: number; t: number };
        if (row.t < beforeMs) lo = row.rowid;
        else hi = mid - 1;
      }
      return db.prepare(`DELETE FROM ${HISTORY_TABLE} WHERE rowid <= ? AND t < ?`).run(lo, beforeMs).changes;
    });
  }
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
  return sql.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(HISTORY_TABLE) !== undefined;
}

/**
 * The history of one document, oldest first. A row whose value is not JSON (a damaged row) is
 * skipped and counted in `damaged`, never an abort.
 */
export function readHistory(sql: BetterSqlite3.Database, doc: string, q: HistoryQuery = {}): { rows: HistoryRow[]; damaged: number } {
  if (!hasHistory(sql)) return { rows: [], damaged: 0 };
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
  const order = q.limit === undefined ? "ORDER BY t, rowid" : "ORDER BY t DESC, rowid DESC";
  let raw: Array<{ t: unknown; field: unknown; value: unknown }>;
  try {
    raw = sql.prepare(`SELECT t, field, value FROM ${HISTORY_TABLE} WHERE ${where.join(" AND ")} ${order}${limit}`).all(...args) as typeof raw;
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
  if (!hasHistory(sql)) return [];
  return sql.prepare(`SELECT DISTINCT doc FROM ${HISTORY_TABLE} ORDER BY doc`).pluck().all() as string[];
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
