// Read-only views of a gateway database, as plain JSON-able data: what `lichen status`,
// `lichen inspect` and `lichen export` print, and what the dashboard can serve as it is.
// Everything is read from lichen's own bytes (lichen_kv), the truth; the SQL mirror is only
// counted. Node only.

import { statSync } from "node:fs";
import { decodeCbor, FORMAT_VERSION, typeName } from "../../src/core/codec.js";
import { invalidArgument, LichenError } from "../../src/core/errors.js";
import type { Crdt } from "../../src/core/crdt.js";
import { timestampToMs } from "../../src/core/hlc.js";
import { checkNamespace, docKeyProblem, docParts, isPlainName } from "../../src/core/names.js";
import { loadCrdt } from "../../src/core/registry.js";
import { valueFromWire } from "../../src/core/value.js";
import { EventStore } from "../../src/store/event-store.js";
import { envelopeKey, envelopePrefix, eventPrefix, snapshotKey, stateKey, statePrefix, storedEnvelopes } from "../../src/store/keys.js";
import { SQLITE_SCHEMA_VERSION, toJsonText } from "../../src/store/sqlite.js";
import { decodeAppliedEvent, decodeNamespaceSnapshot, type GatewayDb } from "./gateway-db.js";

/** The envelope format CrdtDb writes (src/store/crdt-db.ts, ENVELOPE_FORMAT). */
export const KNOWN_ENVELOPE_FORMAT = 1;

/** A value as JSON text, exactly as the SQL mirror writes it (bytes as {"$bytes": hex}, keys in code-unit order). */
export function jsonText(value: unknown): string {
  return toJsonText(value) ?? "null";
}

/** An HLC timestamp as ISO 8601 (its wall-clock part). */
export function tsToIso(ts: number): string {
  const ms = timestampToMs(ts);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** The CrdtDb entities of the store as [type, id], sorted. */
export function envelopeKeys(db: GatewayDb, type?: string): Array<[string, string]> {
  return storedEnvelopes(db.kv, type);
}

// ---- status ----

export interface NamespaceStatus {
  namespace: string;
  entities: number;
  /** Entities per CRDT type name; "unreadable" counts states that do not decode. */
  types: { [type: string]: number };
  /** Payload format versions found in the states. */
  formats: number[];
}

export interface EnvelopeTypeStatus {
  type: string;
  entities: number;
  /** Entities per stored schema version; "unreadable" counts envelopes that do not decode. */
  schemaVersions: { [version: string]: number };
  /** Envelope formats found. */
  formats: number[];
}

export interface LogStatus {
  namespace: string;
  events: number;
  /** The oldest and newest stored seq (firstSeq > lastSeq: no events stored). */
  firstSeq: number;
  lastSeq: number;
  snapshot: { seq: number; bytes: number; entities: number | null } | null;
  /** Why the log could not be read (a damaged snapshot or event key), if it could not. */
  damaged?: string;
}

export interface StatusReport {
  path: string;
  fileBytes: number;
  walBytes: number;
  schemaVersion: number;
  /** What this code reads and writes. */
  known: { schemaVersion: number; payloadFormat: number; envelopeFormat: number };
  dbVersion: number;
  mirror: { entities: number; changes: number };
  namespaces: NamespaceStatus[];
  envelopes: EnvelopeTypeStatus[];
  logs: LogStatus[];
  /** Keys that are none of the above (the clock reservation, keys of other modules). */
  otherKeys: number;
  /** What could not be read: one line per damaged state, envelope or log (the rest is reported). */
  damaged: string[];
}

/** Counts what `status` reads: states and envelopes (one decode each). */
export function statusWork(db: GatewayDb): number {
  return db.kv.keys(statePrefix()).length + db.kv.keys(envelopePrefix()).length;
}

export function status(db: GatewayDb, onItem?: () => void): StatusReport {
  const damaged: string[] = [];
  const namespaces = new Map<string, NamespaceStatus>();
  for (const [ns, id] of db.states.all()) {
    let s = namespaces.get(ns);
    if (s === undefined) {
      s = { namespace: ns, entities: 0, types: {}, formats: [] };
      namespaces.set(ns, s);
    }
    s.entities++;
    let type = "unreadable";
    try {
      const bytes = db.states.storedBytes(ns, id); // with its tail, if any: CORRUPT if that is unreadable
      const top = bytes === undefined ? undefined : decodeCbor(bytes);
      if (Array.isArray(top) && typeof top[0] === "number" && typeof top[1] === "number") {
        type = typeName(top[1]);
        if (!s.formats.includes(top[0])) s.formats.push(top[0]);
      }
    } catch {
      // counted as unreadable
    }
    if (type === "unreadable") damaged.push(`state ${ns}/${id}: unreadable`);
    s.types[type] = (s.types[type] ?? 0) + 1;
    onItem?.();
  }

  const envelopes = new Map<string, EnvelopeTypeStatus>();
  for (const [type, id] of envelopeKeys(db)) {
    let s = envelopes.get(type);
    if (s === undefined) {
      s = { type, entities: 0, schemaVersions: {}, formats: [] };
      envelopes.set(type, s);
    }
    s.entities++;
    let version = "unreadable";
    try {
      const r = decodeCbor(db.kv.get(envelopeKey(type, id))!);
      if (Array.isArray(r) && r.length === 4 && typeof r[0] === "number" && Number.isSafeInteger(r[2])) {
        version = String(r[2]);
        if (!s.formats.includes(r[0])) s.formats.push(r[0]);
      }
    } catch {
      // counted as unreadable
    }
    if (version === "unreadable") damaged.push(`envelope ${type}/${id}: unreadable`);
    s.schemaVersions[version] = (s.schemaVersions[version] ?? 0) + 1;
    onItem?.();
  }

  const logs: LogStatus[] = [];
  let logKeys = 0;
  for (const ns of db.logs()) {
    const events = db.kv.keys(eventPrefix(ns)).length;
    logKeys += events;
    let log: EventStore;
    try {
      log = new EventStore(db.kv, ns);
    } catch (e) {
      // a damaged snapshot (or event key): the log is reported as such, the rest still is
      const message = e instanceof Error ? e.message : String(e);
      if (db.kv.get(snapshotKey(ns)) !== undefined) logKeys++;
      damaged.push(`log ${ns}: ${message}`);
      logs.push({ namespace: ns, events, firstSeq: 0, lastSeq: 0, snapshot: null, damaged: message });
      continue;
    }
    let snapshot: LogStatus["snapshot"] = null;
    const snap = log.snapshot();
    if (snap !== undefined) {
      logKeys++;
      let entities: number | null = null;
      try {
        entities = decodeNamespaceSnapshot(snap.state).length;
      } catch {
        entities = null; // not a namespace snapshot: written by someone else
      }
      snapshot = { seq: snap.seq, bytes: snap.state.length, entities };
    }
    logs.push({ namespace: ns, events, firstSeq: log.firstSeq, lastSeq: log.lastSeq, snapshot });
  }

  const mirror = {
    entities: db.sql.prepare("SELECT count(*) FROM lichen_entities").pluck().get() as number,
    changes: db.sql.prepare("SELECT count(*) FROM lichen_changes").pluck().get() as number,
  };
  const states = [...namespaces.values()].reduce((n, s) => n + s.entities, 0);
  const envs = [...envelopes.values()].reduce((n, s) => n + s.entities, 0);
  return {
    path: db.path,
    fileBytes: fileSize(db.path) ?? 0,
    walBytes: fileSize(`${db.path}-wal`) ?? 0,
    schemaVersion: db.schemaVersion(),
    known: { schemaVersion: SQLITE_SCHEMA_VERSION, payloadFormat: FORMAT_VERSION, envelopeFormat: KNOWN_ENVELOPE_FORMAT },
    dbVersion: db.kv.dbVersion(),
    mirror,
    namespaces: [...namespaces.values()],
    envelopes: [...envelopes.values()],
    logs,
    otherKeys: db.kv.keys().length - states - envs - logKeys,
    damaged,
  };
}

// ---- inspect ----

export interface EventInfo {
  seq: number;
  ts: number;
  /** The wall-clock part of the HLC timestamp, ISO 8601. */
  time: string;
  node: string;
  deltaBytes: number;
}

export interface EntityInfo {
  /** "ns/id" or "type/id" as asked. */
  entity: string;
  /** "state": a CRDT state (s/ns/id); "envelope": a CrdtDb entity (d/type/id). */
  kind: "state" | "envelope";
  key: string;
  namespace: string;
  id: string;
  /** The CRDT type name, or "Type@schemaVersion" for an envelope (as in the SQL mirror). */
  type: string;
  /** Stored bytes. */
  size: number;
  /** The current value, JSON-ready (bytes as {"$bytes": hex}). */
  value: unknown;
  /** The same as JSON text, exactly as in the SQL mirror's lichen_entities.value. */
  valueJson: string;
  /** The payload format (states) or envelope format. */
  format: number;
  /** States: the replica that saved it, and its version vector. */
  owner?: string;
  version?: { [replica: string]: number };
  /** Envelopes: the stored schema version (before any migration). */
  schemaVersion?: number;
  /** With events: the namespace's log, this entity's events in it, and the snapshot. */
  log?: {
    namespace: string;
    events: number;
    firstSeq: number;
    lastSeq: number;
    entityEvents: EventInfo[];
    /** How many events of the log are this entity's (entityEvents may list only the last ones). */
    entityEventCount: number;
    /** Events of the log that are not [id, delta], or not readable at all. */
    unreadable: number;
    /** Why the log itself could not be read (a damaged snapshot), if it could not. */
    damaged?: string;
    snapshot: { seq: number; bytes: number; entities: number | null; entityBytes: number | null } | null;
  } | null;
}

function values(v: unknown): { value: unknown; valueJson: string } {
  const valueJson = jsonText(v);
  return { value: JSON.parse(valueJson), valueJson };
}

function loadState(entity: string, bytes: Uint8Array): Crdt {
  try {
    return loadCrdt(bytes);
  } catch (e) {
    throw new LichenError("CORRUPT", `${entity}: the stored state is unreadable: ${(e as Error).message}`);
  }
}

function describeState(entity: string, ns: string, id: string, key: string, bytes: Uint8Array): EntityInfo {
  const crdt = loadState(entity, bytes);
  const top = decodeCbor(bytes) as unknown[];
  return {
    entity,
    kind: "state",
    key,
    namespace: ns,
    id,
    type: typeName(crdt.typeTag),
    size: bytes.length,
    ...values(crdt.value()),
    format: top[0] as number,
    owner: crdt.replica,
    version: crdt.version().toJSON(),
  };
}

/** Reads a CrdtDb envelope [format, type, schemaVersion, value] without a schema (no migration). */
export function readEnvelope(key: string, bytes: Uint8Array): { format: number; type: string; schemaVersion: number; value: unknown } {
  let r: unknown;
  try {
    r = decodeCbor(bytes);
  } catch {
    r = undefined;
  }
  if (Array.isArray(r) && typeof r[0] === "number" && r[0] > KNOWN_ENVELOPE_FORMAT) {
    throw new LichenError("UNSUPPORTED_VERSION", `${key} uses envelope format ${r[0]}; this lichen reads ${KNOWN_ENVELOPE_FORMAT}`);
  }
  if (!Array.isArray(r) || r.length !== 4 || r[0] !== KNOWN_ENVELOPE_FORMAT || typeof r[1] !== "string" || !Number.isSafeInteger(r[2]) || (r[2] as number) < 1) {
    throw new LichenError("CORRUPT", `${key} does not hold a CrdtDb envelope`);
  }
  let value: unknown;
  try {
    value = valueFromWire(r[3]);
  } catch {
    throw new LichenError("CORRUPT", `${key}: the value in the envelope is unreadable`);
  }
  return { format: r[0], type: r[1], schemaVersion: r[2] as number, value };
}

function describeEnvelope(entity: string, type: string, id: string, key: string, bytes: Uint8Array): EntityInfo {
  const env = readEnvelope(key, bytes);
  return {
    entity,
    kind: "envelope",
    key,
    namespace: type,
    id,
    type: `${env.type}@${env.schemaVersion}`,
    size: bytes.length,
    ...values(env.value),
    format: env.format,
    schemaVersion: env.schemaVersion,
  };
}

/** Splits "ns/id" (the id may hold slashes); INVALID_ARGUMENT if it is not that shape. */
export function parseEntity(entity: string): [string, string] {
  const problem = docKeyProblem(entity);
  if (problem !== undefined) throw invalidArgument(`an entity is "namespace/id" (or "type/id"): ${JSON.stringify(entity)} is not (${problem})`);
  return docParts(entity);
}

/** The log of an entity's namespace: its events for that id (one pass over the log). */
function entityLog(db: GatewayDb, ns: string, id: string, onEvent?: () => void): EntityInfo["log"] {
  if (!db.logs().includes(ns)) return null;
  let log: EventStore;
  try {
    log = new EventStore(db.kv, ns);
  } catch (e) {
    const events = db.kv.keys(eventPrefix(ns)).length;
    return { namespace: ns, events, firstSeq: 0, lastSeq: 0, entityEvents: [], entityEventCount: 0, unreadable: events, snapshot: null, damaged: e instanceof Error ? e.message : String(e) };
  }
  const entityEvents: EventInfo[] = [];
  let unreadable = 0;
  let events = 0;
  for (let seq = log.firstSeq; seq <= log.lastSeq; seq++) {
    // one event at a time: a damaged event is counted and skipped, the others still read
    let ev;
    try {
      ev = log.range(seq, seq)[0];
    } catch {
      events++;
      unreadable++;
      onEvent?.();
      continue;
    }
    if (ev === undefined) continue;
    events++;
    onEvent?.();
    let applied;
    try {
      applied = decodeAppliedEvent(ev.data);
    } catch {
      unreadable++;
      continue;
    }
    if (applied.id === id) entityEvents.push({ seq: ev.seq, ts: ev.ts, time: tsToIso(ev.ts), node: ev.node, deltaBytes: applied.delta.length });
  }
  let snapshot: NonNullable<EntityInfo["log"]>["snapshot"] = null;
  let snap;
  try {
    snap = log.snapshot();
  } catch {
    snap = undefined;
  }
  if (snap !== undefined) {
    let entities: number | null = null;
    let entityBytes: number | null = null;
    try {
      const entries = decodeNamespaceSnapshot(snap.state);
      entities = entries.length;
      entityBytes = entries.find(([eid]) => eid === id)?.[1].length ?? null;
    } catch {
      // not a namespace snapshot
    }
    snapshot = { seq: snap.seq, bytes: snap.state.length, entities, entityBytes };
  }
  return { namespace: ns, events, firstSeq: log.firstSeq, lastSeq: log.lastSeq, entityEvents, entityEventCount: entityEvents.length, unreadable, snapshot };
}

/** Events in a namespace's log (for a progress bar's total). */
export function logSize(db: GatewayDb, ns: string): number {
  return isPlainName(ns) ? db.kv.keys(eventPrefix(ns)).length : 0;
}

/**
 * Describes "ns/id": the CRDT state s/ns/id, or else the CrdtDb entity d/type/id
 * (`prefer: "envelope"` looks there first). Undefined if neither exists.
 */
export function inspect(db: GatewayDb, entity: string, options: { events?: boolean; prefer?: "state" | "envelope"; onEvent?: () => void } = {}): EntityInfo | undefined {
  const [ns, id] = parseEntity(entity);
  const lookups: Array<() => EntityInfo | undefined> = [
    () => {
      const key = stateKey(ns, id);
      const bytes = db.states.storedBytes(ns, id); // the base with its tail applied
      return bytes === undefined ? undefined : describeState(entity, ns, id, key, bytes);
    },
    () => {
      const key = envelopeKey(ns, id);
      const bytes = db.kv.get(key);
      return bytes === undefined ? undefined : describeEnvelope(entity, ns, id, key, bytes);
    },
  ];
  if (options.prefer === "envelope") lookups.reverse();
  let info: EntityInfo | undefined;
  for (const look of lookups) {
    info = look();
    if (info !== undefined) break;
  }
  if (info === undefined) return undefined;
  if (options.events) info.log = entityLog(db, ns, id, options.onEvent);
  return info;
}

// ---- export ----

export interface ExportRow {
  namespace: string;
  id: string;
  type: string;
  /** The value as JSON text, exactly as in the SQL mirror. */
  valueJson: string;
}

/** What export will read: [kind, namespace, id] of every entity (of one namespace), states first. */
export function exportPlan(db: GatewayDb, namespace?: string): Array<["state" | "envelope", string, string]> {
  if (namespace !== undefined) checkNamespace(namespace);
  const states = namespace === undefined ? db.states.all() : db.states.list(namespace).map((id) => [namespace, id] as [string, string]);
  return [
    ...states.map(([ns, id]) => ["state", ns, id] as ["state", string, string]),
    ...envelopeKeys(db, namespace).map(([t, id]) => ["envelope", t, id] as ["envelope", string, string]),
  ];
}

/**
 * The rows of export, one entity at a time. A damaged entity (CORRUPT, UNSUPPORTED_VERSION) is
 * skipped and handed to `onDamaged`; without it, it throws, naming the entity.
 */
export function* exportRows(db: GatewayDb, plan: ReturnType<typeof exportPlan>, onDamaged?: (entity: string, e: LichenError) => void): Generator<ExportRow> {
  for (const [kind, ns, id] of plan) {
    const key = kind === "state" ? stateKey(ns, id) : envelopeKey(ns, id);
    let row: ExportRow;
    try {
      // a state with its tail applied (CORRUPT if that is unreadable)
      const bytes = kind === "state" ? db.states.storedBytes(ns, id) : db.kv.get(key);
      if (bytes === undefined) continue; // deleted meanwhile
      if (kind === "state") {
        const crdt = loadState(`${ns}/${id}`, bytes);
        row = { namespace: ns, id, type: typeName(crdt.typeTag), valueJson: jsonText(crdt.value()) };
      } else {
        const env = readEnvelope(key, bytes);
        row = { namespace: ns, id, type: `${env.type}@${env.schemaVersion}`, valueJson: jsonText(env.value) };
      }
    } catch (e) {
      if (onDamaged === undefined || !(e instanceof LichenError)) throw e;
      onDamaged(`${ns}/${id}`, e);
      continue;
    }
    yield row;
  }
}

/** One CSV field, RFC 4180: quoted when it holds a quote, a comma, CR or LF; quotes doubled. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = "namespace,id,type,value";

/** A row as a CSV record (without the line break): value as JSON text. */
export function csvRecord(row: ExportRow): string {
  return [row.namespace, row.id, row.type, row.valueJson].map(csvField).join(",");
}

/** A row as a JSON object's text, the value's text kept as it is. */
export function jsonRecord(row: ExportRow): string {
  return `{"namespace":${JSON.stringify(row.namespace)},"id":${JSON.stringify(row.id)},"type":${JSON.stringify(row.type)},"value":${row.valueJson}}`;
}
