import { hasControlChar } from "../core/checks.js";
import { invalidArgument, LichenError } from "../core/errors.js";

/** One change in an atomic batch. */
export type KvOp = { readonly type: "put"; readonly key: string; readonly value: Uint8Array } | { readonly type: "delete"; readonly key: string };

/** The stores that keep mirror rows: StateStore ("state") and CrdtDb ("entity"). */
export type MirrorStore = "state" | "entity";

/**
 * A readable copy of one entity, handed to `batch` beside the raw bytes. A
 * backend that can keep it (SQLite on the gateway: one row per entity as
 * JSON, plus a changes table ordered by db_version) stores it in the same
 * transaction; the others ignore it, and are never handed one (see
 * `keepsViews`).
 */
export interface EntityView {
  /**
   * Which store the entity belongs to: "state" (StateStore, the synced CRDT documents; the
   * default) or "entity" (CrdtDb). A namespace and an entity type of the same name are two
   * rows of the mirror, never one.
   */
  readonly store?: MirrorStore;
  readonly namespace: string;
  readonly id: string;
  /** The CRDT or entity type name, e.g. "LWWMap" or "Sensor@2". */
  readonly type: string;
  /** The entity's whole value as plain JSON-able data; undefined when it was deleted (and no `fields` are given). */
  readonly value?: unknown;
  /**
   * Instead of `value`: only these top-level fields of the value changed,
   * each with its new value (undefined: the field was removed). What a delta
   * carries, so a one-field change on a large entity stays small.
   */
  readonly fields?: ReadonlyArray<readonly [string, unknown]>;
  /** With `fields`: the whole value, asked for only if the backend has no copy to change. */
  readonly wholeValue?: () => unknown;
}

/**
 * The one storage interface every lichen store runs on: the device's flash
 * (FlashKv), SQLite on the gateway (SqliteKv) and memory (MemoryKv).
 * Synchronous, because every backend is (NVS, better-sqlite3), and because a
 * promise per read costs memory on the device.
 *
 * Keys are strings of 1 to 255 characters without control characters; a
 * backend with shorter keys (NVS: 15) maps them. Values are bytes; a backend
 * with smaller values (NVS: 4,000 bytes) chunks them. A put or a batch that
 * returned is durable; one cut short by a power loss leaves either all of it
 * or none of it.
 */
export interface KvStore {
  /** The bytes stored under a key, or undefined. The caller owns the returned array. */
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Every key that starts with `prefix` (all keys without one), in code-unit order. */
  keys(prefix?: string): string[];
  /** Applies every operation, in order, or none of them. `views` describe the entities the batch writes (see EntityView). */
  batch(ops: readonly KvOp[], views?: readonly EntityView[]): void;
  /** True if `batch` keeps the views it is given: only then are they worth building (a value() per entity written). */
  readonly keepsViews?: boolean;
  close(): void;
}

export const MAX_KV_KEY_LENGTH = 255;

/** Checks a key given to a store. */
export function checkKvKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KV_KEY_LENGTH) {
    throw invalidArgument(`store keys are strings of 1 to ${MAX_KV_KEY_LENGTH} characters`);
  }
  if (hasControlChar(key)) throw invalidArgument("store keys must not contain control characters");
  return key;
}

export function checkKvValue(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgument("store values are Uint8Arrays");
  return value;
}

/** Checks a whole batch before any of it is applied. */
export function checkBatch(ops: readonly KvOp[]): void {
  if (!Array.isArray(ops)) throw invalidArgument("a batch is an array of operations");
  for (const op of ops) {
    if (op === null || typeof op !== "object") throw invalidArgument("a batch operation is an object");
    checkKvKey(op.key);
    if (op.type === "put") checkKvValue(op.value);
    else if (op.type !== "delete") throw invalidArgument(`unknown batch operation ${JSON.stringify((op as { type: unknown }).type)}`);
  }
}

export function closedError(what: string): LichenError {
  return new LichenError("CLOSED", `${what} is closed`);
}

function copy(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** A KvStore in memory: for tests, caches, and nodes that keep nothing across restarts. */
export class MemoryKv implements KvStore {
  private readonly data = new Map<string, Uint8Array>();
  private open = true;

  get(key: string): Uint8Array | undefined {
    this.check();
    const v = this.data.get(checkKvKey(key));
    return v === undefined ? undefined : copy(v);
  }

  put(key: string, value: Uint8Array): void {
    this.check();
    this.data.set(checkKvKey(key), copy(checkKvValue(value)));
  }

  delete(key: string): void {
    this.check();
    this.data.delete(checkKvKey(key));
  }

  keys(prefix = ""): string[] {
    this.check();
    const out: string[] = [];
    for (const k of this.data.keys()) if (k.startsWith(prefix)) out.push(k);
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  batch(ops: readonly KvOp[], _views?: readonly EntityView[]): void {
    this.check();
    checkBatch(ops);
    for (const op of ops) {
      if (op.type === "put") this.data.set(op.key, copy(op.value));
      else this.data.delete(op.key);
    }
  }

  close(): void {
    this.open = false;
  }

  private check(): void {
    if (!this.open) throw closedError("this MemoryKv");
  }
}
