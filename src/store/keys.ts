// The layout of lichen's keys in a KvStore. This module is the one place that knows it: the
// stores build their keys here, and the gateway, the CLI and the tests list and parse them here.
//
//   s/<ns>/<id>          a CRDT state (StateStore)
//   h/<ns>/<id>          a typed document's schema header beside its state (StateStore)
//   t/<ns>/<id>#<seq>    a delta of that state's tail (StateStore): applied over s/<ns>/<id> in
//                        seq order (fixed-width base 36, from 1); read from the end, since an id
//                        may hold "#" and "/"
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
const TAILS = "t/";
const TAIL_SEP = "#";
const TAIL_SEQ_WIDTH = 6;
/** The most deltas a state's tail can hold (its seq's width). */
export const MAX_TAIL_SEQ = 36 ** TAIL_SEQ_WIDTH - 1;
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

// ---- state tails (the deltas stored since a state was last written whole) ----

/** The key of delta `seq` (1 to MAX_TAIL_SEQ) of a state's tail. */
export function tailKey(ns: string, id: string, seq: number): string {
  const s = seq.toString(36);
  return `${TAILS}${checkNamespace(ns)}/${checkEntityId(id)}${TAIL_SEP}${"0".repeat(TAIL_SEQ_WIDTH - s.length)}${s}`;
}

/** The prefix of every tail key, or of one state's (which may also match other ids that start with this one's: parse each key). */
export function tailPrefix(ns?: string, id?: string): string {
  if (ns === undefined) return TAILS;
  return id === undefined ? `${TAILS}${checkNamespace(ns)}/` : `${TAILS}${checkNamespace(ns)}/${checkEntityId(id)}${TAIL_SEP}`;
}

/** [namespace, id, seq] of a tail key, or undefined if the key is not one. */
export function parseTailKey(key: string): [string, string, number] | undefined {
  const end = key.length - TAIL_SEQ_WIDTH;
  if (!key.startsWith(TAILS) || end < 1 || key[end - 1] !== TAIL_SEP) return undefined;
  const p = parseEntityKey(TAILS, key.slice(0, end - 1));
  if (p === undefined) return undefined;
  let seq = 0;
  for (let i = end; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (d < 0) return undefined;
    seq = seq * 36 + d;
  }
  return seq >= 1 ? [p[0], p[1], seq] : undefined;
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

/** The tail keys stored for each state (of one namespace), by state key, each list in seq order. */
export function storedTails(kv: KvStore, ns?: string): Map<string, Array<[number, string]>> {
  const out = new Map<string, Array<[number, string]>>();
  for (const k of kv.keys(tailPrefix(ns))) {
    const p = parseTailKey(k);
    if (p === undefined) continue;
    const sk = stateKey(p[0], p[1]);
    let list = out.get(sk);
    if (list === undefined) out.set(sk, (list = []));
    list.push([p[2], k]);
  }
  for (const list of out.values()) list.sort((a, b) => a[0] - b[0]);
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
