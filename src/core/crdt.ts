import { DEFAULT_MAX_PAYLOAD_BYTES, decodePayload, encodePayload, typeName } from "./codec.js";
import { LichenError, invalidArgument } from "./errors.js";
import { Hlc } from "./hlc.js";
import { checkReplicaId, readReplicaId } from "./replica.js";
import { VersionVector, type VersionLike } from "./version-vector.js";

export interface CrdtOptions {
  /** The replica's clock. Share one clock between the CRDTs of a replica; by default each gets its own. */
  clock?: Hlc;
  /** Largest payload `applyDelta`/`fromBytes` accept (default 16 MiB). */
  maxPayloadBytes?: number;
}

/** What every patch carries: the greatest remote timestamp in it, checked against the clock. */
export interface Patch {
  readonly maxTs: number;
  /** How far the receiver must have seen, per replica, for the patch to apply (see wire-context's Base). */
  readonly base?: ReadonlyArray<readonly [string, number]>;
}

/**
 * A delta decoded and checked against one replica's current state, ready to
 * apply there once (`applyChecked`). Between the check and the apply the
 * state must not change: decode, check the authorship, apply, in one go.
 */
export interface CheckedDelta {
  readonly typeTag: number;
  /** The greatest remote timestamp it carries. */
  readonly maxTs: number;
  /** @internal the type's patch */
  readonly patch: Patch;
}

/**
 * The contract every lichen CRDT fulfils. Input from outside (bytes) goes
 * through three steps: decode and check the header, read the body into a
 * patch (throws MALFORMED on any bad shape, touches nothing), check its
 * timestamps against the clock; only then is the patch applied, and applying
 * a checked patch never throws. So bad input leaves the state as it was.
 */
export abstract class Crdt<P extends Patch = Patch> {
  readonly replica: string;
  protected readonly clock: Hlc;
  protected readonly maxPayloadBytes: number;

  constructor(replica: string, options: CrdtOptions = {}) {
    this.replica = checkReplicaId(replica);
    if (options.clock !== undefined && !(options.clock instanceof Hlc)) throw invalidArgument("clock must be an Hlc");
    this.clock = options.clock ?? new Hlc();
    const max = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!(Number.isSafeInteger(max) && max > 0)) throw invalidArgument("maxPayloadBytes must be a positive integer");
    this.maxPayloadBytes = max;
  }

  /** The wire type tag of this CRDT. */
  abstract get typeTag(): number;
  /** The plain value a user reads. */
  abstract value(): unknown;
  /** What this state has seen, per replica. */
  abstract version(): VersionVector;

  /** One replica's entry of version(), without copying the vector (the gateway reads it per delta). */
  versionOf(replica: string): number {
    return this.seenUpTo(replica);
  }

  /** True if `known` has seen everything of version() (known.dominates(version())), without copying the vector. */
  seenBy(known: VersionVector): boolean {
    return known.dominates(this.version());
  }

  /**
   * The body of a delta holding what a replica at `since` lacks; with an
   * empty `since`, the whole state. With `upTo` (types that list `cutIds`),
   * only the events with ids up to it, and the context up to it.
   */
  protected abstract encodeBody(since: ReadonlyMap<string, number>, upTo?: number): unknown;
  /**
   * The first replica other than `author` of which the patch carries an
   * event this state does not hold (one that would change it), if any.
   * Reads only: the authorship check of a received delta.
   */
  protected abstract unheldOrigin(patch: P, author: string): string | undefined;
  /** Ascending event ids where a delta above `since` can be cut (none: the type sends its deltas whole). */
  protected cutIds(_since: ReadonlyMap<string, number>): number[] {
    return [];
  }
  /** Checks a body read from bytes and turns it into a patch. Must not change state. */
  protected abstract readBody(body: unknown): P;
  /** This state as a patch, for merging without encoding. */
  protected abstract statePatch(): P;
  /** Joins a checked patch into this state. Must not throw. */
  protected abstract applyPatch(patch: P): void;

  /**
   * Only what a replica at version `since` lacks, encoded. Without `since`,
   * the whole state. Apply it to a replica that has seen at least `since`
   * (any replica for a whole state): elsewhere `applyDelta` refuses it with
   * OUT_OF_ORDER rather than claim events it does not carry.
   */
  delta(since?: VersionLike): Uint8Array {
    return encodePayload(this.typeTag, this.encodeBody(since === undefined ? new Map() : VersionVector.from(since).map));
  }

  /**
   * `delta(since)` cut to at most `maxBytes` where the type can cut it: the
   * events up to some id, the rest left for the next delta, made from the
   * version the receiver acknowledges. At least one event goes, so a run of
   * these deltas always gets through. Types that cannot cut return the whole delta.
   */
  deltaWithin(since: VersionLike | undefined, maxBytes: number): Uint8Array {
    const s = since === undefined ? new Map<string, number>() : VersionVector.from(since).map;
    const ids = this.cutIds(s);
    if (ids.length < 2) return this.delta(since);
    // the most events that fit: probe 1, 2, 4, ... of them (each probe small), then bisect;
    // with all of them, the whole delta
    const last = ids.length - 1;
    let fit = -1;
    let over = ids.length;
    let best: Uint8Array | undefined;
    for (let n = 1; fit < last; n *= 2) {
      const i = n - 1 < last ? n - 1 : last;
      const d = i === last ? this.delta(since) : this.cutAt(s, ids[i]);
      if (d.length > maxBytes) {
        over = i;
        break;
      }
      fit = i;
      best = d;
    }
    while (over - fit > 1) {
      const mid = (fit + over) >> 1;
      const d = this.cutAt(s, ids[mid]);
      if (d.length <= maxBytes) {
        fit = mid;
        best = d;
      } else over = mid;
    }
    return best ?? this.cutAt(s, ids[0]);
  }

  private cutAt(since: ReadonlyMap<string, number>, upTo: number): Uint8Array {
    return encodePayload(this.typeTag, this.encodeBody(since, upTo));
  }

  /**
   * Decodes a delta and checks it against this state (shape, clock drift,
   * base): throws a LichenError and changes nothing if it does not apply here.
   */
  checkDelta(bytes: Uint8Array): CheckedDelta {
    const { body } = decodePayload(bytes, this.typeTag, this.maxPayloadBytes);
    const patch = this.readBody(body);
    this.clock.check(patch.maxTs);
    this.checkBase(patch);
    return { typeTag: this.typeTag, maxTs: patch.maxTs, patch };
  }

  /** Throws OUT_OF_ORDER if this state has not seen what the patch was made for. */
  private checkBase(patch: P): void {
    if (patch.base !== undefined) {
      for (const [r, n] of patch.base) {
        const have = this.seenUpTo(r);
        if (have < n) {
          throw new LichenError(
            "OUT_OF_ORDER",
            `this ${typeName(this.typeTag)} delta was made for a replica that has seen ${r} up to ${n}; this one has seen it up to ${have}: ask for a delta from this version`,
          );
        }
      }
    }
  }

  /**
   * The authorship check: the first replica other than `author` of which
   * the delta carries an event this state does not already hold, whatever
   * its ranges, gaps or timestamps say; undefined if `author` brings only
   * its own events (and copies of events held here). Reads only.
   */
  unheldAuthor(delta: CheckedDelta, author: string): string | undefined {
    if (delta.typeTag !== this.typeTag) throw invalidArgument("a delta checked for another type");
    return this.unheldOrigin(delta.patch as P, author);
  }

  /**
   * The top-level keys of `value()` a checked delta may change, sorted, so
   * that a store can write what changed instead of the whole value; undefined
   * when the type has no such keys (or cannot tell): the whole value changes.
   */
  changedKeys(delta: CheckedDelta): string[] | undefined {
    if (delta.typeTag !== this.typeTag) throw invalidArgument("a delta checked for another type");
    return this.patchKeys(delta.patch as P);
  }

  /** The keys a patch touches (see changedKeys): none known by default. */
  protected patchKeys(_patch: P): string[] | undefined {
    return undefined;
  }

  /** The value under one top-level key of `value()` (undefined: absent), without building the whole value where the type can. */
  valueAt(key: string): unknown {
    const v = this.value();
    return v !== null && typeof v === "object" && Object.prototype.hasOwnProperty.call(v, key) ? (v as { [k: string]: unknown })[key] : undefined;
  }

  /** Applies a delta checked by `checkDelta` on this state (never throws); the clock moves past its timestamps. */
  applyChecked(delta: CheckedDelta): void {
    if (delta.typeTag !== this.typeTag) throw invalidArgument("a delta checked for another type");
    this.applyPatch(delta.patch as P);
    this.clock.observe(delta.maxTs);
  }

  /**
   * Applies again a delta this replica applied before and stored (a state's tail, see
   * StateStore): as applyDelta, but its timestamps are not checked against the wall clock, which
   * may have gone back since (a gateway without a real-time clock, restarted); only observed.
   */
  replayDelta(bytes: Uint8Array): void {
    const { body } = decodePayload(bytes, this.typeTag, this.maxPayloadBytes);
    const patch = this.readBody(body);
    this.checkBase(patch);
    this.applyPatch(patch);
    this.clock.observe(patch.maxTs);
  }

  /** Applies a delta (or a whole state) received as bytes. Duplicates and reordering are harmless. */
  applyDelta(bytes: Uint8Array): void {
    this.applyChecked(this.checkDelta(bytes));
  }

  /** How far this state has seen a replica's events without a gap (its version's entry). */
  protected seenUpTo(replica: string): number {
    return this.version().get(replica);
  }

  /** Joins another replica's state into this one. */
  merge(other: this): this {
    if (!(other instanceof Crdt) || other.typeTag !== this.typeTag) {
      throw invalidArgument(`cannot merge a ${other instanceof Crdt ? typeName(other.typeTag) : typeof other} into a ${typeName(this.typeTag)}`);
    }
    const patch = other.statePatch();
    this.clock.check(patch.maxTs);
    this.applyPatch(patch);
    this.clock.observe(patch.maxTs);
    return this;
  }

  /** The whole state with its owner's replica id, for storage. */
  toBytes(): Uint8Array {
    return this.wholeBytes() ?? encodePayload(this.typeTag, this.encodeBody(new Map()), this.replica);
  }

  /** toBytes() written straight by the type, for the states it knows how to (undefined: the others). */
  protected wholeBytes(): Uint8Array | undefined {
    return undefined;
  }

  /** True if both hold the same replicated state (whoever owns them). */
  equals(other: Crdt): boolean {
    if (!(other instanceof Crdt) || other.typeTag !== this.typeTag) return false;
    const a = this.delta();
    const b = other.delta();
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** A deep copy with the same owner and clock. */
  clone(): this {
    const c = this.empty(this.replica);
    c.applyPatch(this.statePatch());
    return c;
  }

  /** A new empty instance of the same type, owned by `replica`, sharing this clock. */
  protected abstract empty(replica: string): this;

  /** @internal the state body of a CRDT, for a container that nests it. */
  static bodyOf(crdt: Crdt): unknown {
    return crdt.encodeBody(new Map());
  }

  /** @internal reads a nested state body into an empty instance; returns its greatest timestamp. */
  static loadBody(crdt: Crdt, body: unknown): number {
    const patch = crdt.readBody(body);
    crdt.applyPatch(patch);
    return patch.maxTs;
  }

  /** @internal the authorship check of a nested value: `from`'s events of replicas other than `author` that `into` (same type) lacks. */
  static unheldIn(into: Crdt, from: Crdt, author: string): string | undefined {
    return into.unheldOrigin(from.statePatch(), author);
  }

  /** @internal joins `from` into `into` (same type), without clock checks: for values already in a state. */
  static join(into: Crdt, from: Crdt): void {
    into.applyPatch(from.statePatch());
  }

  /** @internal used by `fromBytes` of each type. */
  static restore<T extends Crdt>(make: (replica: string) => T, tag: number, bytes: Uint8Array, replica?: string, maxBytes?: number): T {
    const { body, owner } = decodePayload(bytes, tag, maxBytes);
    const id = replica !== undefined ? checkReplicaId(replica) : owner === undefined ? undefined : readReplicaId(owner);
    if (id === undefined) throw new LichenError("INVALID_ARGUMENT", "these bytes are a delta, not a saved state: pass the replica id to load them");
    const crdt = make(id);
    const patch = crdt.readBody(body);
    crdt.applyPatch(patch);
    crdt.clock.observe(patch.maxTs);
    return crdt;
  }
}
