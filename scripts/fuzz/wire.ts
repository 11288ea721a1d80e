// The fuzz's own view of the wire: it crafts frames and LWWMap deltas byte by byte (as an attacker
// would, bypassing every check a sender makes), and reads back which events a replica holds.
import { decodeCbor, encodeCbor, TypeTag } from "../../src/core/codec.js";
import type { Crdt } from "../../src/core/crdt.js";
import { compareReplicaIds } from "../../src/core/replica.js";
import type { SessionIds } from "../../src/core/session-form.js";
import { decodeFrame, encodeFrame, type Frame } from "../../src/transport/frames.js";

/** The CBOR of a frame, without its CRC. */
export function frameBody(frame: Uint8Array): Uint8Array {
  return frame.subarray(0, frame.length - 4);
}

/**
 * A frame as the fuzz reads it: standalone, or sent in the session ids [sender, receiver]. A DELTA
 * relative to the receiver's version (format 3) is read only with `prefixOf`, the receiver's
 * prefix of the sender per document (as the receiver reads it: `receiverPrefix`).
 */
export function tryDecodeFrame(bytes: Uint8Array, session?: SessionIds, prefixOf?: (doc: string) => number): Frame | undefined {
  try {
    return decodeFrame(bytes, Number.MAX_SAFE_INTEGER, session === undefined ? undefined : { ids: session, maxExpandedBytes: Number.MAX_SAFE_INTEGER, prefixOf });
  } catch {
    return undefined;
  }
}

/** A receiver's prefix of a sender in each document, as the receiver reads a format-3 DELTA against it (SyncEngine.session). */
export function receiverPrefix(receiver: { get(doc: string): Crdt | undefined }, sender: string): (doc: string) => number {
  return (doc) => receiver.get(doc)?.version().get(sender) ?? 0;
}

/** One LWWMap event as an attacker writes it: any replica, any timestamp. */
export interface LwwEvent {
  readonly key: string;
  readonly r: string;
  readonly t: number;
  /** The value; undefined for a delete. */
  readonly value?: number | string;
}

/**
 * An LWWMap delta with exactly the given events, context ranges ((lo, hi] pairs per replica) and
 * base rows (a row [r, 0] says "no base": the ranges need not touch what the receiver has).
 */
export function lwwDelta(events: readonly LwwEvent[], ranges: ReadonlyMap<string, readonly number[]>, base: ReadonlyMap<string, number> = new Map()): Uint8Array {
  const ids = [...new Set([...ranges.keys(), ...base.keys(), ...events.map((e) => e.r)])].sort(compareReplicaIds);
  const index = new Map(ids.map((r, i) => [r, i]));
  const top = new Map<string, number>();
  const ctx: unknown[] = [];
  for (const r of ids) {
    const rs = ranges.get(r);
    if (rs === undefined) continue;
    const diffs: number[] = [];
    let prev = 0;
    for (const x of rs) {
      diffs.push(x - prev);
      prev = x;
    }
    top.set(r, rs[rs.length - 1]);
    ctx.push([index.get(r), ...diffs]);
  }
  const baseRows = ids.filter((r) => base.has(r)).map((r) => [index.get(r), base.get(r)]);
  const rows = [...events]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => [e.key, index.get(e.r), (top.get(e.r) ?? e.t) - e.t, ...(e.value === undefined ? [] : [e.value])]);
  return encodeCbor([1, TypeTag.LWWMap, [ids, baseRows, ctx, rows]]);
}

export function deltaFrame(doc: string, type: number, delta: Uint8Array): Uint8Array {
  return encodeFrame({ kind: 3, doc, type, delta });
}

/** What a replica holds of a document: per replica, its highest event id in the context, and the LWWMap entries. */
export interface HeldEvents {
  readonly tops: Map<string, number>;
  /** LWWMap only: [key, writer, timestamp, value as JSON]. */
  readonly entries: Array<readonly [string, string, number, string]>;
}

/** Reads the events of a document as its full-state delta says (the context types and the LWWMap). */
export function heldEvents(crdt: Crdt): HeldEvents {
  const tops = new Map<string, number>();
  const entries: Array<readonly [string, string, number, string]> = [];
  for (const [r, n] of crdt.version().map) tops.set(r, n);
  if (crdt.typeTag !== TypeTag.LWWMap) return { tops, entries };
  // LWWMap's compact body (core/lww-store.ts): [unit code, ids, context, flat entries, base?]
  const body = (decodeCbor(crdt.delta()) as unknown[])[2] as unknown[];
  const code = body[0] as number;
  const unit = code % 2 === 1 ? ((code - 1) / 2) * 1024 : code / 2;
  const one = typeof body[1] === "string";
  const ids = one ? [body[1] as string] : (body[1] as string[]);
  const ctxTop = new Map<string, number>();
  for (const raw of body[2] as number[][]) {
    const row = one ? [0, ...raw] : raw;
    let acc = 0;
    for (const d of row.slice(1)) acc += d;
    ctxTop.set(ids[row[0]], acc);
    if (acc > (tops.get(ids[row[0]]) ?? 0)) tops.set(ids[row[0]], acc);
  }
  const flat = body[3] as unknown[];
  for (let i = 0; i < flat.length; ) {
    const key = flat[i++] as string;
    const r = one ? ids[0] : ids[flat[i++] as number];
    const n = flat[i++] as number;
    const value = n % 2 === 1 ? flat[i++] : undefined;
    entries.push([key, r, (ctxTop.get(r) ?? 0) - ((n - (n % 2)) / 2) * unit, JSON.stringify(value ?? null)]);
  }
  return { tops, entries };
}
