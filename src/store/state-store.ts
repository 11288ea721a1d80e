import { decodeCbor, encodeCbor, typeName } from "../core/codec.js";
import type { Crdt } from "../core/crdt.js";
import { invalidArgument, LichenError } from "../core/errors.js";
import type { EntityView, KvOp, KvStore } from "./kv.js";
import { headerKey, stateKey, storedStates } from "./keys.js";

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

export interface StateStoreOptions {
  coalesce?: CoalescePolicy;
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

function defaultNow(): number {
  return Date.now();
}

interface Pending {
  readonly ns: string;
  readonly id: string;
  readonly crdt: Crdt;
  /** The top-level keys of its value changed since the last write; undefined: the whole value. */
  keys: Set<string> | undefined;
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

  /** As save, but written only by the next flush(), whatever the policy: for a caller that flushes a group of changes itself. */
  stage(ns: string, id: string, crdt: Crdt, changedKeys?: readonly string[]): void {
    const key = stateKey(ns, id);
    if (this.dirty.size === 0) this.oldest = this.now();
    const p = this.dirty.get(key);
    if (p === undefined || p.crdt !== crdt) this.dirty.set(key, { ns, id, crdt, keys: changedKeys === undefined ? undefined : new Set(changedKeys) });
    else if (changedKeys === undefined) p.keys = undefined;
    else if (p.keys !== undefined) for (const k of changedKeys) p.keys.add(k);
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
    for (const [key, p] of this.dirty) {
      ops.push({ type: "put", key, value: p.crdt.toBytes() });
      written.push([p.ns, p.id]);
      if (views === undefined) continue;
      const type = typeName(p.crdt.typeTag);
      const crdt = p.crdt;
      if (p.keys === undefined) views.push({ namespace: p.ns, id: p.id, type, value: crdt.value() });
      else views.push({ namespace: p.ns, id: p.id, type, fields: [...p.keys].sort().map((k) => [k, crdt.valueAt(k)] as const), wholeValue: () => crdt.value() });
    }
    for (const op of also) ops.push(op);
    this.kv.batch(ops, views);
    this.dirty.clear();
    this.ops = 0;
    if (written.length > 0) this.onFlushed?.(written);
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
    try {
      return fromBytes(bytes);
    } catch (e) {
      if (e instanceof LichenError && e.code !== "INVALID_ARGUMENT") {
        throw new LichenError("CORRUPT", `stored state ${ns}/${id} is unreadable: ${e.message}`);
      }
      throw e;
    }
  }

  /** The bytes stored for an entity as they are on disk (a pending save is not among them). */
  storedBytes(ns: string, id: string): Uint8Array | undefined {
    return this.kv.get(stateKey(ns, id));
  }

  delete(ns: string, id: string): void {
    const key = stateKey(ns, id);
    this.dirty.delete(key);
    this.kv.batch([{ type: "delete", key }, { type: "delete", key: headerKey(ns, id) }], [{ namespace: ns, id, type: "", value: undefined }]);
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
