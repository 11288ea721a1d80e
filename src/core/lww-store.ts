import { CausalContext, rangesUpTo, type ContextRanges } from "./causal-context.js";
import { readArray, readIndex } from "./codec.js";
import type { Patch } from "./crdt.js";
import { malformed } from "./errors.js";
import { compareKeys } from "./value.js";
import { baseFromWire, baseOf, baseToWire, completeBase, contextFromWire, contextToWire, eventFromWire, readReplicaTable, replicaTable, topsOf } from "./wire-context.js";

/** The latest event of one key: who wrote it, when, and what it says. */
export interface LwwItem<P> {
  readonly r: string;
  readonly t: number;
  readonly p: P;
}

export interface LwwCodec<P> {
  keyToWire(key: string, item: LwwItem<P>): unknown;
  keyFromWire(x: unknown): string;
  /** The payload's fields, appended after [key, replica, ts]. */
  payloadToWire(p: P): unknown[];
  payloadFromWire(fields: unknown[], key: unknown): P;
  /** True if `a` wins over `b`. Must be a total order on distinct events. */
  beats?(a: LwwItem<P>, b: LwwItem<P>): boolean;
}

export interface LwwPatch<P> extends Patch {
  readonly ctx: ContextRanges;
  /** Winners per key (a whole state's own map, read without copying, when merging). */
  readonly entries: Iterable<readonly [string, LwwItem<P>]>;
}

/** Later timestamp wins; equal timestamps go to the greater replica id. */
export function later<P>(a: LwwItem<P>, b: LwwItem<P>): boolean {
  return a.t > b.t || (a.t === b.t && a.r > b.r);
}

/**
 * The kernel of the types that keep one winning event per key (GSet, TwoPSet,
 * LWWSet, LWWMap): the winners and a causal context of the events seen. A
 * removal is itself an event that wins, so a delta is simply the winners
 * above the peer's version plus the context above it.
 */
export class LwwStore<P> {
  readonly entries = new Map<string, LwwItem<P>>();
  readonly ctx = new CausalContext();

  constructor(private readonly codec: LwwCodec<P>) {}

  /** Records a local event. */
  put(key: string, item: LwwItem<P>): void {
    this.entries.set(key, item);
    this.ctx.addOwn(item.r, item.t);
  }

  /** The body of a delta for a peer at `since`; with `upTo`, only the events with ids up to it. */
  encode(since: ReadonlyMap<string, number>, upTo = Infinity): unknown {
    const all = this.ctx.rangesSince(since);
    const ctx = upTo === Infinity ? all : rangesUpTo(all, upTo);
    const rows: Array<[string, LwwItem<P>]> = [];
    for (const [key, it] of this.entries) if (it.t > (since.get(it.r) ?? 0) && it.t <= upTo) rows.push([key, it]);
    rows.sort((a, b) => compareKeys(a[0], b[0]));
    const base = baseOf(since, (r) => this.ctx.max(r));
    const table = replicaTable([...ctx.map((c) => c[0]), ...base.map((b) => b[0])]);
    const top = topsOf(ctx);
    return [
      table.ids,
      baseToWire(base, ctx, table),
      contextToWire(ctx, table),
      rows.map(([key, it]) => [this.codec.keyToWire(key, it), table.index.get(it.r), (top.get(it.r) ?? 0) - it.t, ...this.codec.payloadToWire(it.p)]),
    ];
  }

  read(body: unknown, what: string): LwwPatch<P> {
    const b = readArray(body, what, 4, 4);
    const table = readReplicaTable(b[0], what);
    const written = baseFromWire(b[1], table, what);
    const read = contextFromWire(b[2], table, what);
    const base = completeBase(written, read.ctx);
    const entries: Array<[string, LwwItem<P>]> = [];
    for (const row of readArray(b[3], `${what} entries`)) {
      const e = readArray(row, `${what} entry`, 3);
      const key = this.codec.keyFromWire(e[0]);
      if (entries.length > 0 && compareKeys(entries[entries.length - 1][0], key) >= 0) throw malformed(`${what}: entries out of order or repeated`);
      const r = table[readIndex(e[1], table.length, `${what} entry`)];
      const t = eventFromWire(e[2], r, read, `${what} entry`);
      entries.push([key, { r, t, p: this.codec.payloadFromWire(e.slice(3), e[0]) }]);
    }
    return { ctx: read.ctx, entries, maxTs: read.maxTs, base };
  }

  /** The ids of the winners a delta for a peer at `since` carries, ascending: where it can be cut. */
  cutIds(since: ReadonlyMap<string, number>): number[] {
    const ids: number[] = [];
    for (const it of this.entries.values()) if (it.t > (since.get(it.r) ?? 0)) ids.push(it.t);
    return ids.sort((a, b) => a - b);
  }

  /**
   * The authorship check: the first replica other than `author` whose events
   * in the patch are not held here. Its context must already be seen here,
   * and its winners must change nothing (held already, or beaten).
   */
  unheld(p: LwwPatch<P>, author: string): string | undefined {
    const unseen = this.ctx.unseenBy(p.ctx, author);
    if (unseen !== undefined) return unseen;
    const beats = this.codec.beats ?? later;
    for (const [key, it] of p.entries) {
      if (it.r === author) continue;
      const mine = this.entries.get(key);
      if (mine === undefined || beats(it, mine)) return it.r;
    }
    return undefined;
  }

  patch(): LwwPatch<P> {
    const ctx = this.ctx.rangesSince(new Map());
    let maxTs = 0;
    for (const [, ranges] of ctx) if (ranges[ranges.length - 1] > maxTs) maxTs = ranges[ranges.length - 1];
    return { ctx, entries: this.entries, maxTs };
  }

  /** Joins another store of the same type directly (a merge), without building a patch. */
  join(other: LwwStore<P>): void {
    if (this.entries.size === 0) other.entries.forEach(this.take, this);
    else other.entries.forEach(this.offer, this);
    this.ctx.merge(other.ctx);
  }

  /** Sets a winner (a Map.forEach callback: value first). */
  private take(it: LwwItem<P>, key: string): void {
    this.entries.set(key, it);
  }

  /** Keeps `it` if it beats this store's winner of `key` (a Map.forEach callback). */
  private offer(it: LwwItem<P>, key: string): void {
    const mine = this.entries.get(key);
    if (mine === undefined || (this.codec.beats ?? later)(it, mine)) this.entries.set(key, it);
  }

  apply(p: LwwPatch<P>): void {
    const beats = this.codec.beats ?? later;
    if (this.entries.size === 0) {
      // into an empty store (a clone, a load): every winner stays a winner
      for (const [key, it] of p.entries) this.entries.set(key, it);
      for (const [r, ranges] of p.ctx) this.ctx.addRanges(r, ranges);
      return;
    }
    for (const [key, it] of p.entries) {
      const mine = this.entries.get(key);
      if (mine === undefined || beats(it, mine)) this.entries.set(key, it);
    }
    for (const [r, ranges] of p.ctx) this.ctx.addRanges(r, ranges);
  }
}
