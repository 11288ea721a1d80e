import { CausalContext, rangesUpTo, type ContextRanges } from "./causal-context.js";
import { readArray, readCount, readIndex } from "./codec.js";
import type { Patch } from "./crdt.js";
import { malformed } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import { compareKeys, type ElementKey } from "./value.js";
import { baseFromWire, baseOf, baseToWire, completeBase, contextFromWire, contextToWire, eventFromWire, rangesFromWire, rangesToWire, readReplicaTable, replicaTable, topsOf } from "./wire-context.js";

/** One live event: the replica and HLC timestamp that made it, and what it holds. */
export interface Dotted<T> {
  readonly r: string;
  readonly t: number;
  readonly v: T;
}

/** How a type writes and reads the key (of type `K`) and the per-event payload of its entries. */
export interface EntryCodec<T, K extends ElementKey = string> {
  /** The wire form of an entry's key (for a set, the element itself). */
  keyToWire(key: K, items: readonly Dotted<T>[]): unknown;
  /** Reads a key; returns its string key and, for sets, the value every event of it holds. */
  keyFromWire(x: unknown): { key: K; shared?: T };
  /** True if each event carries its own payload (a register's value, a map's nested CRDT). */
  readonly perItem: boolean;
  payloadToWire(v: T): unknown;
  payloadFromWire(x: unknown): { v: T; maxTs: number };
}

export interface DotStorePatch<T, K extends ElementKey = string> extends Patch {
  /** What the sender has seen above the receiver's version: replica → (lo, hi] ranges. */
  readonly ctx: ContextRanges;
  /** Events the receiver lacks, per key, sorted. */
  /** Events per key (a whole state's own map, read without copying, when merging). */
  readonly entries: Iterable<readonly [K, readonly Dotted<T>[]]>;
  /** For replicas whose older events the sender removed: seen ranges up to the receiver's version, and the ids still live. */
  readonly summaries: ReadonlyArray<readonly [string, readonly number[], readonly number[]]>;
  /** Removal watermarks: (origin, remover, ts). */
  readonly removals: ReadonlyArray<readonly [string, string, number]>;
}

function byDot<T>(a: Dotted<T>, b: Dotted<T>): number {
  return compareReplicaIds(a.r, b.r) || a.t - b.t;
}

function hasId(ids: readonly number[], t: number): boolean {
  for (let i = 0; i < ids.length; i++) if (ids[i] === t) return true;
  return false;
}

/** Sorted ids as differences: the first absolute, then the gaps. */
function idsToWire(ids: readonly number[]): number[] {
  return ids.map((t, i) => (i === 0 ? t : t - ids[i - 1]));
}

function idsFromWire(diffs: readonly unknown[], what: string): number[] {
  const out: number[] = [];
  let acc = 0;
  for (let i = 0; i < diffs.length; i++) {
    const d = readCount(diffs[i], what);
    if (d === 0) throw malformed(`${what}: ids out of order or repeated`);
    acc += d;
    if (!Number.isSafeInteger(acc)) throw malformed(`${what}: id beyond the safe integer range`);
    out.push(acc);
  }
  return out;
}

function inRanges(ranges: readonly number[], t: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (t > ranges[i] && t <= ranges[i + 1]) return true;
  return false;
}

/**
 * The kernel of the add-wins types (ORSet, MVRegister, AWMap): live events
 * grouped by key, and a causal context of everything seen. Removing an
 * element drops its events and leaves no tombstone; the context remembers
 * they were seen, so a merge with a state that still has them removes them.
 *
 * A delta for a peer at version `since` carries the events above `since`,
 * the context above `since`, and, only where this replica knows of removals
 * the peer has not seen (the removal watermarks), a summary of which older
 * events of that origin are still live. Watermarks cost one number per
 * (origin, remover) pair of replicas, never one per element.
 */
export class DotStore<T, K extends ElementKey = string> {
  readonly entries = new Map<K, Dotted<T>[]>();
  readonly ctx = new CausalContext();
  /** origin replica → remover replica → latest removal event of the remover that dropped an event of the origin. */
  readonly removals = new Map<string, Map<string, number>>();

  get size(): number {
    return this.entries.size;
  }

  /** Replaces every event of a key by a local one, which removes them (an add that supersedes the adds it saw). */
  replace(key: K, item: Dotted<T>): void {
    const items = this.entries.get(key);
    if (items !== undefined) for (const it of items) this.noteRemoval(it.r, item.r, item.t);
    this.entries.set(key, [item]);
    this.ctx.addOwn(item.r, item.t);
  }

  /** Drops every event of a key as part of the local event (remover, ts). */
  removeKey(key: K, remover: string, ts: number): void {
    const items = this.entries.get(key);
    if (items === undefined) return;
    for (const it of items) this.noteRemoval(it.r, remover, ts);
    this.entries.delete(key);
  }

  /** Records a local event that only removes (it holds nothing). */
  addEvent(replica: string, ts: number): void {
    this.ctx.addOwn(replica, ts);
  }

  private noteRemoval(origin: string, remover: string, ts: number): void {
    let m = this.removals.get(origin);
    if (m === undefined) {
      m = new Map();
      this.removals.set(origin, m);
    }
    if (ts > (m.get(remover) ?? 0)) m.set(remover, ts);
  }

  /** Builds the body of a delta for a peer at `since` (the whole state when `since` is empty). */
  encode(since: ReadonlyMap<string, number>, codec: EntryCodec<T, K>, upTo = Infinity): unknown {
    const all = this.ctx.rangesSince(since);
    const ctx = upTo === Infinity ? all : rangesUpTo(all, upTo);
    const entries: Array<[K, Dotted<T>[]]> = [];
    for (const [key, items] of this.entries) {
      let fresh: Dotted<T>[] | undefined;
      for (const it of items) {
        if (it.t > (since.get(it.r) ?? 0) && it.t <= upTo) (fresh ??= []).push(it);
      }
      if (fresh !== undefined) entries.push([key, fresh.sort(byDot)]);
    }
    entries.sort((a, b) => compareKeys(a[0], b[0]));
    const summaries: Array<[string, number[], number[]]> = [];
    for (const [origin, byRemover] of this.removals) {
      const upTo = since.get(origin) ?? 0;
      if (upTo === 0) continue;
      let unseen = false;
      for (const [remover, ts] of byRemover) if (ts > (since.get(remover) ?? 0)) unseen = true;
      if (!unseen) continue;
      const ranges = this.ctx.rangesUpTo(origin, upTo);
      if (ranges.length > 0) summaries.push([origin, ranges, this.liveIds(origin, ranges)]);
    }
    // the receiver gets the watermarks set by the events it is about to see,
    // so it can pass them on (it has those of the events it saw before)
    const removals: Array<[string, string, number]> = [];
    for (const [origin, byRemover] of this.removals) {
      for (const [remover, ts] of byRemover) {
        if (rangesHaveFor(ctx, remover, ts)) removals.push([origin, remover, ts]);
      }
    }
    removals.sort((a, b) => compareReplicaIds(a[0], b[0]) || compareReplicaIds(a[1], b[1]));
    summaries.sort((a, b) => compareReplicaIds(a[0], b[0]));

    const base = baseOf(since, (r) => this.ctx.max(r));
    const ids: string[] = ctx.map((c) => c[0]);
    for (const [o, q] of removals) ids.push(o, q);
    for (const [r] of base) ids.push(r);
    const table = replicaTable(ids);
    const top = topsOf(ctx);
    return [
      table.ids,
      baseToWire(base, ctx, table),
      contextToWire(ctx, table),
      entries.map(([key, items]) => {
        const row: unknown[] = [codec.keyToWire(key, items)];
        for (const it of items) {
          row.push(table.index.get(it.r), (top.get(it.r) ?? 0) - it.t);
          if (codec.perItem) row.push(codec.payloadToWire(it.v));
        }
        return row;
      }),
      summaries.map(([o, ranges, live]) => [table.index.get(o), rangesToWire(ranges), idsToWire(live)]),
      removals.map(([o, q, ts]) => [table.index.get(o), table.index.get(q), ts]),
    ];
  }

  /** The ids of the live events a delta for a peer at `since` carries, ascending: where it can be cut. */
  cutIds(since: ReadonlyMap<string, number>): number[] {
    const ids: number[] = [];
    for (const items of this.entries.values()) for (const it of items) if (it.t > (since.get(it.r) ?? 0)) ids.push(it.t);
    return ids.sort((a, b) => a - b);
  }

  /**
   * The authorship check: the first replica other than `author` whose events
   * in the patch are not held here. Its context (so its events) and removal
   * marks must already be seen here. What `author` removes is its own act. A
   * new event of `author` may carry a nested value: `nested` checks it.
   */
  unheld(p: DotStorePatch<T, K>, author: string, nested?: (key: K, v: T) => string | undefined): string | undefined {
    // events lie inside the patch's context (checked when read): covering it covers them
    const unseen = this.ctx.unseenBy(p.ctx, author);
    if (unseen !== undefined) return unseen;
    if (nested !== undefined) {
      for (const [key, items] of p.entries) {
        for (const it of items) {
          if (it.r !== author || this.ctx.has(it.r, it.t)) continue;
          const r = nested(key, it.v);
          if (r !== undefined) return r;
        }
      }
    }
    for (const [, remover, ts] of p.removals) if (remover !== author && !this.ctx.has(remover, ts)) return remover;
    return undefined;
  }

  private liveIds(origin: string, ranges: readonly number[]): number[] {
    const out: number[] = [];
    for (const items of this.entries.values()) for (const it of items) if (it.r === origin && inRanges(ranges, it.t)) out.push(it.t);
    return out.sort((a, b) => a - b);
  }

  /** Reads a body written by `encode`. Checks everything; changes nothing. */
  static read<T, K extends ElementKey = string>(body: unknown, codec: EntryCodec<T, K>, what: string): DotStorePatch<T, K> {
    const b = readArray(body, what, 6, 6);
    const table = readReplicaTable(b[0], what);
    const written = baseFromWire(b[1], table, what);
    const read = contextFromWire(b[2], table, what);
    const base = completeBase(written, read.ctx);
    let maxTs = read.maxTs;
    const replica = (x: unknown, where: string): string => table[readIndex(x, table.length, `${what} ${where}`)];

    const entries: Array<[K, Dotted<T>[]]> = [];
    const step = codec.perItem ? 3 : 2;
    for (const row of readArray(b[3], `${what} entries`)) {
      const e = readArray(row, `${what} entry`, 1 + step);
      if ((e.length - 1) % step !== 0) throw malformed(`${what}: entry of bad length`);
      const { key, shared } = codec.keyFromWire(e[0]);
      if (entries.length > 0 && compareKeys(entries[entries.length - 1][0], key) >= 0) throw malformed(`${what}: entries out of order or repeated`);
      const items: Dotted<T>[] = [];
      for (let i = 1; i < e.length; i += step) {
        const r = replica(e[i], "entry");
        const t = eventFromWire(e[i + 1], r, read, `${what} entry`);
        let v = shared as T;
        if (codec.perItem) {
          const p = codec.payloadFromWire(e[i + 2]);
          v = p.v;
          if (p.maxTs > maxTs) maxTs = p.maxTs;
        }
        const item = { r, t, v };
        if (items.length > 0 && byDot(items[items.length - 1], item) >= 0) throw malformed(`${what}: events out of order or repeated`);
        items.push(item);
      }
      entries.push([key, items]);
    }

    const summaries: Array<[string, number[], number[]]> = [];
    for (const row of readArray(b[4], `${what} summaries`)) {
      const s = readArray(row, `${what} summary`, 3, 3);
      const o = replica(s[0], "summary");
      if (summaries.length > 0 && compareReplicaIds(summaries[summaries.length - 1][0], o) >= 0) throw malformed(`${what}: summaries out of order`);
      const ranges = rangesFromWire(readArray(s[1], `${what} summary ranges`), `${what} summary`);
      const live = idsFromWire(readArray(s[2], `${what} summary ids`), `${what} summary`);
      for (const t of live) if (!inRanges(ranges, t)) throw malformed(`${what}: summary ids outside their ranges`);
      const hi = ranges[ranges.length - 1];
      if (hi > maxTs) maxTs = hi;
      summaries.push([o, ranges, live]);
    }

    const removals: Array<[string, string, number]> = [];
    for (const row of readArray(b[5], `${what} removals`)) {
      const m = readArray(row, `${what} removal`, 3, 3);
      const ts = readCount(m[2], `${what} removal`);
      if (ts === 0) throw malformed(`${what}: bad removal id`);
      if (ts > maxTs) maxTs = ts;
      removals.push([replica(m[0], "removal"), replica(m[1], "removal"), ts]);
    }
    return { ctx: read.ctx, entries, summaries, removals, maxTs, base };
  }

  /** This whole state as a patch, sharing the stored events. */
  patch(): DotStorePatch<T, K> {
    let maxTs = 0;
    const ctx = this.ctx.rangesSince(new Map());
    for (const [, ranges] of ctx) if (ranges[ranges.length - 1] > maxTs) maxTs = ranges[ranges.length - 1];
    const removals: Array<[string, string, number]> = [];
    for (const [o, m] of this.removals) for (const [q, ts] of m) removals.push([o, q, ts]);
    return { ctx, entries: this.entries, summaries: [], removals, maxTs };
  }

  /** Copies another store into this empty one (a clone): its events (arrays of its own), context and watermarks. */
  copyFrom(other: DotStore<T, K>): void {
    other.entries.forEach(this.copyEntry, this);
    this.ctx.merge(other.ctx);
    for (const [o, m] of other.removals) this.removals.set(o, new Map(m));
  }

  /** A Map.forEach callback: value first. */
  private copyEntry(items: Dotted<T>[], key: K): void {
    this.entries.set(key, items.slice());
  }

  /**
   * Joins a checked patch. `onDrop` hears of every key that loses its last
   * event, `onAdd` of every key that gains one (for types that keep an index).
   */
  apply(p: DotStorePatch<T, K>): void {
    // 1. summaries: older events the sender saw and no longer holds are removed
    for (const [origin, ranges, live] of p.summaries) {
      this.dropWhere((it) => it.r === origin && inRanges(ranges, it.t) && !hasId(live, it.t));
    }

    // 2. events the sender has seen but no longer holds are removed here too
    if (this.overlaps(p.ctx)) {
      const incoming = p.entries instanceof Map ? (p.entries as Map<K, readonly Dotted<T>[]>) : new Map<K, readonly Dotted<T>[]>(p.entries);
      this.dropWhere((it, key) => {
        if (!rangesHaveFor(p.ctx, it.r, it.t)) return false;
        const theirs = incoming.get(key);
        if (theirs === undefined) return true;
        for (const x of theirs) if (x.r === it.r && x.t === it.t) return false;
        return true;
      });
    }

    // 3. events not seen before are added
    for (const [key, items] of p.entries) {
      for (const it of items) {
        if (this.ctx.has(it.r, it.t)) continue;
        const mine = this.entries.get(key);
        if (mine === undefined) this.entries.set(key, [it]);
        else mine.push(it);
      }
    }

    for (const [r, ranges] of p.ctx) this.ctx.addRanges(r, ranges);
    for (const [o, q, ts] of p.removals) this.noteRemoval(o, q, ts);
  }

  /** True if the patch's context may cover some event held here (else step 2 can be skipped). */
  private overlaps(ctx: ContextRanges): boolean {
    for (const [r, ranges] of ctx) if (ranges[0] < this.ctx.max(r)) return true;
    return false;
  }

  private dropWhere(test: (it: Dotted<T>, key: K) => boolean): void {
    for (const [key, items] of this.entries) {
      let keep: Dotted<T>[] | undefined;
      for (let i = 0; i < items.length; i++) {
        if (test(items[i], key)) keep ??= items.slice(0, i);
        else if (keep !== undefined) keep.push(items[i]);
      }
      if (keep === undefined) continue;
      if (keep.length === 0) this.entries.delete(key);
      else this.entries.set(key, keep);
    }
  }
}

function rangesHaveFor(ctx: ContextRanges, replica: string, t: number): boolean {
  for (const [r, ranges] of ctx) if (r === replica) return inRanges(ranges, t);
  return false;
}
