import { invalidArgument } from "./errors.js";
import { checkReplicaId, compareReplicaIds } from "./replica.js";

/** One event: the replica that made it and its position in that replica's history. */
export interface Dot {
  readonly replica: string;
  readonly counter: number;
}

export type Ordering = "equal" | "before" | "after" | "concurrent";

/** What a caller may pass where a version is expected. */
export type VersionLike = VersionVector | ReadonlyMap<string, number> | { readonly [replica: string]: number };

/**
 * A version vector: for each replica, how far into its history a state has
 * seen. Absent replicas count as 0. Counters are non-negative safe integers.
 * What a counter measures is the type's own business (an HLC timestamp for
 * most types, an amount for counters); vectors of one type compare with each other.
 */
export class VersionVector {
  private readonly entries: Map<string, number>;

  constructor(entries?: Iterable<readonly [string, number]> | { readonly [replica: string]: number }) {
    this.entries = new Map();
    if (entries === undefined) return;
    const rows = Symbol.iterator in entries ? (entries as Iterable<readonly [string, number]>) : Object.entries(entries);
    for (const [r, n] of rows) this.set(r, n);
  }

  static from(like: VersionLike | undefined): VersionVector {
    if (like === undefined) return new VersionVector();
    if (like instanceof VersionVector) return like;
    if (typeof like !== "object" || like === null) throw invalidArgument("a version must be a VersionVector, a Map or an object");
    return new VersionVector(like as Iterable<readonly [string, number]> | { [r: string]: number });
  }

  /**
   * @internal A vector of entries already checked (another vector's, a causal context's: ids and
   * counters that passed set() or a reader's checks), copied without checking each again: the
   * gateway takes a document's version several times per delta.
   */
  static ofChecked(entries: ReadonlyMap<string, number>): VersionVector {
    const v = new VersionVector();
    for (const [r, n] of entries) if (n !== 0) v.entries.set(r, n);
    return v;
  }

  /** @internal the live map, read-only by convention; used by the types on hot paths. */
  get map(): ReadonlyMap<string, number> {
    return this.entries;
  }

  get size(): number {
    return this.entries.size;
  }

  get(replica: string): number {
    return this.entries.get(replica) ?? 0;
  }

  set(replica: string, counter: number): this {
    checkReplicaId(replica);
    if (!(Number.isSafeInteger(counter) && counter >= 0)) throw invalidArgument("a version counter must be a non-negative safe integer");
    if (counter === 0) this.entries.delete(replica);
    else this.entries.set(replica, counter);
    return this;
  }

  /** True if the state at this version has seen the event. */
  contains(dot: Dot): boolean {
    return dot.counter <= this.get(dot.replica);
  }

  /** Pointwise maximum, in place. */
  merge(other: VersionLike): this {
    for (const [r, n] of VersionVector.from(other).entries) if (n > this.get(r)) this.entries.set(r, n);
    return this;
  }

  /** How this version relates to another in causal order. */
  compare(other: VersionLike): Ordering {
    const o = VersionVector.from(other);
    let less = false;
    let greater = false;
    for (const [r, n] of this.entries) {
      const m = o.get(r);
      if (n < m) less = true;
      else if (n > m) greater = true;
    }
    for (const [r, m] of o.entries) if (!this.entries.has(r) && m > 0) less = true;
    return less ? (greater ? "concurrent" : "before") : greater ? "after" : "equal";
  }

  /** True if this version has seen everything the other has. */
  dominates(other: VersionLike): boolean {
    const c = this.compare(other);
    return c === "equal" || c === "after";
  }

  equals(other: VersionLike): boolean {
    return this.compare(other) === "equal";
  }

  clone(): VersionVector {
    return VersionVector.ofChecked(this.entries);
  }

  /** The replica ids, sorted: the canonical order (toArray's and the wire's). */
  replicas(): string[] {
    const ids: string[] = [];
    for (const r of this.entries.keys()) ids.push(r);
    if (ids.length > 1) ids.sort(compareReplicaIds);
    return ids;
  }

  /** Entries sorted by replica id: the canonical order used on the wire. */
  toArray(): Array<[string, number]> {
    return this.replicas().map((r): [string, number] => [r, this.entries.get(r)!]);
  }

  toJSON(): { [replica: string]: number } {
    const out: { [replica: string]: number } = {};
    for (const [r, n] of this.toArray()) Object.defineProperty(out, r, { value: n, enumerable: true, writable: true, configurable: true });
    return out;
  }
}
