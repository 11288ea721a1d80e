import { malformed } from "./errors.js";
import { compareReplicaIds } from "./replica.js";
import { VersionVector } from "./version-vector.js";

/**
 * What a state has seen, as ranges of event ids per replica.
 *
 * Event ids are a replica's HLC timestamps: unique and increasing per
 * replica, but not contiguous. A range (lo, hi] of replica r means "every
 * event of r with an id in (lo, hi] has been seen", whatever ids exist there.
 * The prefix (0, vv[r]] is kept as one number; ranges seen out of order (a
 * delta that arrived before an earlier one) wait in the cloud until the gap
 * is filled. This is the causal context of delta-state CRDTs (Almeida et al.
 * 2018): removals leave no tombstone, the context remembers what was seen.
 */
export class CausalContext {
  /** Contiguous prefix per replica; read through `vv`, which first writes back a pending local event. */
  private readonly prefixes = new Map<string, number>();
  /** Seen ranges above the prefix: sorted, disjoint, flattened (lo, hi] pairs. */
  private readonly cloud = new Map<string, number[]>();
  /**
   * The replica of the last local event while it has no cloud, and its
   * prefix: the next local event of it then needs no lookup (one per add, set, write).
   */
  private ownId: string | undefined = undefined;
  private ownTop = 0;
  /** ownTop is ahead of prefixes' entry: a run of local events costs no Map write each. */
  private ownPending = false;

  private get vv(): Map<string, number> {
    if (this.ownPending) {
      this.ownPending = false;
      this.prefixes.set(this.ownId!, this.ownTop);
    }
    return this.prefixes;
  }

  has(replica: string, id: number): boolean {
    if (id <= (this.vv.get(replica) ?? 0)) return true;
    const c = this.cloud.get(replica);
    if (c === undefined) return false;
    for (let i = 0; i < c.length; i += 2) if (id > c[i] && id <= c[i + 1]) return true;
    return false;
  }

  /** True if every event of `replica` in (lo, hi] has been seen. */
  covers(replica: string, lo: number, hi: number): boolean {
    if (hi <= (this.vv.get(replica) ?? 0)) return true;
    const c = this.cloud.get(replica);
    if (c === undefined) return false;
    // the prefix and the cloud ranges are disjoint and never adjacent: one of them must hold it all
    for (let i = 0; i < c.length; i += 2) if (c[i] <= lo && hi <= c[i + 1]) return true;
    return false;
  }

  /** The first replica other than `author` with a range in `ranges` not seen here. */
  unseenBy(ranges: ContextRanges, author: string): string | undefined {
    for (const [r, rs] of ranges) {
      if (r === author) continue;
      for (let i = 0; i < rs.length; i += 2) if (!this.covers(r, rs[i], rs[i + 1])) return r;
    }
    return undefined;
  }

  /** The prefix for a replica: every event up to it has been seen. */
  prefix(replica: string): number {
    return this.vv.get(replica) ?? 0;
  }

  /** Highest event id seen from a replica, counting out-of-order ranges. */
  max(replica: string): number {
    const c = this.cloud.get(replica);
    return c === undefined ? (this.vv.get(replica) ?? 0) : c[c.length - 1];
  }

  /** Highest event id seen from any replica (0 if none). */
  maxSeen(): number {
    let m = 0;
    for (const n of this.vv.values()) if (n > m) m = n;
    for (const c of this.cloud.values()) if (c[c.length - 1] > m) m = c[c.length - 1];
    return m;
  }

  /** Records a new local event; everything of our own before it has been seen. */
  addOwn(replica: string, id: number): void {
    if (replica === this.ownId && id > this.ownTop) {
      this.ownTop = id;
      this.ownPending = true;
      return;
    }
    const p = this.vv.get(replica) ?? 0;
    if (id > p && (this.cloud.size === 0 || !this.cloud.has(replica))) {
      this.vv.set(replica, id);
      this.ownId = replica;
      this.ownTop = id;
    } else this.addRange(replica, p, id);
  }

  /** Records that every event of `replica` in (lo, hi] has been seen. */
  addRange(replica: string, lo: number, hi: number): void {
    if (hi <= lo) return;
    const p = this.vv.get(replica) ?? 0;
    if (hi <= p) return;
    let c = this.cloud.get(replica);
    if (lo <= p) {
      let top = hi;
      if (c !== undefined) {
        // absorb every cloud range now touching the prefix
        let i = 0;
        while (i < c.length && c[i] <= top) {
          if (c[i + 1] > top) top = c[i + 1];
          i += 2;
        }
        if (i >= c.length) this.cloud.delete(replica);
        else c.splice(0, i);
      }
      this.vv.set(replica, top);
      if (replica === this.ownId) this.ownTop = top;
      return;
    }
    if (c === undefined) {
      this.cloud.set(replica, [lo, hi]);
      if (replica === this.ownId) this.ownId = undefined; // its events now go through addRange
      return;
    }
    // insert (lo, hi] and coalesce overlapping or adjacent ranges
    const out: number[] = [];
    let placed = false;
    for (let i = 0; i < c.length; i += 2) {
      const a = c[i];
      const b = c[i + 1];
      if (b < lo) out.push(a, b);
      else if (a > hi) {
        if (!placed) {
          out.push(lo, hi);
          placed = true;
        }
        out.push(a, b);
      } else {
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
      }
    }
    if (!placed) out.push(lo, hi);
    this.cloud.set(replica, out);
  }

  /** Adds a list of flattened ranges for one replica. */
  addRanges(replica: string, ranges: readonly number[]): void {
    for (let i = 0; i < ranges.length; i += 2) this.addRange(replica, ranges[i], ranges[i + 1]);
  }

  merge(other: CausalContext): void {
    for (const [r, n] of other.vv) this.addRange(r, 0, n);
    for (const [r, c] of other.cloud) this.addRanges(r, c);
  }

  /** The contiguous prefix as a version vector: only what has been seen without gaps. */
  version(): VersionVector {
    return VersionVector.ofChecked(this.vv); // its ids and counters were checked on the way in
  }

  /** The one replica seen, if all that was seen is a prefix of one replica's events (a node's own document). */
  soleReplica(): string | undefined {
    if (this.cloud.size > 0 || this.vv.size !== 1) return undefined;
    for (const r of this.vv.keys()) return r;
    return undefined;
  }

  /** True if `since` has seen every prefix here: VersionVector(since).dominates(version()), without the copy. */
  prefixWithin(since: ReadonlyMap<string, number>): boolean {
    for (const [r, n] of this.vv) if (n > (since.get(r) ?? 0)) return false;
    return true;
  }

  replicas(): IterableIterator<string> {
    return new Set([...this.vv.keys(), ...this.cloud.keys()]).values();
  }

  /** True if everything seen here is within `since`: a peer at `since` lacks nothing of ours. */
  within(since: ReadonlyMap<string, number>): boolean {
    for (const [r, n] of this.vv) if (n > (since.get(r) ?? 0)) return false;
    for (const [r, c] of this.cloud) if (c[c.length - 1] > (since.get(r) ?? 0)) return false;
    return true;
  }

  /**
   * The ranges seen above `since`, per replica, sorted by replica id: the
   * context of a delta for a peer at `since`. With an empty `since` it is the
   * whole context.
   */
  rangesSince(since: ReadonlyMap<string, number>): Array<[string, number[]]> {
    const out: Array<[string, number[]]> = [];
    for (const r of this.replicas()) {
      const s = since.get(r) ?? 0;
      const ranges: number[] = [];
      const p = this.vv.get(r) ?? 0;
      if (p > s) ranges.push(s, p);
      const c = this.cloud.get(r);
      if (c !== undefined) {
        for (let i = 0; i < c.length; i += 2) {
          if (c[i + 1] <= s) continue;
          ranges.push(c[i] > s ? c[i] : s, c[i + 1]);
        }
      }
      if (ranges.length > 0) out.push([r, ranges]);
    }
    return out.sort((a, b) => compareReplicaIds(a[0], b[0]));
  }

  /** The ranges seen of one replica within (0, upTo], flattened. */
  rangesUpTo(replica: string, upTo: number): number[] {
    const out: number[] = [];
    if (upTo <= 0) return out;
    const p = this.vv.get(replica) ?? 0;
    if (p > 0) out.push(0, p < upTo ? p : upTo);
    const c = this.cloud.get(replica);
    if (c !== undefined) {
      for (let i = 0; i < c.length && c[i] < upTo; i += 2) out.push(c[i], c[i + 1] < upTo ? c[i + 1] : upTo);
    }
    return out;
  }

  clone(): CausalContext {
    const c = new CausalContext();
    c.merge(this);
    return c;
  }
}

/**
 * A delta's context as read from bytes: replica → flattened (lo, hi] ranges.
 * Kept apart from CausalContext so a delta can be checked before anything is applied.
 */
export type ContextRanges = ReadonlyArray<readonly [string, readonly number[]]>;

/** The ranges cut at `upTo`: what was seen of event ids up to it. */
export function rangesUpTo(ranges: ContextRanges, upTo: number): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  for (const [r, rs] of ranges) {
    const cut: number[] = [];
    for (let i = 0; i < rs.length && rs[i] < upTo; i += 2) cut.push(rs[i], rs[i + 1] < upTo ? rs[i + 1] : upTo);
    if (cut.length > 0) out.push([r, cut]);
  }
  return out;
}

/** True if the event lies in one of the ranges given for its replica. */
export function rangesHave(ranges: ContextRanges, replica: string, id: number): boolean {
  for (const [r, rs] of ranges) {
    if (r !== replica) continue;
    for (let i = 0; i < rs.length; i += 2) if (id > rs[i] && id <= rs[i + 1]) return true;
  }
  return false;
}

/** Validates flattened ranges read from bytes: increasing, non-empty, disjoint. */
export function checkRanges(ranges: readonly number[]): void {
  if (ranges.length === 0 || ranges.length % 2 !== 0) throw malformed("context ranges must come in (lo, hi] pairs");
  let prev = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = ranges[i];
    const hi = ranges[i + 1];
    if (!(lo >= 0 && hi > lo && (i === 0 || lo > prev))) throw malformed("context ranges must be sorted, disjoint and non-empty");
    prev = hi;
  }
}
