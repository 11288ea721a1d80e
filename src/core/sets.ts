import { TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { DotStore, type DotStorePatch, type EntryCodec } from "./dot-store.js";
import { malformed } from "./errors.js";
import { later, LwwStore, type LwwCodec, type LwwItem, type LwwPatch } from "./lww-store.js";
import { compareKeys, copyValue, elementKey, valueFromWire, valueToWire, type ElementKey, type Value } from "./value.js";
import type { VersionVector } from "./version-vector.js";

/** Elements in canonical order, the order `value()` returns them in on every engine. */
function sortedValues<V>(pairs: Iterable<readonly [ElementKey, V]>, keep: (v: V) => boolean, get: (v: V) => Value): Value[] {
  const rows = [...pairs].filter((p) => keep(p[1])).sort((a, b) => compareKeys(a[0], b[0]));
  return rows.map((p) => get(p[1]));
}

// ---- grow-only set ----

const GSET_CODEC: LwwCodec<Value, ElementKey> = Object.freeze({
  keyToWire: (_key: ElementKey, it: LwwItem<Value>) => valueToWire(it.p),
  keyFromWire: (x: unknown) => elementKey(valueFromWire(x)),
  payloadToWire: () => [],
  payloadFromWire: (fields: unknown[], key: unknown) => {
    if (fields.length !== 0) throw malformed("GSet: unexpected fields");
    return valueFromWire(key);
  },
});

/** Base of the sets that keep one winning event per element. */
abstract class LwwKeyedSet<P> extends Crdt<LwwPatch<P, ElementKey>> {
  protected readonly store: LwwStore<P, ElementKey>;

  constructor(replica: string, options: CrdtOptions | undefined, codec: LwwCodec<P, ElementKey>) {
    super(replica, options);
    this.store = new LwwStore(codec);
  }

  version(): VersionVector {
    return this.store.ctx.version();
  }

  protected override seenUpTo(replica: string): number {
    return this.store.ctx.prefix(replica);
  }

  protected encodeBody(since: ReadonlyMap<string, number>, upTo?: number): unknown {
    return this.store.encode(since, upTo);
  }

  protected override cutIds(since: ReadonlyMap<string, number>): number[] {
    return this.store.cutIds(since);
  }

  protected unheldOrigin(patch: LwwPatch<P, ElementKey>, author: string): string | undefined {
    return this.store.unheld(patch, author);
  }

  protected statePatch(): LwwPatch<P, ElementKey> {
    return this.store.patch();
  }

  protected applyPatch(patch: LwwPatch<P, ElementKey>): void {
    this.store.apply(patch);
  }

  /** Joins another set of the same type directly, without building a patch. */
  override merge(other: this): this {
    if (!(other instanceof LwwKeyedSet) || other.typeTag !== this.typeTag) return super.merge(other);
    const maxTs = other.store.ctx.maxSeen();
    this.clock.check(maxTs);
    this.store.join(other.store);
    this.clock.observe(maxTs);
    return this;
  }

  /** A copy made directly, without building a patch. */
  override clone(): this {
    const c = this.empty(this.replica);
    c.store.join(this.store);
    return c;
  }
}

/** A grow-only set. */
export class GSet<T extends Value = Value> extends LwwKeyedSet<Value> {
  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options, GSET_CODEC);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): GSet<T> {
    return Crdt.restore((r) => new GSet<T>(r, options), TypeTag.GSet, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.GSet;
  }

  add(element: T): void {
    const v = copyValue(element);
    const key = elementKey(v);
    if (this.store.entries.has(key)) return;
    this.store.put(key, { r: this.replica, t: this.clock.now(), p: v });
  }

  has(element: T): boolean {
    return this.store.entries.has(elementKey(element));
  }

  get size(): number {
    return this.store.entries.size;
  }

  value(): T[] {
    return sortedValues(this.store.entries, () => true, (it) => it.p) as T[];
  }

  protected readBody(body: unknown): LwwPatch<Value, ElementKey> {
    return this.store.read(body, "GSet");
  }

  protected empty(replica: string): this {
    return new GSet<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

// ---- two-phase set ----

interface TwoPhase {
  readonly value: Value;
  readonly removed: boolean;
}

const TWO_P_CODEC: LwwCodec<TwoPhase, ElementKey> = Object.freeze({
  keyToWire: (_key: ElementKey, it: LwwItem<TwoPhase>) => valueToWire(it.p.value),
  keyFromWire: (x: unknown) => elementKey(valueFromWire(x)),
  payloadToWire: (p: TwoPhase) => (p.removed ? [true] : []),
  payloadFromWire: (fields: unknown[], key: unknown) => {
    if (fields.length > 1 || (fields.length === 1 && fields[0] !== true)) throw malformed("TwoPSet: bad removal flag");
    return { value: valueFromWire(key), removed: fields.length === 1 };
  },
  // a removal is final: it beats any add, whatever the timestamps
  beats: (a: LwwItem<TwoPhase>, b: LwwItem<TwoPhase>) => (a.p.removed !== b.p.removed ? a.p.removed : later(a, b)),
});

/** A two-phase set: an element can be added, then removed for good. */
export class TwoPSet<T extends Value = Value> extends LwwKeyedSet<TwoPhase> {
  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options, TWO_P_CODEC);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): TwoPSet<T> {
    return Crdt.restore((r) => new TwoPSet<T>(r, options), TypeTag.TwoPSet, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.TwoPSet;
  }

  /** Adds an element. Adding an element that was removed does nothing: removal is final. */
  add(element: T): void {
    const v = copyValue(element);
    const key = elementKey(v);
    if (this.store.entries.has(key)) return;
    this.store.put(key, { r: this.replica, t: this.clock.now(), p: { value: v, removed: false } });
  }

  /** Removes an element for good. Returns false if it was not in the set. */
  remove(element: T): boolean {
    const key = elementKey(copyValue(element));
    const it = this.store.entries.get(key);
    if (it === undefined || it.p.removed) return false;
    this.store.put(key, { r: this.replica, t: this.clock.now(), p: { value: it.p.value, removed: true } });
    return true;
  }

  has(element: T): boolean {
    const it = this.store.entries.get(elementKey(element));
    return it !== undefined && !it.p.removed;
  }

  /** True if the element was removed (and so can never come back). */
  isRemoved(element: T): boolean {
    return this.store.entries.get(elementKey(element))?.p.removed === true;
  }

  get size(): number {
    let n = 0;
    for (const it of this.store.entries.values()) if (!it.p.removed) n++;
    return n;
  }

  value(): T[] {
    return sortedValues(this.store.entries, (it) => !it.p.removed, (it) => it.p.value) as T[];
  }

  protected readBody(body: unknown): LwwPatch<TwoPhase, ElementKey> {
    return this.store.read(body, "TwoPSet");
  }

  protected empty(replica: string): this {
    return new TwoPSet<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

// ---- last-writer-wins element set ----

interface Presence {
  readonly value: Value;
  readonly present: boolean;
}

const LWW_SET_CODEC: LwwCodec<Presence, ElementKey> = Object.freeze({
  keyToWire: (_key: ElementKey, it: LwwItem<Presence>) => valueToWire(it.p.value),
  keyFromWire: (x: unknown) => elementKey(valueFromWire(x)),
  payloadToWire: (p: Presence) => (p.present ? [] : [false]),
  payloadFromWire: (fields: unknown[], key: unknown) => {
    if (fields.length > 1 || (fields.length === 1 && fields[0] !== false)) throw malformed("LWWSet: bad presence flag");
    return { value: valueFromWire(key), present: fields.length === 0 };
  },
});

/** A set where the latest add or remove of an element wins, by HLC timestamp. */
export class LWWSet<T extends Value = Value> extends LwwKeyedSet<Presence> {
  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options, LWW_SET_CODEC);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): LWWSet<T> {
    return Crdt.restore((r) => new LWWSet<T>(r, options), TypeTag.LWWSet, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.LWWSet;
  }

  add(element: T): void {
    const v = copyValue(element);
    this.store.put(elementKey(v), { r: this.replica, t: this.clock.now(), p: { value: v, present: true } });
  }

  /** Removes an element; the removal is remembered so that older concurrent adds lose. */
  remove(element: T): void {
    const v = copyValue(element);
    this.store.put(elementKey(v), { r: this.replica, t: this.clock.now(), p: { value: v, present: false } });
  }

  has(element: T): boolean {
    return this.store.entries.get(elementKey(element))?.p.present === true;
  }

  get size(): number {
    let n = 0;
    for (const it of this.store.entries.values()) if (it.p.present) n++;
    return n;
  }

  value(): T[] {
    return sortedValues(this.store.entries, (it) => it.p.present, (it) => it.p.value) as T[];
  }

  protected readBody(body: unknown): LwwPatch<Presence, ElementKey> {
    return this.store.read(body, "LWWSet");
  }

  protected empty(replica: string): this {
    return new LWWSet<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

// ---- observed-remove (add-wins) set ----

const OR_SET_CODEC: EntryCodec<Value, ElementKey> = Object.freeze({
  keyToWire: (_key: ElementKey, items: readonly { v: Value }[]) => valueToWire(items[0].v),
  keyFromWire: (x: unknown) => {
    const v = valueFromWire(x);
    return { key: elementKey(v), shared: v };
  },
  perItem: false,
  payloadToWire: () => undefined,
  payloadFromWire: () => ({ v: null, maxTs: 0 }),
});

/**
 * An add-wins set (optimized OR-Set, Bieniusa et al. 2012). An element is
 * present while some add of it has not been observed by a remove; a remove
 * and a concurrent add leave the element in. Removed elements leave no
 * tombstone: the causal context remembers what was seen.
 */
export class ORSet<T extends Value = Value> extends Crdt<DotStorePatch<Value, ElementKey>> {
  private readonly store = new DotStore<Value, ElementKey>();

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): ORSet<T> {
    return Crdt.restore((r) => new ORSet<T>(r, options), TypeTag.ORSet, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.ORSet;
  }

  add(element: T): void {
    const v = copyValue(element);
    const key = elementKey(v);
    const t = this.clock.now();
    // the new add supersedes the ones this replica has seen: one event per element stays
    this.store.replace(key, { r: this.replica, t, v });
  }

  /** Removes the element as far as this replica has seen it. Returns false if it was absent. */
  remove(element: T): boolean {
    const key = elementKey(copyValue(element));
    if (!this.store.entries.has(key)) return false;
    const t = this.clock.now();
    this.store.removeKey(key, this.replica, t);
    this.store.addEvent(this.replica, t);
    return true;
  }

  /** Removes every element this replica has seen. */
  clear(): void {
    if (this.store.entries.size === 0) return;
    const t = this.clock.now();
    for (const key of [...this.store.entries.keys()]) this.store.removeKey(key, this.replica, t);
    this.store.addEvent(this.replica, t);
  }

  has(element: T): boolean {
    return this.store.entries.has(elementKey(element));
  }

  get size(): number {
    return this.store.entries.size;
  }

  value(): T[] {
    return sortedValues(this.store.entries, () => true, (items) => items[0].v) as T[];
  }

  version(): VersionVector {
    return this.store.ctx.version();
  }

  protected override seenUpTo(replica: string): number {
    return this.store.ctx.prefix(replica);
  }

  protected encodeBody(since: ReadonlyMap<string, number>, upTo?: number): unknown {
    return this.store.encode(since, OR_SET_CODEC, upTo);
  }

  protected override cutIds(since: ReadonlyMap<string, number>): number[] {
    return this.store.cutIds(since);
  }

  protected unheldOrigin(patch: DotStorePatch<Value, ElementKey>, author: string): string | undefined {
    return this.store.unheld(patch, author);
  }

  protected readBody(body: unknown): DotStorePatch<Value, ElementKey> {
    return DotStore.read(body, OR_SET_CODEC, "ORSet");
  }

  protected statePatch(): DotStorePatch<Value, ElementKey> {
    return this.store.patch();
  }

  protected applyPatch(patch: DotStorePatch<Value, ElementKey>): void {
    this.store.apply(patch);
  }

  /** A copy made directly, without building a patch. */
  override clone(): this {
    const c = this.empty(this.replica);
    c.store.copyFrom(this.store);
    return c;
  }

  protected empty(replica: string): this {
    return new ORSet<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
