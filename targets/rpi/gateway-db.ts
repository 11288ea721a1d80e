// The gateway's storage: one SQLite file (SqliteKv, WAL) holding, in the key layout of
// src/store/keys.ts,
//
//   CRDT states (StateStore), mirrored into lichen_entities / lichen_changes
//   CrdtDb entities in versioned envelopes [format, type, schemaVersion, value]
//   one event log per namespace (EventStore named after the namespace): every delta a peer sent
//     that was applied, as CBOR [id, deltaBytes]; after compaction, the log's snapshot: CBOR
//     [[id, stateBytes], ...] (the namespace's states, sorted by id) at the last compacted seq
//   the replica clock's reservation (openClock)
//
// Node only (it imports better-sqlite3 through SqliteKv). Used by the CLI (cli.ts) and meant for
// the gateway daemon and the dashboard.
//
// Decisions:
// - Opening never creates or alters a file unless asked (`create: true`, for the daemon): the
//   CLI must not turn a mistyped path into a new empty database; and nothing, `create` included,
//   adds lichen's tables to some other application's SQLite file (one with tables of its own). So the file is checked first: it exists, it is a regular
//   file, it starts with the SQLite header, and (through a read-only connection) it holds
//   lichen_meta. Each failure is a LichenError naming the path: STORAGE for a missing or
//   unreadable path, CORRUPT for a file that is not a (lichen) SQLite database.
// - The read-only connection (`sql`) stays open for SQL reads of the mirror and of lichen_meta
//   (schema_version); lichen's own reads and writes go through `kv`. With `readOnly: true`, `kv`
//   is a SqliteKv opened read-only too (the CLI's status, inspect and export: no write lock
//   taken, nothing written, and a user who may only read the file can run them).
// - The daemon logs each applied delta with `appliedOp`: its put goes into the batch that stores
//   the state (SyncEngine's logApplied), so the state and its log entry commit together, with
//   one fsync for a whole group of deltas. `recordApplied` appends on its own (one write).

import { createRequire } from "node:module";
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { cborEncodeFlat } from "../../src/core/cbor.js";
import { decodeCbor, encodeCbor } from "../../src/core/codec.js";
import { invalidArgument, LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { splitDocKey } from "../../src/core/names.js";
import { loadCrdt } from "../../src/core/registry.js";
import { EventStore } from "../../src/store/event-store.js";
import type { KvOp } from "../../src/store/kv.js";
import { SqliteKv, storageError, type SqliteKvOptions } from "../../src/store/sqlite.js";
import { StateStore } from "../../src/store/state-store.js";

const SQLITE_HEADER = "SQLite format 3\u0000";

export interface GatewayDbOptions extends SqliteKvOptions {
  /** Create the file (and lichen's tables) if missing: for the daemon. Default false: the file must be a lichen database. */
  create?: boolean;
  /**
   * Open through a read-only connection only: nothing is written, no write lock is taken, and a
   * user who may only read the file can still read it (`lichen status`, `inspect`, `export`).
   * Writes (put, batch, save, append, compact) fail with STORAGE.
   */
  readOnly?: boolean;
  /** The clock that stamps recordApplied events when no timestamp is given (the daemon passes its replica's clock). Default: a fresh Hlc. */
  clock?: Hlc;
}

/** One entry of a namespace's event log, decoded: the entity and the delta a peer sent for it. */
export interface AppliedEvent {
  readonly id: string;
  readonly delta: Uint8Array;
}

/** The KvStore of a gateway database: a SqliteKv, opened read-only with `readOnly`. */
export type GatewayKv = SqliteKv;

export interface GatewayDb {
  /** The file's absolute path. */
  readonly path: string;
  /** A SqliteKv (give it to SyncEngine); with `readOnly`, one that only reads. */
  readonly kv: GatewayKv;
  readonly readOnly: boolean;
  /** CRDT states, write-through. */
  readonly states: StateStore;
  /** A read-only connection to the same file, for SQL over the mirror tables and lichen_meta. */
  readonly sql: BetterSqlite3.Database;
  /** The event log of a namespace (one EventStore per namespace, cached: use this one in this process). */
  events(ns: string): EventStore;
  /** Namespaces that have an event log (events or a snapshot), sorted. */
  logs(): string[];
  /**
   * Appends `[id, delta]` to the log of the doc's namespace ("ns/id"), with `peer` as the node.
   * Bound: pass it as SyncEngine's `onApplied`. Returns the event's seq.
   */
  recordApplied(peer: string, doc: string, delta: Uint8Array, ts?: number): number;
  /**
   * The same event as a put, for the batch that stores the state the delta changed (the
   * gateway's write path: SyncEngine's `logApplied`): the state and its log entry in one
   * transaction. Its seq is taken now.
   */
  appliedOp(peer: string, doc: string, delta: Uint8Array, ts?: number): KvOp;
  /**
   * Compacts a namespace's log if it holds more than `threshold` events: a snapshot of the
   * namespace's current states (CBOR [[id, stateBytes], ...]) at the last seq, and the events up
   * to it dropped, in one atomic batch (EventStore.compact). Every state is checked to load
   * first: a corrupt one aborts (CORRUPT naming it) and nothing is dropped.
   *
   * Safe beside a running daemon: the last seq is read before the states, and the daemon stores
   * a state before it logs the delta, so the states read hold every event up to that seq
   * (possibly more, which a CRDT state absorbs). Events appended meanwhile are kept.
   */
  compact(ns: string, options?: CompactOptions): CompactResult;
  /** lichen_meta.schema_version of the file. */
  schemaVersion(): number;
  close(): void;
}

type DatabaseConstructor = typeof BetterSqlite3;

function loadDriver(): DatabaseConstructor {
  const require = createRequire(import.meta.url);
  return require("better-sqlite3") as DatabaseConstructor;
}

function driverError(e: unknown, path: string, doing: string): LichenError {
  if (e instanceof LichenError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_READONLY_DIRECTORY") return storageError(e, path, doing);
  if (code === "SQLITE_NOTADB" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT"))) {
    return new LichenError("CORRUPT", `${path}: ${doing}: not a readable SQLite database (${msg})`);
  }
  return new LichenError("STORAGE", `${path}: ${doing}: ${msg}${typeof code === "string" ? ` (${code})` : ""}`);
}

/** Checks that `path` is an existing SQLite file; returns false if it is missing or empty (and `create` allows that). */
function checkFile(path: string, create: boolean): boolean {
  if (!existsSync(path)) {
    if (create) return false;
    throw new LichenError("STORAGE", `${path}: no such file`);
  }
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new LichenError("STORAGE", `${path}: is a directory, not a database file`);
    if (!st.isFile()) throw new LichenError("STORAGE", `${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof LichenError) throw e;
    throw new LichenError("STORAGE", `${path}: cannot read: ${(e as Error).message}`);
  }
  if (size === 0) {
    if (create) return false;
    throw new LichenError("CORRUPT", `${path}: empty file, not a lichen database`);
  }
  const head = Buffer.alloc(16);
  let n = 0;
  try {
    const fd = openSync(path, "r");
    try {
      n = readSync(fd, head, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new LichenError("STORAGE", `${path}: cannot read: ${(e as Error).message}`);
  }
  if (n < 16 || head.toString("latin1") !== SQLITE_HEADER) {
    throw new LichenError("CORRUPT", `${path}: not a SQLite database (no SQLite header)`);
  }
  return true;
}

function openReadOnly(path: string): BetterSqlite3.Database {
  const Driver = loadDriver();
  try {
    return new Driver(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw driverError(e, path, "cannot open the database");
  }
}

/** "lichen": lichen's tables are there; "empty": a SQLite file without any table; "other": someone else's database. */
function whoseDatabase(sql: BetterSqlite3.Database, path: string): "lichen" | "empty" | "other" {
  try {
    if (sql.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lichen_meta'").pluck().get() !== undefined) return "lichen";
    return sql.prepare("SELECT count(*) FROM sqlite_master").pluck().get() === 0 ? "empty" : "other";
  } catch (e) {
    throw driverError(e, path, "cannot read the schema");
  }
}

/** The fields of a recordApplied event's data. */
function appliedEventFields(id: string, delta: Uint8Array): [string, Uint8Array] {
  return [id, delta];
}

/** The data of a recordApplied event: CBOR [id, delta]. */
export function encodeAppliedEvent(id: string, delta: Uint8Array): Uint8Array {
  return cborEncodeFlat(appliedEventFields(id, delta)); // encodeCbor's bytes, without its walk: written per delta
}

/** Reads the data of a recordApplied event; CORRUPT if it is not [id, delta]. */
export function decodeAppliedEvent(data: Uint8Array, where = "event"): AppliedEvent {
  let r: unknown;
  try {
    r = decodeCbor(data);
  } catch {
    r = undefined;
  }
  if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== "string" || !(r[1] instanceof Uint8Array)) {
    throw new LichenError("CORRUPT", `${where}: its data is not [id, delta]`);
  }
  return { id: r[0], delta: r[1] };
}

/** A compaction snapshot: CBOR [[id, stateBytes], ...], sorted by id. */
export function encodeNamespaceSnapshot(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const sorted = [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return encodeCbor(sorted.map(([id, bytes]) => [id, bytes]));
}

/** Reads a compaction snapshot back; CORRUPT if it is not [[id, stateBytes], ...]. */
export function decodeNamespaceSnapshot(state: Uint8Array, where = "snapshot"): Array<[string, Uint8Array]> {
  let r: unknown;
  try {
    r = decodeCbor(state);
  } catch {
    r = undefined;
  }
  if (!Array.isArray(r)) throw new LichenError("CORRUPT", `${where} is not [[id, state], ...]`);
  return r.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || !(e[1] instanceof Uint8Array)) {
      throw new LichenError("CORRUPT", `${where}: entry ${i} is not [id, state]`);
    }
    return [e[0], e[1]] as [string, Uint8Array];
  });
}

export interface CompactResult {
  readonly namespace: string;
  /** Events stored before. */
  readonly events: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** False: at or under the threshold (or empty), left as it was. */
  readonly compacted: boolean;
  /** Events dropped (0 if not compacted). */
  readonly dropped: number;
  /** The snapshot written: its seq, size and entity count (undefined if not compacted). */
  readonly snapshot?: { readonly seq: number; readonly bytes: number; readonly entities: number };
}

export interface CompactOptions {
  /** Compact only a log of more than this many events (default 1000; 0: any non-empty log). */
  threshold?: number;
  /** Report what would be dropped, change nothing. */
  dryRun?: boolean;
  /** Called once per state read into the snapshot (for a progress bar). */
  onEntity?: () => void;
}

export const DEFAULT_COMPACT_THRESHOLD = 1000;

/**
 * Opens the gateway's database. The file must exist and be a lichen SQLite database unless
 * `create` is set. Errors are LichenErrors naming the path: STORAGE (missing, a directory,
 * unreadable), CORRUPT (not SQLite, damaged, or a SQLite file without lichen's tables),
 * UNSUPPORTED_VERSION (written by a newer lichen).
 */
export function openGatewayDb(path: string, options: GatewayDbOptions = {}): GatewayDb {
  if (typeof path !== "string" || path.length === 0) throw invalidArgument("a database path is a non-empty string");
  const abs = resolve(path);
  const { create = false, readOnly = false, clock: givenClock, ...kvOptions } = options;
  if (create && readOnly) throw invalidArgument("a database opened read-only cannot be created");
  const exists = checkFile(abs, create);
  let sql: BetterSqlite3.Database | undefined;
  if (exists) {
    sql = openReadOnly(abs);
    let whose: ReturnType<typeof whoseDatabase>;
    try {
      whose = whoseDatabase(sql, abs);
    } catch (e) {
      sql.close();
      throw e;
    }
    // `create` makes lichen's tables in a new or empty file, never inside another program's database
    if (whose === "other" || (whose === "empty" && !create)) {
      sql.close();
      throw new LichenError("CORRUPT", `${abs}: a SQLite database, but not a lichen one (no lichen_meta table)`);
    }
  }
  let kv: GatewayKv;
  try {
    kv = SqliteKv.open(abs, { ...kvOptions, readOnly });
  } catch (e) {
    sql?.close();
    throw driverError(e, abs, "cannot open the database");
  }
  if (sql === undefined) {
    try {
      sql = openReadOnly(abs);
    } catch (e) {
      kv.close();
      throw e;
    }
  }
  const reader = sql;
  const states = new StateStore(kv);
  const logs = new Map<string, EventStore>();
  const clock = givenClock ?? new Hlc();
  let closed = false;

  const events = (ns: string): EventStore => {
    let log = logs.get(ns);
    if (log === undefined) {
      log = new EventStore(kv, ns);
      logs.set(ns, log);
    }
    return log;
  };

  const db: GatewayDb = {
    path: abs,
    kv,
    readOnly,
    states,
    sql: reader,
    events,
    logs: () => EventStore.logs(kv),
    recordApplied: (peer: string, doc: string, delta: Uint8Array, ts?: number): number => {
      const [ns, id] = splitDocKey(doc);
      if (!(delta instanceof Uint8Array)) throw invalidArgument("a delta is a Uint8Array");
      return events(ns).append(ts ?? clock.now(), peer, encodeAppliedEvent(id, delta));
    },
    appliedOp: (peer: string, doc: string, delta: Uint8Array, ts?: number): KvOp => {
      const [ns, id] = splitDocKey(doc);
      if (!(delta instanceof Uint8Array)) throw invalidArgument("a delta is a Uint8Array");
      return events(ns).appendFlatOp(ts ?? clock.now(), peer, appliedEventFields(id, delta)); // encodeAppliedEvent's data, written in place
    },
    compact: (ns: string, opts: CompactOptions = {}): CompactResult => {
      const threshold = opts.threshold ?? DEFAULT_COMPACT_THRESHOLD;
      if (!(Number.isSafeInteger(threshold) && threshold >= 0)) throw invalidArgument("the threshold is a non-negative integer");
      const log = new EventStore(kv, ns); // read as it is now, whoever appended to it
      const seq = log.lastSeq; // before the states: see above
      const stored = log.count();
      const base = { namespace: ns, events: stored, firstSeq: log.firstSeq, lastSeq: seq };
      if (stored === 0 || stored <= threshold) return { ...base, compacted: false, dropped: 0 };
      const entries: Array<[string, Uint8Array]> = [];
      for (const id of states.list(ns)) {
        const bytes = states.storedBytes(ns, id);
        if (bytes === undefined) continue; // deleted meanwhile
        try {
          loadCrdt(bytes);
        } catch (e) {
          throw new LichenError("CORRUPT", `${ns}/${id}: the stored state is unreadable (${(e as Error).message}); nothing was compacted in ${ns}`);
        }
        entries.push([id, bytes]);
        opts.onEntity?.();
      }
      const snap = encodeNamespaceSnapshot(entries);
      let dropped: number;
      if (opts.dryRun) dropped = log.count(seq);
      else {
        dropped = log.compact(seq, snap);
        logs.set(ns, log); // the cached log now knows its new first seq
      }
      return { ...base, compacted: true, dropped, snapshot: { seq, bytes: snap.length, entities: entries.length } };
    },
    schemaVersion: (): number => {
      try {
        const v = reader.prepare("SELECT value FROM lichen_meta WHERE name = 'schema_version'").pluck().get();
        if (typeof v !== "number") throw new LichenError("CORRUPT", `${abs}: lichen_meta holds no schema_version`);
        return v;
      } catch (e) {
        throw driverError(e, abs, "cannot read lichen_meta");
      }
    },
    close: (): void => {
      if (closed) return;
      closed = true;
      try {
        reader.close();
      } finally {
        kv.close();
      }
    },
  };
  return db;
}
