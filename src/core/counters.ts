import { readArray, readCount, TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions, type Patch } from "./crdt.js";
import { invalidArgument, malformed } from "./errors.js";
import { compareReplicaIds, readReplicaId } from "./replica.js";
import { VersionVector } from "./version-vector.js";

// Counters keep one running total per replica. Each replica's entry only
// grows, so its amount is its own version: a delta for a peer at `since` is
// every entry above since[r], and a later entry subsumes all earlier ones.

function checkAmount(n: unknown): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw invalidArgument("amount must be a non-negative safe integer");
  return n;
}

function addChecked(a: number, b: number): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw invalidArgument("counter would exceed the safe integer range");
  return s;
}

/** Reads `[[replica, n...], ...]` sorted by replica, each with `width` amounts. */
function readEntries(body: unknown, width: number, what: string): Array<[string, ...number[]]> {
  const rows = readArray(body, what);
  const out: Array<[string, ...number[]]> = [];
  let prev = "";
  for (let i = 0; i < rows.length; i++) {
    const row = readArray(rows[i], what, width + 1, width + 1);
    const r = readReplicaId(row[0]);
    if (i > 0 && compareReplicaIds(prev, r) >= 0) throw malformed(`${what}: replicas out of order or repeated`);
    prev = r;
    const entry: [string, ...number[]] = [r];
    for (let k = 1; k <= width; k++) entry.push(readCount(row[k], what));
    out.push(entry);
  }
  return out;
}

interface CounterPatch extends Patch {
  readonly rows: ReadonlyArray<readonly [string, ...number[]]>;
}

/** A grow-only counter. */
export class GCounter extends Crdt<CounterPatch> {
  private readonly counts = new Map<string, number>();
  private total = 0;
  /** This replica's entry of `counts`, kept beside it so that an increment looks nothing up. */
  private own = 0;

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes(bytes: Uint8Array, replica?: string, options?: CrdtOptions): GCounter {
    return Crdt.restore((r) => new GCounter(r, options), TypeTag.GCounter, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.GCounter;
  }

  increment(): void {
    this.incrementBy(1);
  }

  incrementBy(n: number): void {
    checkAmount(n);
    const next = addChecked(this.own, n);
    this.total = addChecked(this.total, n);
    this.own = next;
    this.counts.set(this.replica, next);
  }

  value(): number {
    return this.total;
  }

  /** One replica's contribution. */
  get(replica: string): number {
    return this.counts.get(replica) ?? 0;
  }

  version(): VersionVector {
    return new VersionVector(this.counts);
  }

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    const rows: Array<[string, number]> = [];
    for (const [r, c] of this.counts) if (c > (since.get(r) ?? 0)) rows.push([r, c]);
    return rows.sort((a, b) => compareReplicaIds(a[0], b[0]));
  }

  protected readBody(body: unknown): CounterPatch {
    const rows = readEntries(body, 1, "GCounter");
    let sum = this.total;
    for (const [r, c] of rows) sum += Math.max(0, c - (this.counts.get(r) ?? 0));
    if (!Number.isSafeInteger(sum)) throw malformed("GCounter total would exceed the safe integer range");
    return { rows, maxTs: 0 };
  }

  protected statePatch(): CounterPatch {
    return { rows: [...this.counts], maxTs: 0 };
  }

  /** A replica's total is its own events: another's above ours is not held here. */
  protected unheldOrigin(patch: CounterPatch, author: string): string | undefined {
    for (const [r, c] of patch.rows) if (r !== author && c > (this.counts.get(r) ?? 0)) return r;
    return undefined;
  }

  /** Joins another counter directly: no timestamps to check, nothing to copy. */
  override merge(other: this): this {
    if (!(other instanceof GCounter)) return super.merge(other);
    other.counts.forEach(this.join, this);
    return this;
  }

  /** A copy made directly, without building a patch. */
  override clone(): this {
    const c = this.empty(this.replica);
    this.counts.forEach(c.join, c);
    return c;
  }

  protected applyPatch(patch: CounterPatch): void {
    for (const [r, c] of patch.rows) this.join(c, r);
  }

  /** Takes replica r's total c if it is ahead (a Map.forEach callback: value first). */
  private join(c: number, r: string): void {
    const mine = this.counts.get(r) ?? 0;
    if (c > mine) {
      this.counts.set(r, c);
      this.total += c - mine;
      if (r === this.replica) this.own = c;
    }
  }

  protected empty(replica: string): this {
    return new GCounter(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}

/** A counter that goes up and down: two grow-only totals per replica. */
export class PNCounter extends Crdt<CounterPatch> {
  private readonly up = new Map<string, number>();
  private readonly down = new Map<string, number>();
  private total = 0;
  /** This replica's entries of `up` and `down`, kept beside them so that an operation looks nothing up. */
  private ownUp = 0;
  private ownDown = 0;

  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes(bytes: Uint8Array, replica?: string, options?: CrdtOptions): PNCounter {
    return Crdt.restore((r) => new PNCounter(r, options), TypeTag.PNCounter, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.PNCounter;
  }

  increment(): void {
    this.incrementBy(1);
  }

  incrementBy(n: number): void {
    checkAmount(n);
    const next = addChecked(this.ownUp, n);
    addChecked(next, this.ownDown); // the version must stay safe too
    this.total = addChecked(this.total, n);
    this.ownUp = next;
    this.up.set(this.replica, next);
  }

  decrement(): void {
    this.decrementBy(1);
  }

  decrementBy(n: number): void {
    checkAmount(n);
    const next = addChecked(this.ownDown, n);
    addChecked(next, this.ownUp);
    if (!Number.isSafeInteger(this.total - n)) throw invalidArgument("counter would exceed the safe integer range");
    this.total -= n;
    this.ownDown = next;
    this.down.set(this.replica, next);
  }

  value(): number {
    return this.total;
  }

  /** One replica's net contribution. */
  get(replica: string): number {
    return (this.up.get(replica) ?? 0) - (this.down.get(replica) ?? 0);
  }

  /** The version of a replica is the sum of its two totals: it grows with every operation. */
  version(): VersionVector {
    const v = new VersionVector();
    for (const r of this.replicaIds()) v.set(r, (this.up.get(r) ?? 0) + (this.down.get(r) ?? 0));
    return v;
  }

  private replicaIds(): string[] {
    const ids = new Set([...this.up.keys(), ...this.down.keys()]);
    return [...ids].sort(compareReplicaIds);
  }

  protected encodeBody(since: ReadonlyMap<string, number>): unknown {
    const rows: Array<[string, number, number]> = [];
    for (const r of this.replicaIds()) {
      const p = this.up.get(r) ?? 0;
      const n = this.down.get(r) ?? 0;
      if (p + n > (since.get(r) ?? 0)) rows.push([r, p, n]);
    }
    return rows;
  }

  protected readBody(body: unknown): CounterPatch {
    const rows = readEntries(body, 2, "PNCounter");
    let sum = this.total;
    for (const [r, p, n] of rows) {
      // the entry as it will be held: each total merges apart, and their sum is the replica's version
      const up = this.up.get(r) ?? 0;
      const down = this.down.get(r) ?? 0;
      if (!Number.isSafeInteger(Math.max(p, up) + Math.max(n, down))) throw malformed("PNCounter entry exceeds the safe integer range");
      sum += Math.max(0, p - up) - Math.max(0, n - down);
    }
    if (!Number.isSafeInteger(sum)) throw malformed("PNCounter total would exceed the safe integer range");
    return { rows, maxTs: 0 };
  }

  protected statePatch(): CounterPatch {
    return { rows: this.replicaIds().map((r) => [r, this.up.get(r) ?? 0, this.down.get(r) ?? 0] as [string, number, number]), maxTs: 0 };
  }

  protected unheldOrigin(patch: CounterPatch, author: string): string | undefined {
    for (const [r, p, n] of patch.rows) if (r !== author && (p > (this.up.get(r) ?? 0) || n > (this.down.get(r) ?? 0))) return r;
    return undefined;
  }

  protected applyPatch(patch: CounterPatch): void {
    for (const [r, p, n] of patch.rows) {
      const mp = this.up.get(r) ?? 0;
      const mn = this.down.get(r) ?? 0;
      if (p > mp) {
        this.up.set(r, p);
        this.total += p - mp;
        if (r === this.replica) this.ownUp = p;
      }
      if (n > mn) {
        this.down.set(r, n);
        this.total -= n - mn;
        if (r === this.replica) this.ownDown = n;
      }
    }
  }

  protected empty(replica: string): this {
    return new PNCounter(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
