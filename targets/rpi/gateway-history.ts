// Each document's values over time, in the gateway's SQLite file: the table lichen_history.
//
//   lichen_history(t INTEGER, doc TEXT, field TEXT, value TEXT)
//     t      wall-clock ms at which the gateway stored the change
//     doc    "namespace/id"
//     field  a top-level key of the document's value (an LWWMap's key), or "value" for a
//            document whose value is not an object (a counter, a register)
//     value  the field's new value as JSON text; NULL: the field was removed
//
// One row per field that changed, never the whole value: a node writing temp, hum and battery
// every second where only temp moved adds one small row. The recorder keeps each document's last
// flattened value in memory (read from the states when the gateway starts, so a restart records
// nothing by itself) and compares. A delta that says which keys it changed (recordKeys) has only
// those fields read and compared, and its rows wait for `flush`: one transaction per group of
// deltas the gateway stored together.
//
// Retention: rows older than the retention (lichen gateway --history-days) are deleted by the
// daemon's maintenance, so the table is compacted by age.
//
// Reading (readHistory) goes through any connection, read-only included: `lichen history` reads
// the file while the gateway runs, as SQLite's WAL allows. Node only.

import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { LichenError } from "../../src/core/errors.js";
import { jsonText } from "./report.js";

export const HISTORY_TABLE = "lichen_history";

const CREATE = `CREATE TABLE IF NOT EXISTS ${HISTORY_TABLE} (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
CREATE INDEX IF NOT EXISTS ${HISTORY_TABLE}_doc_t ON ${HISTORY_TABLE} (doc, t);
CREATE INDEX IF NOT EXISTS ${HISTORY_TABLE}_t ON ${HISTORY_TABLE} (t)`;

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

/** Records changes into lichen_history through a writable connection (the daemon's). */
export class HistoryRecorder {
  private readonly last = new Map<string, Map<string, string>>();
  private readonly insert: BetterSqlite3.Statement;
  private readonly pruneOld: BetterSqlite3.Statement;
  private readonly insertAll: (rows: Array<[number, string, string, string | null]>) => void;
  /** Rows of recordKeys, written by flush. */
  private pending: Array<[number, string, string, string | null]> = [];

  constructor(private readonly sql: BetterSqlite3.Database) {
    sql.exec(CREATE);
    this.insert = sql.prepare(`INSERT INTO ${HISTORY_TABLE} (t, doc, field, value) VALUES (?, ?, ?, ?)`);
    this.pruneOld = sql.prepare(`DELETE FROM ${HISTORY_TABLE} WHERE t < ?`);
    this.insertAll = sql.transaction((rows: Array<[number, string, string, string | null]>) => {
      for (const r of rows) this.insert.run(...r);
    });
  }

  /** What the document holds now, without recording it (at start: a restart is not a change). */
  know(doc: string, value: unknown): void {
    this.last.set(doc, flatten(value));
  }

  /** Records the fields of `doc` that differ from what was last seen; returns the rows written. */
  record(doc: string, value: unknown, t: number): number {
    const now = flatten(value);
    const rows = this.changedRows(doc, this.last.get(doc) ?? new Map<string, string>(), now, t);
    this.last.set(doc, now);
    if (rows.length > 0) this.insertAll(rows);
    return rows.length;
  }

  /**
   * Records the fields `keys` of `doc` that differ from what was last seen, reading each with
   * `valueAt` (undefined: removed); without keys, the whole `value()`. The rows are written by
   * the next flush. Returns how many.
   */
  recordKeys(doc: string, keys: readonly string[] | undefined, valueAt: (key: string) => unknown, value: () => unknown, t: number): number {
    const before = this.last.get(doc);
    if (keys === undefined || before === undefined) {
      const now = flatten(value());
      const rows = this.changedRows(doc, before ?? new Map<string, string>(), now, t);
      this.last.set(doc, now);
      for (const r of rows) this.pending.push(r);
      return rows.length;
    }
    let n = 0;
    for (const field of keys) {
      const v = valueAt(field);
      const text = v === undefined ? undefined : jsonText(v);
      if (before.get(field) === text) continue;
      if (text === undefined) before.delete(field);
      else before.set(field, text);
      this.pending.push([t, doc, field, text ?? null]);
      n++;
    }
    return n;
  }

  /** Writes the rows recordKeys gathered, in one transaction. */
  flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    this.insertAll(rows);
  }

  private changedRows(doc: string, before: Map<string, string>, now: Map<string, string>, t: number): Array<[number, string, string, string | null]> {
    const rows: Array<[number, string, string, string | null]> = [];
    for (const [field, text] of now) if (before.get(field) !== text) rows.push([t, doc, field, text]);
    for (const field of before.keys()) if (!now.has(field)) rows.push([t, doc, field, null]);
    return rows;
  }

  /** Deletes the rows older than `beforeMs`; returns how many. */
  prune(beforeMs: number): number {
    return this.pruneOld.run(beforeMs).changes;
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

/** A writable connection of the daemon's own to the gateway's file, for the history (WAL: beside SqliteKv's). */
export function openHistoryConnection(path: string): BetterSqlite3.Database {
  const Driver = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  const sql = new Driver(path, { timeout: 5000, fileMustExist: true });
  sql.pragma("journal_mode = WAL");
  sql.pragma("synchronous = NORMAL"); // history is a record, not the truth: a power cut may lose its last rows
  return sql;
}
