import { checkRanges, type ContextRanges } from "./causal-context.js";
import { readArray, readCount, readIndex } from "./codec.js";
import { malformed } from "./errors.js";
import { compareReplicaIds, readReplicaId } from "./replica.js";

// Shared pieces of the delta bodies of the context-carrying types: a sorted
// table of replica ids referred to by index, context ranges written as
// differences (an absolute start, then lengths and gaps), and event ids
// written relative to the highest id of their replica in the context, so
// that the newest event of a delta costs one byte instead of nine.

export interface ReplicaTable {
  readonly ids: string[];
  readonly index: Map<string, number>;
}

export function replicaTable(ids: Iterable<string>): ReplicaTable {
  const sorted = [...new Set(ids)].sort(compareReplicaIds);
  const index = new Map<string, number>();
  sorted.forEach((r, i) => index.set(r, i));
  return { ids: sorted, index };
}

export function readReplicaTable(x: unknown, what: string): string[] {
  const ids = readArray(x, `${what} replicas`).map((r) => readReplicaId(r));
  for (let i = 1; i < ids.length; i++) if (compareReplicaIds(ids[i - 1], ids[i]) >= 0) throw malformed(`${what}: replica table out of order`);
  return ids;
}

/** Flattened (lo, hi] ranges as [lo, hi - lo, nextLo - hi, nextHi - nextLo, ...]. */
export function rangesToWire(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let prev = 0;
  for (const x of ranges) {
    out.push(x - prev);
    prev = x;
  }
  return out;
}

/** The ranges of `rangesToWire`, read from diffs[from..]. */
export function rangesFromWire(diffs: readonly unknown[], what: string, from = 0): number[] {
  const out: number[] = [];
  let acc = 0;
  for (let i = from; i < diffs.length; i++) {
    acc += readCount(diffs[i], what);
    if (!Number.isSafeInteger(acc)) throw malformed(`${what}: event id beyond the safe integer range`);
    out.push(acc);
  }
  checkRanges(out);
  return out;
}

/**
 * The part of `since` a delta relies on: for each replica, how far the
 * receiver must have seen for the delta to be complete. A delta leaves out
 * what `since` says the receiver has, so applying it to a replica that has
 * seen less could claim events it never got; `applyDelta` refuses that.
 */
export type Base = ReadonlyArray<readonly [string, number]>;

export function baseOf(since: ReadonlyMap<string, number>, known: (replica: string) => number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [r, n] of since) {
    const k = known(r);
    const b = n < k ? n : k;
    if (b > 0) out.push([r, b]);
  }
  return out.sort((a, b) => compareReplicaIds(a[0], b[0]));
}

/**
 * The base rows a delta must write: a replica whose context starts exactly at
 * its base needs none, the start of its first range says it (the common case,
 * and 12 bytes saved).
 */
export function baseToWire(base: Base, ctx: ContextRanges, table: ReplicaTable): unknown[] {
  const rows: Array<[string, number]> = [];
  for (const [r, n] of base) {
    const c = ctx.find((x) => x[0] === r);
    if (c === undefined || c[1][0] !== n) rows.push([r, n]);
  }
  // a context that starts above 0 without a base (ranges seen out of order) says so with a 0
  for (const [r, ranges] of ctx) if (ranges[0] > 0 && !base.some((b) => b[0] === r)) rows.push([r, 0]);
  rows.sort((a, b) => compareReplicaIds(a[0], b[0]));
  return rows.map(([r, n]) => [table.index.get(r), n]);
}

export function baseFromWire(x: unknown, table: readonly string[], what: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const row of readArray(x, `${what} base`)) {
    const b = readArray(row, `${what} base`, 2, 2);
    const r = table[readIndex(b[0], table.length, `${what} base`)];
    if (out.length > 0 && compareReplicaIds(out[out.length - 1][0], r) >= 0) throw malformed(`${what}: base out of order`);
    out.push([r, readCount(b[1], `${what} base`)]);
  }
  return out;
}

/** The whole base: the rows written, and the start of each context range that stands for one. */
export function completeBase(written: Array<[string, number]>, ctx: ContextRanges): Array<[string, number]> {
  if (written.length === 0) {
    // the common case (a delta whose context says its base): no filter, no search
    const out: Array<[string, number]> = [];
    for (const [r, ranges] of ctx) if (ranges[0] > 0) out.push([r, ranges[0]]);
    return out.length > 1 ? out.sort((a, b) => compareReplicaIds(a[0], b[0])) : out;
  }
  const out = written.filter((b) => b[1] > 0);
  for (const [r, ranges] of ctx) {
    if (ranges[0] > 0 && !written.some((b) => b[0] === r)) out.push([r, ranges[0]]);
  }
  return out.sort((a, b) => compareReplicaIds(a[0], b[0]));
}

export function contextToWire(ctx: ContextRanges, table: ReplicaTable): unknown[] {
  return ctx.map(([r, ranges]) => [table.index.get(r), ...rangesToWire(ranges)]);
}

export interface ReadContext {
  readonly ctx: Array<[string, number[]]>;
  /** Highest event id per replica in the context: the base of relative event ids. */
  readonly top: Map<string, number>;
  readonly maxTs: number;
}

export function contextFromWire(x: unknown, table: readonly string[], what: string): ReadContext {
  const ctx: Array<[string, number[]]> = [];
  const top = new Map<string, number>();
  let maxTs = 0;
  for (const row of readArray(x, `${what} context`)) {
    const rr = readArray(row, `${what} context`, 3);
    const r = table[readIndex(rr[0], table.length, `${what} context`)];
    if (ctx.length > 0 && compareReplicaIds(ctx[ctx.length - 1][0], r) >= 0) throw malformed(`${what}: context out of order`);
    const ranges = rangesFromWire(rr, `${what} context`, 1);
    const hi = ranges[ranges.length - 1];
    top.set(r, hi);
    if (hi > maxTs) maxTs = hi;
    ctx.push([r, ranges]);
  }
  return { ctx, top, maxTs };
}

/** The highest id of each replica in a context about to be written. */
export function topsOf(ctx: ContextRanges): Map<string, number> {
  const top = new Map<string, number>();
  for (const [r, ranges] of ctx) top.set(r, ranges[ranges.length - 1]);
  return top;
}

/** Reads an event id written relative to its replica's top; it must lie inside the context. */
export function eventFromWire(x: unknown, replica: string, read: ReadContext, what: string): number {
  const off = readCount(x, what);
  const top = read.top.get(replica);
  if (top === undefined || off >= top) throw malformed(`${what}: event outside the delta's context`);
  const t = top - off;
  for (const [r, ranges] of read.ctx) {
    if (r !== replica) continue;
    for (let i = 0; i < ranges.length; i += 2) if (t > ranges[i] && t <= ranges[i + 1]) return t;
  }
  throw malformed(`${what}: event outside the delta's context`);
}
