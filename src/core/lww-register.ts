import { readArray, readIndex, TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions, type Patch } from "./crdt.js";
import { malformed } from "./errors.js";
import { isTimestamp } from "./hlc.js";
import { compareReplicaIds, readReplicaId } from "./replica.js";
import { copyValue, valueFromWire, valueToWire, type Value } from "./value.js";
import { VersionVector } from "./version-vector.js";
import { baseOf } from "./wire-context.js";

interface RegisterPatch extends Patch {
  /** Latest timestamp seen per replica. */
  readonly seen: ReadonlyArray<readonly [string, number]>;
  readonly writer?: string;
  readonly ts?: number;
  readonly value?: Value;
}

/** Reads `[[replica, ts], ...]` sorted by replica. */
export function readSeen(x: unknown, what: string): Array<[string, number]> {
  const rows = readArray(x, what);
  const out: Array<[string, number]> = [];
  for (let i = 0; i < rows.length; i++) {
    const row = readArray(rows[i], what, 2, 2);
    const r = readReplicaId(row[0]);
    if (i > 0 && compareReplicaIds(out[i - 1][0], r) >= 0) throw malformed(`${what}: replicas out of order or repeated`);
    if (!isTimestamp(row[1]) || row[1] === 0) throw malformed(`${what}: bad timestamp`);
    out.push([r, row[1]]);
  }
  return out;
}

/**
 * A last-writer-wins register. The write with the greatest HLC timestamp
 * wins; equal timestamps (only possible between replicas) go to the greater
 * replica id. The version is the latest timestamp seen from each replica:
 * one slot needs no more, because a replica's later write always beats its
 * earlier ones.
 */
export class LWWRegister<T extends Value = Value> extends Crdt<RegisterPatch> {
  private current: Value | undefined = undefined;
  private ts = 0;
  private writer = "";
  private readonly seen = new Map<string, number>();
  /** The greatest timestamp in `seen` (0 if none): what a merge checks against the clock. */
  private latest = 0;

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): LWWRegister<T> {
    return Crdt.restore((r) => new LWWRegister<T>(r, options), TypeTag.LWWRegister, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.LWWRegister;
  }

  set(value: T): void {
    const v = copyValue(value);
    const t = this.clock.now();
    this.current = v;
    this.ts = t;
    this.writer = this.replica;
    this.seen.set(this.replica, t);
    this.latest = t;
  }

  /** The current value, or undefined if never set. */
  get(): T | undefined {
    return this.current as T | undefined;
  }

  value(): T | undefined {
    return this.current as T | undefined;
  }

  /** The HLC timestamp of the current value (0 if never set). */
  get timestamp(): number {
    return this.ts;
  }

  version(): VersionVector {
    return new VersionVector(this.seen);
  }

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    const seen: Array<[string, number]> = [];
    for (const [r, t] of this.seen) if (t > (since.get(r) ?? 0)) seen.push([r, t]);
    seen.sort((a, b) => compareReplicaIds(a[0], b[0]));
    if (this.current === undefined || this.ts <= (since.get(this.writer) ?? 0)) {
      // without the value, the delta relies on the receiver holding it
      return [baseOf(since, (r) => this.seen.get(r) ?? 0), seen];
    }
    // With the value, no base: every write seen here loses to it, so the
    // delta is complete on any replica. And the writer's latest timestamp is
    // the value's own: a later write by it would have won.
    return [[], seen, seen.findIndex((e) => e[0] === this.writer), valueToWire(this.current)];
  }

  protected readBody(body: unknown): RegisterPatch {
    const b = readArray(body, "LWWRegister", 2, 4);
    if (b.length === 3) throw malformed("LWWRegister: a value needs its writer");
    const base = readSeen(b[0], "LWWRegister base");
    const seen = readSeen(b[1], "LWWRegister versions");
    let maxTs = 0;
    for (const [, t] of seen) if (t > maxTs) maxTs = t;
    if (b.length === 2) return { seen, maxTs, base };
    const w = readIndex(b[2], seen.length, "LWWRegister writer");
    return { seen, writer: seen[w][0], ts: seen[w][1], value: valueFromWire(b[3]), maxTs, base };
  }

  protected override seenUpTo(replica: string): number {
    return this.seen.get(replica) ?? 0;
  }

  protected statePatch(): RegisterPatch {
    const seen = [...this.seen];
    let maxTs = 0;
    for (const [, t] of seen) if (t > maxTs) maxTs = t;
    return this.current === undefined ? { seen, maxTs } : { seen, writer: this.writer, ts: this.ts, value: this.current, maxTs };
  }

  /** Joins another register directly, without building a patch. */
  override merge(other: this): this {
    if (!(other instanceof LWWRegister)) return super.merge(other);
    const maxTs = other.latest;
    this.clock.check(maxTs);
    other.seen.forEach(this.see, this);
    if (other.current !== undefined && (other.ts > this.ts || (other.ts === this.ts && other.writer > this.writer))) {
      this.current = other.current;
      this.ts = other.ts;
      this.writer = other.writer;
    }
    this.clock.observe(maxTs);
    return this;
  }

  /** A copy made directly, without building a patch. */
  override clone(): this {
    const c = this.empty(this.replica);
    this.seen.forEach(c.see, c);
    c.current = this.current;
    c.ts = this.ts;
    c.writer = this.writer;
    return c;
  }

  /** Notes replica r's timestamp t (a Map.forEach callback: value first). */
  private see(t: number, r: string): void {
    if (t > (this.seen.get(r) ?? 0)) this.seen.set(r, t);
    if (t > this.latest) this.latest = t;
  }

  /** Another replica's write must be one this register has seen and that changes nothing here. */
  protected unheldOrigin(p: RegisterPatch, author: string): string | undefined {
    for (const [r, t] of p.seen) if (r !== author && t > (this.seen.get(r) ?? 0)) return r;
    if (p.writer !== undefined && p.ts !== undefined && p.writer !== author && (p.ts > this.ts || (p.ts === this.ts && p.writer > this.writer))) return p.writer;
    return undefined;
  }

  protected applyPatch(p: RegisterPatch): void {
    for (const [r, t] of p.seen) this.see(t, r);
    if (p.writer === undefined || p.ts === undefined) return;
    if (p.ts > this.ts || (p.ts === this.ts && p.writer > this.writer)) {
      this.current = p.value;
      this.ts = p.ts;
      this.writer = p.writer;
    }
  }

  protected empty(replica: string): this {
    return new LWWRegister<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
