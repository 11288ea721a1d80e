import { TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { DotStore, type DotStorePatch, type EntryCodec } from "./dot-store.js";
import { malformed } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import { copyValue, valueFromWire, valueToWire, type Value } from "./value.js";
import type { VersionVector } from "./version-vector.js";

const KEY = "";

const MV_CODEC: EntryCodec<Value> = Object.freeze({
  keyToWire: () => KEY,
  keyFromWire: (x: unknown) => {
    if (x !== KEY) throw malformed("MVRegister: unexpected key");
    return { key: KEY };
  },
  perItem: true,
  payloadToWire: (v: Value) => valueToWire(v),
  payloadFromWire: (x: unknown) => ({ v: valueFromWire(x), maxTs: 0 }),
});

/**
 * A multi-value register: a write replaces every value it has seen, and
 * concurrent writes are all kept, so a reader sees the conflict and can
 * resolve it with a new write.
 */
export class MVRegister<T extends Value = Value> extends Crdt<DotStorePatch<Value>> {
  private readonly store = new DotStore<Value>();

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): MVRegister<T> {
    return Crdt.restore((r) => new MVRegister<T>(r, options), TypeTag.MVRegister, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.MVRegister;
  }

  set(value: T): void {
    const v = copyValue(value);
    const t = this.clock.now();
    this.store.replace(KEY, { r: this.replica, t, v });
  }

  /** The concurrent values, ordered by replica id then timestamp; empty if never set. */
  get(): T[] {
    const items = this.store.entries.get(KEY);
    if (items === undefined) return [];
    return [...items].sort((a, b) => compareReplicaIds(a.r, b.r) || a.t - b.t).map((it) => it.v as T);
  }

  value(): T[] {
    return this.get();
  }

  /** True if concurrent writes are waiting to be resolved. */
  get conflicted(): boolean {
    return (this.store.entries.get(KEY)?.length ?? 0) > 1;
  }

  version(): VersionVector {
    return this.store.ctx.version();
  }

  protected override seenUpTo(replica: string): number {
    return this.store.ctx.prefix(replica);
  }

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    return this.store.encode(since, MV_CODEC);
  }

  protected unheldOrigin(patch: DotStorePatch<Value>, author: string): string | undefined {
    return this.store.unheld(patch, author);
  }

  protected readBody(body: unknown): DotStorePatch<Value> {
    return DotStore.read(body, MV_CODEC, "MVRegister");
  }

  protected statePatch(): DotStorePatch<Value> {
    return this.store.patch();
  }

  protected applyPatch(patch: DotStorePatch<Value>): void {
    this.store.apply(patch);
  }

  protected empty(replica: string): this {
    return new MVRegister<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
