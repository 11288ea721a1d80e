import { decodeCbor, encodeCbor, typeName } from "../core/codec.js";
import type { Crdt } from "../core/crdt.js";
import { invalidArgument, LichenError } from "../core/errors.js";
import { loadCrdt } from "../core/registry.js";
import type { EntityView, KvOp, KvStore } from "./kv.js";
import { headerKey, MAX_TAIL_SEQ, parseTailKey, stateKey, storedStates, storedTails, tailKey, tailPrefix } from "./keys.js";

/**
 * When dirty states are written. Each save() counts as one operation.
 * - `maxOps`: write once this many operations are pending (1: write-through).
 * - `maxDelayMs`: write once the oldest pending operation is this old. Checked
 *   on every save() and tick(): the app calls tick() from its timer (the
 *   store has no timers of its own).
 * What a power cut can lose: exactly the operations pending at that moment,
 * that is at most `maxOps - 1` operations, and none older than `maxDelayMs`
 * (plus the tick period). flush() writes everything pending.
 */
export interface CoalescePolicy {
  readonly maxOps: number;
  readonly maxDelayMs: number;
}

/** Nothing is lost: every save() is one write. For the gateway, whose disk does not wear out. */
export const WRITE_THROUGH: CoalescePolicy = Object.freeze({ maxOps: 1, maxDelayMs: 0 });
/** The device default: at most 100 operations or 5 s between writes. */
export const DEVICE_COALESCING: CoalescePolicy = Object.freeze({ maxOps: 100, maxDelayMs: 5000 });

/**
 * Incremental states: a state written whole (its base) is followed by the deltas applied to it
 * since (its tail), each stored as it came, in the same batch as today's whole write would be; a
 * load applies the tail over the base. The tail is folded into a new base once it would pass
 * `maxRatio` of the base's bytes or `maxDeltas` deltas: what a write costs stays about the
 * delta's size, and a load replays at most that much. A base under `minBaseBytes` is always
 * written whole (as cheap as a delta, and nothing to replay).
 */
export interface TailPolicy {
  readonly minBaseBytes: number;
  readonly maxRatio: number;
  readonly maxDeltas: number;
}

/** The gateway's: a 10,000-key map (about 140 KB) takes up to 1,024 one-key deltas before it is rewritten. */
export const GATEWAY_TAILS: TailPolicy = Object.freeze({ minBaseBytes: 1024, maxRatio: 1, maxDeltas: 1024 });

export interface StateStoreOptions {
  coalesce?: CoalescePolicy;
  /** Store states incrementally (see TailPolicy); without it, every write is whole. Tails are read either way. */
  tails?: TailPolicy;
  /** Milliseconds, for maxDelayMs (default Date.now). */
  now?: () => number;
  /** Hears of every batch written, with the [namespace, id] of each entity in it. */
  onFlushed?: (written: ReadonlyArray<readonly [string, string]>) => void;
}


/** A typed document's schema header: the schema's name and the newest version that wrote to it. */
export interface StoredHeader {
  readonly name: string;
  readonly version: number;
}

/** The keys once each, sorted. */
function sortedKeys(keys: Iterable<string>): string[] {
  const sorted = [...keys].sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i]!;
  sorted.length = n;
  return sorted;
}

/** [key, value] of each changed key, sorted (a view's fields). */
function fieldsOf(crdt: Crdt, keys: Iterable<string>): Array<readonly [string, unknown]> {
  const sorted = sortedKeys(keys);
  const out: Array<readonly [string, unknown]> = [];
  for (let i = 0; i < sorted.length; i++) out.push([sorted[i]!, crdt.valueAt(sorted[i]!)]);
  return out;
}

function defaultNow(): number {
  return Date.now();
}

interface Pending {
  readonly ns: string;
  readonly id: string;
  readonly crdt: Crdt;
  /**
   * The top-level keys of its value changed since the last write; undefined: the whole value. The
   * caller's list while one change is pending (most states between two writes: no Set per change).
   */
  keys: readonly string[] | Set<string> | undefined;
  /** Every delta applied to it since the last write, in order; undefined if some change came without one (written whole). */
  deltas: Uint8Array[] | undefined;
}

/** What is stored of a state's tail. */
interface Tail {
  /** The base's bytes (-1: not read yet). */
  readonly base: number;
  /** The greatest seq stored (0: none): the tail is seqs 1..count. */
  readonly count: number;
  /** The tail's bytes (-1: not read yet). */
  readonly bytes: number;
  /** The state loaded or written with this base and tail: deltas of another object do not apply to it. */
  readonly crdt: Crdt | undefined;
}

/**
 * Namespaced CRDT states over any KvStore: one key per entity, holding the
 * CRDT's own bytes (format version and type tag included). Saves are
 * coalesced to spare the flash: a burst of operations on one entity costs one
 * write, not one per operation.
 */
export class StateStore {
  private readonly policy: CoalescePolicy;
  private readonly now: () => number;
  private readonly dirty = new Map<string, Pending>();
  private ops = 0;
  private oldest = 0;
  private readonly onFlushed: ((written: ReadonlyArray<readonly [string, string]>) => void) | undefined;
  private readonly tailPolicy: TailPolicy | undefined;
  /** What is stored of the tails, by state key: listed once from the store at the first need, then kept up to date. */
  private tails: Map<string, Tail> | undefined;

  constructor(
    private readonly kv: KvStore,
    options: StateStoreOptions = {},
  ) {
    const p = options.coalesce ?? WRITE_THROUGH;
    if (!(Number.isSafeInteger(p.maxOps) && p.maxOps >= 1 && typeof p.maxDelayMs === "number" && p.maxDelayMs >= 0)) {
      throw invalidArgument("coalesce needs maxOps >= 1 and maxDelayMs >= 0");
    }
    this.policy = p;
    this.now = options.now ?? defaultNow;
    this.onFlushed = options.onFlushed;
    const t = options.tails;
    if (t !== undefined && !(Number.isSafeInteger(t.minBaseBytes) && t.minBaseBytes >= 0 && typeof t.maxRatio === "number" && t.maxRatio >= 0 && Number.isSafeInteger(t.maxDeltas) && t.maxDeltas >= 1 && t.maxDeltas <= MAX_TAIL_SEQ)) {
      throw invalidArgument(`tails needs minBaseBytes >= 0, maxRatio >= 0 and maxDeltas from 1 to ${MAX_TAIL_SEQ}`);
    }
    this.tailPolicy = t;
  }

  /**
   * Records that an entity changed; it is written now or later as the policy
   * says. `changedKeys`: the only top-level keys of its value that changed
   * (Crdt.changedKeys of the delta applied), so the readable copy is told
   * those alone; without it, the whole value changed.
   */
  save(ns: string, id: string, crdt: Crdt, changedKeys?: readonly string[]): void {
    this.stage(ns, id, crdt, changedKeys);
    this.tick();
  }

  /**
   * As save, but written only by the next flush(), whatever the policy: for a caller that flushes a
   * group of changes itself. `delta`: the bytes of the delta that made the change (applied to
   * `crdt` as it was stored or staged), so that a store keeping tails writes it alone.
   */
  stage(ns: string, id: string, crdt: Crdt, changedKeys?: readonly string[], delta?: Uint8Array): void {
    const key = stateKey(ns, id);
    if (this.dirty.size === 0) this.oldest = this.now();
    const p = this.dirty.get(key);
    const d = this.tailPolicy === undefined ? undefined : delta;
    if (p === undefined || p.crdt !== crdt) {
      this.dirty.set(key, { ns, id, crdt, keys: changedKeys, deltas: p === undefined && d !== undefined ? [d] : undefined });
    } else {
      if (changedKeys === undefined) p.keys = undefined;
      else if (p.keys !== undefined) {
        const set = p.keys instanceof Set ? p.keys : (p.keys = new Set(p.keys));
        for (const k of changedKeys) set.add(k);
      }
      if (d === undefined) p.deltas = undefined;
      else p.deltas?.push(d);
    }
    this.ops++;
  }

  /** Writes what is pending if the policy says it is time. Call it from a timer. */
  tick(): void {
    if (this.dirty.size === 0) return;
    if (this.ops >= this.policy.maxOps || this.now() - this.oldest >= this.policy.maxDelayMs) this.flush();
  }

  /**
   * Writes every pending state, in one atomic batch, with `also` (records
   * that must be stored with these states, such as an event log's entries).
   */
  flush(also: readonly KvOp[] = []): void {
    if (this.dirty.size === 0 && also.length === 0) return;
    const ops: KvOp[] = [];
    // views cost a value() each: built only for a store that keeps them
    const views: EntityView[] | undefined = this.kv.keepsViews === true ? [] : undefined;
    const written: Array<readonly [string, string]> = [];
    const tails = this.tailPolicy !== undefined ? this.tailIndex() : this.tails;
    // what the tails become once the batch is stored (a failed batch leaves them as they were)
    const after: Array<readonly [string, Tail | undefined]> = [];
    for (const [key, p] of this.dirty) {
      const t = tails?.get(key);
      const added = this.appendable(t, p);
      if (added >= 0) {
        for (let i = 0; i < p.deltas!.length; i++) ops.push({ type: "put", key: tailKey(p.ns, p.id, t!.count + i + 1), value: p.deltas![i]! });
        after.push([key, { base: t!.base, count: t!.count + p.deltas!.length, bytes: t!.bytes + added, crdt: p.crdt }]);
      } else {
        // written whole: a new base, and the tail it replaces goes in the same batch
        const value = p.crdt.toBytes();
        ops.push({ type: "put", key, value });
        if (t !== undefined) for (let seq = 1; seq <= t.count; seq++) ops.push({ type: "delete", key: tailKey(p.ns, p.id, seq) });
        if (this.tailPolicy !== undefined) after.push([key, { base: value.length, count: 0, bytes: 0, crdt: p.crdt }]);
        else if (t !== undefined) after.push([key, undefined]);
      }
      written.push([p.ns, p.id]);
      if (views === undefined) continue;
      const type = typeName(p.crdt.typeTag);
      const crdt = p.crdt;
      if (p.keys === undefined) views.push({ namespace: p.ns, id: p.id, type, value: crdt.value() });
      else views.push({ namespace: p.ns, id: p.id, type, fields: fieldsOf(crdt, p.keys), wholeValue: crdt.value.bind(crdt) });
    }
    for (const op of also) ops.push(op);
    this.kv.batch(ops, views);
    for (const [key, t] of after) {
      if (t === undefined) tails!.delete(key);
      else tails!.set(key, t);
    }
    this.dirty.clear();
    this.ops = 0;
    if (written.length > 0) this.onFlushed?.(written);
  }

  /** The bytes a pending state's deltas add to its tail, or -1 if it is to be written whole. */
  private appendable(t: Tail | undefined, p: Pending): number {
    const policy = this.tailPolicy;
    if (policy === undefined || p.deltas === undefined || t === undefined || t.crdt !== p.crdt || t.base < policy.minBaseBytes || t.bytes < 0) return -1;
    if (t.count + p.deltas.length > policy.maxDeltas) return -1;
    let added = 0;
    for (const d of p.deltas) added += d.length;
    return t.bytes + added <= t.base * policy.maxRatio ? added : -1;
  }

  /**
   * What this store knows of the tails. A store keeping tails writes them, and no one else may: it
   * lists them once (one keys() of the store) and keeps the list up to date. A store keeping none
   * (a reader, a node) knows only the tails it read, to delete them with its next whole write.
   */
  private tailIndex(): Map<string, Tail> {
    let tails = this.tails;
    if (tails === undefined) {
      tails = new Map();
      if (this.tailPolicy !== undefined) for (const [key, list] of storedTails(this.kv)) tails.set(key, { base: -1, count: list[list.length - 1]![0], bytes: -1, crdt: undefined });
      this.tails = tails;
    }
    return tails;
  }

  /** The greatest seq of a state's stored tail (0: none): from the index of a store keeping tails, else read now (another store may write them). */
  private tailCount(ns: string, id: string, key: string): number {
    if (this.tailPolicy !== undefined) return this.tailIndex().get(key)?.count ?? 0;
    let count = 0;
    for (const k of this.kv.keys(tailPrefix(ns, id))) {
      const p = parseTailKey(k);
      if (p !== undefined && p[1] === id && p[2] > count) count = p[2];
    }
    return count;
  }

  /** True if an entity has changes saved but not yet written. */
  isPending(ns: string, id: string): boolean {
    return this.dirty.has(stateKey(ns, id));
  }

  /** When the oldest pending change is due to be written (undefined if none is pending). */
  get dueAt(): number | undefined {
    return this.dirty.size === 0 ? undefined : this.oldest + this.policy.maxDelayMs;
  }

  /** Operations saved but not yet written: what a power cut now would lose. */
  get pendingOps(): number {
    return this.ops;
  }

  /** Loads an entity with its type's fromBytes; a pending save is returned as it is in memory. */
  load<C extends Crdt>(ns: string, id: string, fromBytes: (bytes: Uint8Array) => C): C | undefined {
    const key = stateKey(ns, id);
    const p = this.dirty.get(key);
    if (p !== undefined) return p.crdt as C;
    const bytes = this.kv.get(key);
    if (bytes === undefined) return undefined;
    let crdt: C;
    try {
      crdt = fromBytes(bytes);
    } catch (e) {
      if (e instanceof LichenError && e.code !== "INVALID_ARGUMENT") {
        throw new LichenError("CORRUPT", `stored state ${ns}/${id} is unreadable: ${e.message}`);
      }
      throw e;
    }
    const count = this.tailCount(ns, id, key);
    const tailBytes = this.replayTail(ns, id, crdt, count);
    if (this.tailPolicy !== undefined || count > 0) this.tailIndex().set(key, { base: bytes.length, count, bytes: tailBytes, crdt });
    else this.tails?.delete(key);
    return crdt;
  }

  /** Applies a state's stored tail (seqs 1..count) to it; returns the tail's bytes. */
  private replayTail(ns: string, id: string, crdt: Crdt, count: number): number {
    let total = 0;
    for (let seq = 1; seq <= count; seq++) {
      const d = this.kv.get(tailKey(ns, id, seq));
      if (d === undefined) continue;
      total += d.length;
      try {
        crdt.replayDelta(d);
      } catch (e) {
        if (e instanceof LichenError) throw new LichenError("CORRUPT", `stored state ${ns}/${id} is unreadable: delta ${seq} of its tail: ${e.message}`);
        throw e;
      }
    }
    return total;
  }

  /**
   * The bytes of an entity's stored state, as one whole write would store them (its tail, if any,
   * applied over its base); a pending save is not among them.
   */
  storedBytes(ns: string, id: string): Uint8Array | undefined {
    const key = stateKey(ns, id);
    const bytes = this.kv.get(key);
    if (bytes === undefined) return undefined;
    const count = this.tailCount(ns, id, key);
    if (count === 0) return bytes;
    let crdt: Crdt;
    try {
      crdt = loadCrdt(bytes);
    } catch (e) {
      if (e instanceof LichenError && e.code !== "INVALID_ARGUMENT") throw new LichenError("CORRUPT", `stored state ${ns}/${id} is unreadable: ${e.message}`);
      throw e;
    }
    this.replayTail(ns, id, crdt, count);
    return crdt.toBytes();
  }

  delete(ns: string, id: string): void {
    const key = stateKey(ns, id);
    this.dirty.delete(key);
    const ops: KvOp[] = [{ type: "delete", key }, { type: "delete", key: headerKey(ns, id) }];
    const count = this.tailCount(ns, id, key);
    for (let seq = 1; seq <= count; seq++) ops.push({ type: "delete", key: tailKey(ns, id, seq) });
    this.kv.batch(ops, [{ namespace: ns, id, type: "", value: undefined }]);
    this.tails?.delete(key);
  }

  /**
   * The stored schema header of a typed document (see SyncOptions.documents), or undefined. An
   * unreadable header reads as none: it describes the state, it is not part of it.
   */
  header(ns: string, id: string): StoredHeader | undefined {
    stateKey(ns, id);
    const bytes = this.kv.get(headerKey(ns, id));
    if (bytes === undefined) return undefined;
    try {
      const h = decodeCbor(bytes);
      if (Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && Number.isSafeInteger(h[1]) && (h[1] as number) >= 1) return { name: h[0], version: h[1] as number };
    } catch {
      // unreadable: none
    }
    return undefined;
  }

  /** Stores a typed document's schema header (one small write; the engine calls it only when the header changes). */
  saveHeader(ns: string, id: string, header: StoredHeader): void {
    stateKey(ns, id);
    this.kv.put(headerKey(ns, id), encodeCbor([header.name, header.version]));
  }

  /** Every saved entity as [namespace, id], sorted. */
  all(): Array<[string, string]> {
    const out = new Map<string, [string, string]>();
    for (const [ns, id] of storedStates(this.kv)) out.set(stateKey(ns, id), [ns, id]);
    for (const [k, p] of this.dirty) out.set(k, [p.ns, p.id]);
    return [...out.keys()].sort().map((k) => out.get(k)!);
  }

  /** The ids saved in a namespace, sorted. */
  list(ns: string): string[] {
    const ids = new Set(storedStates(this.kv, ns).map(([, id]) => id));
    for (const p of this.dirty.values()) if (p.ns === ns) ids.add(p.id);
    return [...ids].sort();
  }
}
