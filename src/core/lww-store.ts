import { CausalContext, rangesUpTo, type ContextRanges } from "./causal-context.js";
import { cborHeadSize, cborLeafSize, cborWriteArrayHead, cborWriteLeaf, cborWriter } from "./cbor.js";
import { FORMAT_VERSION, readArray, readCount, readIndex } from "./codec.js";
import { HLC_LOGICAL_SPAN } from "./hlc.js";
import { readReplicaId } from "./replica.js";
import type { Patch } from "./crdt.js";
import { malformed } from "./errors.js";
import { compareKeys, type ElementKey, sortKeys } from "./value.js";
import { baseFromWire, baseOf, baseToWire, completeBase, contextFromWire, contextToWire, eventFromWire, readReplicaTable, replicaTable, topsOf, type ReplicaTable } from "./wire-context.js";

/** The latest event of one key: who wrote it, when, and what it says. */
export interface LwwItem<P> {
  readonly r: string;
  readonly t: number;
  readonly p: P;
}

/** `K`: the type of the keys (a map's field names; a set's element keys, see elementKey). */
export interface LwwCodec<P, K extends ElementKey = string> {
  keyToWire(key: K, item: LwwItem<P>): unknown;
  keyFromWire(x: unknown): K;
  /** The payload's fields, appended after [key, replica, ts]. */
  payloadToWire(p: P): unknown[];
  payloadFromWire(fields: unknown[], key: unknown): P;
  /** True if `a` wins over `b`. Must be a total order on distinct events. */
  beats?(a: LwwItem<P>, b: LwwItem<P>): boolean;
  /**
   * Set when a payload is at most one field: the type's bodies are written in
   * the compact form (see `unitCode`), and both forms are read.
   */
  readonly compact?: boolean;
}

/**
 * The compact body, `[unit code, ids, context, entries, base]`. It starts
 * with a number where the original form starts with the replica table: that
 * says which form a body is.
 * - Each entry's event id is its offset below its replica's top divided by
 *   the unit, the offsets' greatest common divisor: event ids are HLC
 *   timestamps whose low 10 bits are a counter, so writes a second apart are
 *   1,024,000 apart, and the unit keeps each offset in a byte or two. The unit
 *   code is 2 × unit / 1,024 + 1 for whole milliseconds, 2 × unit otherwise.
 * - ids, context and base are as in the original form, except that with one
 *   replica id, ids is that id and no row names its index; a base with no
 *   rows is left out.
 * - The entries are one flat list; per entry: key, replica index (with more
 *   than one id), 2 × offset / unit + 1 with a value or + 0 without (a
 *   deletion), then the value if there is one.
 */
function unitCode(unit: number): number {
  return unit % HLC_LOGICAL_SPAN === 0 ? (unit / HLC_LOGICAL_SPAN) * 2 + 1 : unit * 2;
}

function unitFromCode(x: unknown, what: string): number {
  const c = readCount(x, `${what} unit`);
  const unit = c % 2 === 1 ? ((c - 1) / 2) * HLC_LOGICAL_SPAN : c / 2;
  if (unit === 0 || !Number.isSafeInteger(unit)) throw malformed(`${what}: bad unit`);
  return unit;
}

/** Rows of the original form, with one replica id, as the compact form writes them: no index. */
function dropIndex(rows: unknown[]): unknown[] {
  return rows.map((row) => {
    const r = row as unknown[];
    return r.length === 2 ? r[1] : r.slice(1);
  });
}

/** The rows of the original form back from `dropIndex`'s. */
function withIndex(x: unknown, what: string): unknown[] {
  const rows = readArray(x, what);
  const out: unknown[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row)) out.push([0, row]);
    else {
      // [0, ...row], without a spread per row (a delta's context is read per delta on the gateway)
      const r: unknown[] = [0];
      for (let j = 0; j < row.length; j++) r.push(row[j]);
      out.push(r);
    }
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b > 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** `n × unit`, refused beyond the safe integers. */
function scaled(n: number, unit: number, what: string): number {
  const x = n * unit;
  if (!Number.isSafeInteger(x)) throw malformed(`${what}: event id beyond the safe integer range`);
  return x;
}

export interface LwwPatch<P, K extends ElementKey = string> extends Patch {
  readonly ctx: ContextRanges;
  /** Winners per key (a whole state's own map, read without copying, when merging). */
  readonly entries: Iterable<readonly [K, LwwItem<P>]>;
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
export class LwwStore<P, K extends ElementKey = string> {
  readonly entries = new Map<K, LwwItem<P>>();
  readonly ctx = new CausalContext();

  /** The codec's order, or `later`: looked up once, not once per key of a merge. */
  private readonly beats: (a: LwwItem<P>, b: LwwItem<P>) => boolean;

  constructor(private readonly codec: LwwCodec<P, K>) {
    this.beats = codec.beats ?? later;
  }

  /** Records a local event. */
  put(key: K, item: LwwItem<P>): void {
    this.entries.set(key, item);
    this.ctx.addOwn(item.r, item.t);
  }

  /** The body of a delta for a peer at `since`; with `upTo`, only the events with ids up to it. */
  encode(since: ReadonlyMap<string, number>, upTo = Infinity): unknown {
    const all = this.ctx.rangesSince(since);
    const ctx = upTo === Infinity ? all : rangesUpTo(all, upTo);
    const rows: Array<[K, LwwItem<P>]> = [];
    for (const [key, it] of this.entries) if (it.t > (since.get(it.r) ?? 0) && it.t <= upTo) rows.push([key, it]);
    rows.sort((a, b) => compareKeys(a[0], b[0]));
    const base = baseOf(since, (r) => this.ctx.max(r));
    const table = replicaTable([...ctx.map((c) => c[0]), ...base.map((b) => b[0])]);
    const top = topsOf(ctx);
    if (this.codec.compact === true) return this.encodeCompact(table, baseToWire(base, ctx, table), contextToWire(ctx, table), rows, top);
    return [
      table.ids,
      baseToWire(base, ctx, table),
      contextToWire(ctx, table),
      rows.map(([key, it]) => [this.codec.keyToWire(key, it), table.index.get(it.r), (top.get(it.r) ?? 0) - it.t, ...this.codec.payloadToWire(it.p)]),
    ];
  }

  private encodeCompact(table: ReplicaTable, base: unknown[], ctxRows: unknown[], rows: Array<[K, LwwItem<P>]>, top: Map<string, number>): unknown {
    const offsets = rows.map(([, it]) => (top.get(it.r) ?? 0) - it.t);
    let unit = 0;
    for (const o of offsets) unit = gcd(unit, o);
    if (unit === 0) unit = 1;
    const many = table.ids.length > 1;
    const entries: unknown[] = [];
    rows.forEach(([key, it], i) => {
      entries.push(this.codec.keyToWire(key, it));
      if (many) entries.push(table.index.get(it.r));
      const fields = this.codec.payloadToWire(it.p);
      entries.push((offsets[i] / unit) * 2 + fields.length);
      for (const f of fields) entries.push(f);
    });
    const body: unknown[] = [unitCode(unit), many ? table.ids : table.ids.length === 1 ? table.ids[0] : [], many ? ctxRows : dropIndex(ctxRows), entries];
    if (base.length > 0) body.push(many ? base : dropIndex(base));
    return body;
  }

  /**
   * The whole state's bytes, encodePayload(tag, encode(new Map()), owner) byte for byte, written
   * without building the body or walking it: for a compact type whose state holds the events of
   * one replica, seen without a gap (a node's own document, written whole per change on the
   * gateway), and whose keys and values are leaves. Undefined for any other state.
   */
  wholeBytes(tag: number, owner: string): Uint8Array | undefined {
    if (this.codec.compact !== true) return undefined;
    const r = this.ctx.soleReplica();
    if (r === undefined) return undefined;
    const top = this.ctx.prefix(r);
    const keys: K[] = [];
    let unit = 0;
    for (const [key, it] of this.entries) {
      if (it.r !== r || !(it.t > 0)) return undefined;
      keys.push(key);
      unit = gcd(unit, top - it.t);
    }
    if (unit === 0) unit = 1;
    sortKeys(keys);
    // the entries' items, flat (see encodeCompact), measured as they are gathered
    const items: unknown[] = [];
    let size = 0;
    for (let i = 0; i < keys.length; i++) {
      const it = this.entries.get(keys[i])!;
      const fields = this.codec.payloadToWire(it.p);
      const k = this.codec.keyToWire(keys[i], it);
      const code = ((top - it.t) / unit) * 2 + fields.length;
      const ks = cborLeafSize(k);
      if (ks < 0) return undefined;
      size += ks + cborLeafSize(code);
      items.push(k, code);
      for (const f of fields) {
        const fs = cborLeafSize(f);
        if (fs < 0) return undefined;
        size += fs;
        items.push(f);
      }
    }
    // [FORMAT_VERSION, tag, [unit code, r, [[0, top]], entries], owner]
    const uc = unitCode(unit);
    size += 1 + cborLeafSize(FORMAT_VERSION) + cborLeafSize(tag) + 1 + cborLeafSize(uc) + cborLeafSize(r) + 3 + cborLeafSize(top) + cborHeadSize(items.length) + cborLeafSize(owner);
    const w = cborWriter(size);
    cborWriteArrayHead(w, 4);
    cborWriteLeaf(w, FORMAT_VERSION);
    cborWriteLeaf(w, tag);
    cborWriteArrayHead(w, 4);
    cborWriteLeaf(w, uc);
    cborWriteLeaf(w, r);
    cborWriteArrayHead(w, 1);
    cborWriteArrayHead(w, 2);
    cborWriteLeaf(w, 0);
    cborWriteLeaf(w, top);
    cborWriteArrayHead(w, items.length);
    for (let i = 0; i < items.length; i++) cborWriteLeaf(w, items[i]);
    cborWriteLeaf(w, owner);
    return w.out;
  }

  read(body: unknown, what: string): LwwPatch<P, K> {
    if (Array.isArray(body) && typeof body[0] === "number") return this.readCompact(body, what);
    const b = readArray(body, what, 4, 4);
    const table = readReplicaTable(b[0], what);
    const written = baseFromWire(b[1], table, what);
    const read = contextFromWire(b[2], table, what);
    const base = completeBase(written, read.ctx);
    const entries: Array<[K, LwwItem<P>]> = [];
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

  private readCompact(body: unknown[], what: string): LwwPatch<P, K> {
    const b = readArray(body, what, 4, 5);
    if (this.codec.compact !== true) throw malformed(`${what}: not a body of this type`);
    const unit = unitFromCode(b[0], what);
    const one = typeof b[1] === "string";
    const table = one ? [readReplicaId(b[1])] : readReplicaTable(b[1], what);
    const many = table.length > 1;
    if (!one && table.length === 1) throw malformed(`${what}: a table of one id written as a table`);
    const written = b.length === 4 ? [] : baseFromWire(one ? withIndex(b[4], `${what} base`) : b[4], table, what);
    if (b.length === 5 && written.length === 0) throw malformed(`${what}: an empty base written out`);
    const read = contextFromWire(one ? withIndex(b[2], `${what} context`) : b[2], table, what);
    const base = completeBase(written, read.ctx);
    const flat = readArray(b[3], `${what} entries`);
    const entries: Array<[K, LwwItem<P>]> = [];
    let i = 0;
    while (i < flat.length) {
      const rawKey = flat[i++];
      const key = this.codec.keyFromWire(rawKey);
      if (entries.length > 0 && compareKeys(entries[entries.length - 1][0], key) >= 0) throw malformed(`${what}: entries out of order or repeated`);
      if (i >= flat.length) throw malformed(`${what}: entry cut short`);
      const r = many ? table[readIndex(flat[i++], table.length, `${what} entry`)] : table[0];
      if (r === undefined || i >= flat.length) throw malformed(`${what}: entry cut short`);
      const n = readCount(flat[i++], `${what} entry`);
      const fields = n % 2;
      if (i + fields > flat.length) throw malformed(`${what}: entry cut short`);
      const t = eventFromWire(scaled((n - fields) / 2, unit, `${what} entry`), r, read, `${what} entry`);
      entries.push([key, { r, t, p: this.codec.payloadFromWire(flat.slice(i, i + fields), rawKey) }]);
      i += fields;
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
  unheld(p: LwwPatch<P, K>, author: string): string | undefined {
    const unseen = this.ctx.unseenBy(p.ctx, author);
    if (unseen !== undefined) return unseen;
    const beats = this.beats;
    for (const [key, it] of p.entries) {
      if (it.r === author) continue;
      const mine = this.entries.get(key);
      if (mine === undefined || beats(it, mine)) return it.r;
    }
    return undefined;
  }

  patch(): LwwPatch<P, K> {
    const ctx = this.ctx.rangesSince(new Map());
    let maxTs = 0;
    for (const [, ranges] of ctx) if (ranges[ranges.length - 1] > maxTs) maxTs = ranges[ranges.length - 1];
    return { ctx, entries: this.entries, maxTs };
  }

  /** Joins another store of the same type directly (a merge), without building a patch. */
  join(other: LwwStore<P, K>): void {
    if (this.entries.size === 0) other.entries.forEach(this.take, this);
    else other.entries.forEach(this.offer, this);
    this.ctx.merge(other.ctx);
  }

  /** Sets a winner (a Map.forEach callback: value first). */
  private take(it: LwwItem<P>, key: K): void {
    this.entries.set(key, it);
  }

  /** Keeps `it` if it beats this store's winner of `key` (a Map.forEach callback). */
  private offer(it: LwwItem<P>, key: K): void {
    const mine = this.entries.get(key);
    if (mine === undefined || this.beats(it, mine)) this.entries.set(key, it);
  }

  apply(p: LwwPatch<P, K>): void {
    const beats = this.beats;
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
