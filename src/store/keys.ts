// The layout of lichen's keys in a KvStore. This module is the one place that knows it: the
// stores build their keys here, and the gateway, the CLI and the tests list and parse them here.
//
//   s/<ns>/<id>          a CRDT state (StateStore)
//   h/<ns>/<id>          a typed document's schema header beside its state (StateStore)
//   d/<type>/<id>        a CrdtDb entity in its versioned envelope
//   e/<log>/<seq>        an event of a log (EventStore): seq in fixed-width base 36, so that key
//                        order is sequence order
//   e/<log>~snapshot     that log's snapshot
//   c/clock              the replica clock's reservation (clock-store.ts)
//
// Names and ids follow the grammar of core/names.ts; the builders check them (INVALID_ARGUMENT).
// Changing any of this changes what existing stores read back: it is part of the stored format.

import { checkEntityId, checkName, checkNamespace, isEntityId, isPlainName } from "../core/names.js";
import type { KvStore } from "./kv.js";

const STATES = "s/";
const ENVELOPES = "d/";
const LOGS = "e/";
const SNAPSHOT = "~snapshot";
const HEADERS = "h/";
const SEQ_WIDTH = 11;

/** The key of the replica clock's reservation. */
export const CLOCK_KEY = "c/clock";

// ---- states ----

export function stateKey(ns: string, id: string): string {
  return `${STATES}${checkNamespace(ns)}/${checkEntityId(id)}`;
}

/** Where a typed document's header lives: beside its state, written only when it changes. */
export function headerKey(ns: string, id: string): string {
  return `${HEADERS}${checkNamespace(ns)}/${checkEntityId(id)}`;
}

/** The prefix of every state key, or of one namespace's. */
export function statePrefix(ns?: string): string {
  return ns === undefined ? STATES : `${STATES}${checkNamespace(ns)}/`;
}

/** [namespace, id] of a state key, or undefined if the key is not one. */
export function parseStateKey(key: string): [string, string] | undefined {
  return parseEntityKey(STATES, key);
}

// ---- envelopes (CrdtDb) ----

export function envelopeKey(type: string, id: string): string {
  return `${ENVELOPES}${checkName(type, "an entity type")}/${checkEntityId(id)}`;
}

/** The prefix of every envelope key, or of one type's. */
export function envelopePrefix(type?: string): string {
  return type === undefined ? ENVELOPES : `${ENVELOPES}${checkName(type, "an entity type")}/`;
}

/** [type, id] of an envelope key, or undefined if the key is not one. */
export function parseEnvelopeKey(key: string): [string, string] | undefined {
  return parseEntityKey(ENVELOPES, key);
}

function parseEntityKey(prefix: string, key: string): [string, string] | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const slash = key.indexOf("/", prefix.length);
  if (slash < 0) return undefined;
  const name = key.slice(prefix.length, slash);
  const id = key.slice(slash + 1);
  return isPlainName(name) && isEntityId(id) ? [name, id] : undefined;
}

// ---- event logs (EventStore) ----

/** The prefix of a log's event keys. */
export function eventPrefix(log: string): string {
  return `${LOGS}${checkName(log, "a log name")}/`;
}

/** The key of a log's event `seq` (a positive safe integer). */
export function eventKey(log: string, seq: number): string {
  const s = seq.toString(36);
  return eventPrefix(log) + "0".repeat(SEQ_WIDTH - s.length) + s;
}

/** The sequence number of one of a log's event keys, or undefined if the key holds none. */
export function parseEventSeq(log: string, key: string): number | undefined {
  const prefix = eventPrefix(log);
  if (!key.startsWith(prefix)) return undefined;
  const n = parseInt(key.slice(prefix.length), 36);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

export function snapshotKey(log: string): string {
  return `${LOGS}${checkName(log, "a log name")}${SNAPSHOT}`;
}

/** The name of the log a key belongs to (an event or a snapshot), or undefined. */
export function parseLogName(key: string): string | undefined {
  if (!key.startsWith(LOGS)) return undefined;
  let end = LOGS.length;
  while (end < key.length && key[end] !== "/" && key[end] !== "~") end++;
  const name = key.slice(LOGS.length, end);
  return isPlainName(name) ? name : undefined;
}

// ---- listing ----

/** Every stored state as [namespace, id] (of one namespace), in key order. */
export function storedStates(kv: KvStore, ns?: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const k of kv.keys(statePrefix(ns))) {
    const p = parseStateKey(k);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** Every stored envelope as [type, id] (of one type), in key order. */
export function storedEnvelopes(kv: KvStore, type?: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const k of kv.keys(envelopePrefix(type))) {
    const p = parseEnvelopeKey(k);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** The names of the logs that have events or a snapshot, sorted. */
export function storedLogs(kv: KvStore): string[] {
  const out = new Set<string>();
  for (const k of kv.keys(LOGS)) {
    const name = parseLogName(k);
    if (name !== undefined) out.add(name);
  }
  return [...out].sort();
}
