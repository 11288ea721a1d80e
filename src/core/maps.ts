import { readString, TypeTag, typeName, readArray, readCount } from "./codec.js";
import { GCounter, PNCounter } from "./counters.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { DotStore, type Dotted, type DotStorePatch, type EntryCodec } from "./dot-store.js";
import { invalidArgument, LichenError, malformed } from "./errors.js";
import { LWWRegister } from "./lww-register.js";
import { LwwStore, type LwwCodec, type LwwPatch } from "./lww-store.js";
import { MVRegister } from "./mv-register.js";
import { GSet, LWWSet, ORSet, TwoPSet } from "./sets.js";
import { compareKeys, copyValue, valueFromWire, valueToWire, type Value } from "./value.js";
import type { VersionVector } from "./version-vector.js";

/** Longest map key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024;

function checkKey(key: unknown): string {
  if (typeof key !== "string") throw invalidArgument("map keys must be strings");
  if (key.length > MAX_KEY_LENGTH) throw invalidArgument(`map keys must be at most ${MAX_KEY_LENGTH} characters`);
  return key;
}

function readKey(x: unknown): string {
  const k = readString(x, "map key");
  if (k.length > MAX_KEY_LENGTH) throw malformed("map key too long");
  return k;
}

/** A plain object from entries; "__proto__" and friends become ordinary keys. */
function toObject<V>(entries: Iterable<readonly [string, V]>): { [key: string]: V } {
  const out: { [key: string]: V } = {};
  const rows = [...entries].sort((a, b) => compareKeys(a[0], b[0]));
  for (const [k, v] of rows) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

// ---- last-writer-wins map ----

/** A map entry's payload: its value, or undefined once deleted (kept so older concurrent writes lose). */
type Slot = Value | undefined;

const LWW_MAP_CODEC: LwwCodec<Slot> = Object.freeze({
  keyToWire: (key: string) => key,
  keyFromWire: readKey,
  payloadToWire: (p: Slot) => (p === undefined ? [] : [valueToWire(p)]),
  payloadFromWire: (fields: unknown[]) => {
    if (fields.length > 1) throw malformed("LWWMap: entry of bad length");
    return fields.length === 0 ? undefined : valueFromWire(fields[0]);
  },
  compact: true,
});

/** A map whose keys each hold a last-writer-wins value. A delete is a write too, and wins over older writes. */
export class LWWMap<T extends Value = Value> extends Crdt<LwwPatch<Slot>> {
  private readonly store = new LwwStore<Slot>(LWW_MAP_CODEC);

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): LWWMap<T> {
    return Crdt.restore((r) => new LWWMap<T>(r, options), TypeTag.LWWMap, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.LWWMap;
  }

  set(key: string, value: T): void {
    const k = checkKey(key);
    const v = copyValue(value);
    this.store.put(k, { r: this.replica, t: this.clock.now(), p: v });
  }

  get(key: string): T | undefined {
    return this.store.entries.get(key)?.p as T | undefined;
  }

  has(key: string): boolean {
    return this.store.entries.get(key)?.p !== undefined;
  }

  /** Deletes a key. Returns false if it was absent. */
  delete(key: string): boolean {
    const k = checkKey(key);
    if (!this.has(k)) return false;
    this.store.put(k, { r: this.replica, t: this.clock.now(), p: undefined });
    return true;
  }

  /** The HLC timestamp of a key's latest write or delete (0 if never written). */
  timestamp(key: string): number {
    return this.store.entries.get(key)?.t ?? 0;
  }

  keys(): string[] {
    return this.entries().map((e) => e[0]);
  }

  /** Present entries, sorted by key. */
  entries(): Array<[string, T]> {
    const out: Array<[string, T]> = [];
    for (const [k, it] of this.store.entries) if (it.p !== undefined) out.push([k, it.p as T]);
    return out.sort((a, b) => compareKeys(a[0], b[0]));
  }

  get size(): number {
    let n = 0;
    for (const it of this.store.entries.values()) if (it.p !== undefined) n++;
    return n;
  }

  value(): { [key: string]: T } {
    return toObject(this.entries());
  }

  version(): VersionVector {
    return this.store.ctx.version();
  }

  protected override seenUpTo(replica: string): number {
    return this.store.ctx.prefix(replica);
  }

  override seenBy(known: VersionVector): boolean {
    return this.store.ctx.prefixWithin(known.map);
  }

  protected encodeBody(since: ReadonlyMap<string, number>, upTo?: number): unknown {
    return this.store.encode(since, upTo);
  }

  protected override wholeBytes(): Uint8Array | undefined {
    return this.store.wholeBytes(this.typeTag, this.replica);
  }

  protected override cutIds(since: ReadonlyMap<string, number>): number[] {
    return this.store.cutIds(since);
  }

  protected unheldOrigin(patch: LwwPatch<Slot>, author: string): string | undefined {
    return this.store.unheld(patch, author);
  }

  protected readBody(body: unknown): LwwPatch<Slot> {
    return this.store.read(body, "LWWMap");
  }

  /** Each key's winner travels with the key (a delete too): the keys of the entries are all a delta changes. */
  protected override patchKeys(patch: LwwPatch<Slot>): string[] {
    const keys: string[] = [];
    for (const [key] of patch.entries) keys.push(key);
    return keys;
  }

  override valueAt(key: string): T | undefined {
    return this.get(key);
  }

  protected statePatch(): LwwPatch<Slot> {
    return this.store.patch();
  }

  protected applyPatch(patch: LwwPatch<Slot>): void {
    this.store.apply(patch);
  }

  protected empty(replica: string): this {
    return new LWWMap<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

// ---- add-wins map of CRDTs ----

/**
 * How many AWMaps may nest in one another, the outermost included. Every operation on an AWMap
 * (merge, encode, decode, read, the authorship check) recurses once per nested AWMap, and the device
 * has 512 slots of stack: this many levels are measured to fit it (host-tests/core/deep-nesting.test.ts).
 * Deeper maps are refused: MALFORMED from bytes, INVALID_ARGUMENT from a caller.
 */
export const AWMAP_MAX_NESTING = 3;

/** A CRDT class that can be nested in an AWMap. */
export interface CrdtClass<C extends Crdt = Crdt> {
  new (replica: string, options?: CrdtOptions): C;
}

/**
 * A map from string keys to CRDTs (any lichen type, AWMap included), with
 * add-wins keys (Almeida et al. 2018's OR-Map). Each write to a key, a `set`
 * or an `update`, is an event that holds a snapshot of the key's value and
 * supersedes the events it has seen. A delete drops the events it has seen;
 * a concurrent write survives it, with its value. Concurrent writes are all
 * kept and read as the join of their values. No tombstones are kept.
 *
 * A delta carries each changed key's whole value: cheap for counters and
 * registers, heavier for a large nested set.
 */
export class AWMap extends Crdt<DotStorePatch<Crdt>> {
  private readonly store = new DotStore<Crdt>();
  private readonly codec: EntryCodec<Crdt>;
  /** The AWMaps this one is nested in, as the map that made it counts them (0: a map of the caller's). */
  private nesting = 0;

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
    // nested values belong to this replica and share its clock
    const make = (tag: number): Crdt => this.make(tag);
    this.codec = {
      keyToWire: (key: string) => key,
      keyFromWire: (x: unknown) => ({ key: readKey(x) }),
      perItem: true,
      payloadToWire: (v: Crdt) => [v.typeTag, Crdt.bodyOf(v)],
      payloadFromWire: (x: unknown) => {
        const pair = readArray(x, "AWMap value", 2, 2);
        const v = make(readCount(pair[0], "AWMap value type"));
        return { v, maxTs: Crdt.loadBody(v, pair[1]) };
      },
    };
  }

  static fromBytes(bytes: Uint8Array, replica?: string, options?: CrdtOptions): AWMap {
    return Crdt.restore((r) => new AWMap(r, options), TypeTag.AWMap, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.AWMap;
  }

  private make(tag: number): Crdt {
    const ctor = nestedClass(tag);
    if (ctor === undefined) throw malformed(`AWMap: ${typeName(tag)} cannot be nested`);
    const v = new ctor(this.replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes });
    if (v instanceof AWMap) {
      // bytes are decoded through here, one nested map at a time: too deep is refused before it recurses
      if (!this.fits(1)) throw malformed(`AWMap: maps nested more than ${AWMAP_MAX_NESTING} deep`);
      v.nesting = this.nesting + 1;
    }
    return v;
  }

  /** Whether this map can hold a value of `levels` levels of AWMap (0: not a map). */
  private fits(levels: number): boolean {
    return this.nesting + 1 + levels <= AWMAP_MAX_NESTING;
  }

  /** The levels of AWMap in `v` (0 if it is not one), counted with a stack of its own. */
  private static levels(v: Crdt): number {
    if (!(v instanceof AWMap)) return 0;
    let most = 0;
    const open: Array<[AWMap, number]> = [[v, 1]];
    for (let next = open.pop(); next !== undefined; next = open.pop()) {
      const [m, depth] = next;
      if (depth > most) most = depth;
      if (depth > AWMAP_MAX_NESTING) break; // too deep already: no need to count further
      for (const items of m.store.entries.values()) for (const it of items) if (it.v instanceof AWMap) open.push([it.v, depth + 1]);
    }
    return most;
  }

  /** Puts a copy of a CRDT's state under a key, replacing what this replica has seen there. */
  set(key: string, value: Crdt): void {
    const k = checkKey(key);
    if (!(value instanceof Crdt) || nestedClass(value.typeTag) === undefined) throw invalidArgument("AWMap values must be lichen CRDTs");
    if (!this.fits(AWMap.levels(value))) throw invalidArgument(`AWMaps may nest at most ${AWMAP_MAX_NESTING} deep`);
    const v = this.make(value.typeTag);
    Crdt.join(v, value);
    this.write(k, v);
  }

  /**
   * Changes the CRDT under a key in place: `fn` gets the current value (a new
   * `type` if the key is absent) and mutates it. Returns that value.
   */
  update<C extends Crdt>(key: string, type: CrdtClass<C>, fn: (value: C) => void): C {
    const k = checkKey(key);
    const current = this.joined(k);
    let v: C;
    if (current === undefined) {
      v = new type(this.replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes });
      if (nestedClass(v.typeTag) === undefined) throw invalidArgument("AWMap values must be lichen CRDTs");
      if (v instanceof AWMap) {
        if (!this.fits(1)) throw invalidArgument(`AWMaps may nest at most ${AWMAP_MAX_NESTING} deep`);
        v.nesting = this.nesting + 1;
      }
    } else if (current instanceof type) v = current;
    else throw new LichenError("WRONG_TYPE", `key ${JSON.stringify(k)} holds a ${typeName(current.typeTag)}, not a ${type.name}`);
    fn(v);
    // fn may have merged a deeper map into it: checked before anything is written
    if (!this.fits(AWMap.levels(v))) throw invalidArgument(`AWMaps may nest at most ${AWMAP_MAX_NESTING} deep`);
    this.write(k, v);
    return v;
  }

  private write(key: string, v: Crdt): void {
    const t = this.clock.now();
    this.store.replace(key, { r: this.replica, t, v });
  }

  /** A snapshot of the value under a key: changing it changes nothing here (use `update`). */
  get(key: string): Crdt | undefined {
    return this.joined(key);
  }

  has(key: string): boolean {
    return this.store.entries.has(key);
  }

  /** Deletes a key as far as this replica has seen it. Returns false if absent. */
  delete(key: string): boolean {
    const k = checkKey(key);
    if (!this.store.entries.has(k)) return false;
    const t = this.clock.now();
    this.store.removeKey(k, this.replica, t);
    this.store.addEvent(this.replica, t);
    return true;
  }

  keys(): string[] {
    return [...this.store.entries.keys()].sort(compareKeys);
  }

  get size(): number {
    return this.store.entries.size;
  }

  /** Plain values: each key's CRDT read with its own `value()`. */
  value(): { [key: string]: unknown } {
    const rows: Array<[string, unknown]> = [];
    for (const key of this.store.entries.keys()) rows.push([key, this.joined(key)?.value()]);
    return toObject(rows);
  }

  /** The join of a key's concurrent values, as a new instance. Values of another type than the latest write's are left out. */
  private joined(key: string): Crdt | undefined {
    const items = this.store.entries.get(key);
    if (items === undefined) return undefined;
    let top: Dotted<Crdt> = items[0];
    for (const it of items) if (it.t > top.t || (it.t === top.t && it.r > top.r)) top = it;
    const out = this.make(top.v.typeTag);
    for (const it of items) if (it.v.typeTag === top.v.typeTag) Crdt.join(out, it.v);
    return out;
  }

  version(): VersionVector {
    return this.store.ctx.version();
  }

  protected override seenUpTo(replica: string): number {
    return this.store.ctx.prefix(replica);
  }

  override seenBy(known: VersionVector): boolean {
    return this.store.ctx.prefixWithin(known.map);
  }

  protected encodeBody(since: ReadonlyMap<string, number>, upTo?: number): unknown {
    return this.store.encode(since, this.codec, upTo);
  }

  protected override cutIds(since: ReadonlyMap<string, number>): number[] {
    return this.store.cutIds(since);
  }

  /** A new value of `author` under a key holds a join of what it saw there: other replicas' events in it must be held in that key's values. */
  protected unheldOrigin(patch: DotStorePatch<Crdt>, author: string): string | undefined {
    return this.store.unheld(patch, author, (key, v) => {
      const here = this.make(v.typeTag);
      for (const it of this.store.entries.get(key) ?? []) if (it.v.typeTag === v.typeTag) Crdt.join(here, it.v);
      return Crdt.unheldIn(here, v, author);
    });
  }

  protected readBody(body: unknown): DotStorePatch<Crdt> {
    return DotStore.read(body, this.codec, "AWMap");
  }

  protected statePatch(): DotStorePatch<Crdt> {
    return this.store.patch();
  }

  protected applyPatch(patch: DotStorePatch<Crdt>): void {
    this.store.apply(patch);
  }

  protected empty(replica: string): this {
    return new AWMap(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

/** The CRDT class an AWMap can hold under a wire tag (every type but the sequences). */
export function nestedClass(tag: number): CrdtClass | undefined {
  switch (tag) {
    case TypeTag.GCounter:
      return GCounter;
    case TypeTag.PNCounter:
      return PNCounter;
    case TypeTag.LWWRegister:
      return LWWRegister;
    case TypeTag.MVRegister:
      return MVRegister;
    case TypeTag.GSet:
      return GSet;
    case TypeTag.TwoPSet:
      return TwoPSet;
    case TypeTag.ORSet:
      return ORSet;
    case TypeTag.LWWSet:
      return LWWSet;
    case TypeTag.LWWMap:
      return LWWMap;
    case TypeTag.AWMap:
      return AWMap;
    default:
      return undefined;
  }
}
