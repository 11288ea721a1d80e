import { LichenError, invalidArgument } from "./errors.js";

/**
 * Hybrid logical clock with timestamps that are plain numbers.
 *
 * A timestamp is `(wallMs - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN + logical`, a
 * non-negative safe integer. The epoch is 2020-01-01T00:00:00Z and the span
 * 1024, so the clock covers 2^53 / 1024 ms, about 278 years: until 2298.
 * Comparing two timestamps as numbers orders them as an HLC does.
 *
 * - Each call to `now()` returns a value strictly greater than every value
 *   this clock has returned or observed, so the timestamps of one replica are
 *   unique and increasing. lichen uses them as event ids (dots).
 * - Wall clock jumps backwards: timestamps keep increasing from the last one;
 *   the logical part counts up until the wall clock catches up.
 * - More than 1024 events within one millisecond: the logical part carries
 *   into the millisecond, so the clock runs ahead of the wall clock by at most
 *   the excess and then waits for the wall clock.
 * - Wall clock far ahead (a node whose clock is wrong): its timestamps are
 *   accepted by peers only within `maxDriftMs` of their own clocks; a remote
 *   timestamp beyond that is rejected with a CLOCK_DRIFT error and never
 *   adopted, so one bad clock cannot drag the fleet's clocks into the future.
 * - No wall clock (an ESP32 that has not synced time reads 1970, before the
 *   epoch): the physical part is 0 and the clock is a Lamport clock. Such a
 *   clock does not reject remote timestamps, it adopts them, because it has
 *   no notion of "too far ahead".
 */
export const HLC_EPOCH_MS = 1577836800000;
export const HLC_LOGICAL_SPAN = 1024;
export const HLC_MAX = Number.MAX_SAFE_INTEGER;
/** Default tolerance for remote clocks ahead of ours: 1 hour. */
export const DEFAULT_MAX_DRIFT_MS = 3600000;

export type WallClock = () => number;

export interface HlcOptions {
  /** Milliseconds since 1970, as Date.now(). Injected so the core never reads time by itself. */
  wallClock?: WallClock;
  /** How far ahead of the local wall clock a remote timestamp may be, in ms. */
  maxDriftMs?: number;
  /**
   * Called, before a timestamp above the reserved bound is issued, with a new
   * bound that the caller must persist before returning. After a restart,
   * `observe(persistedBound)` puts the clock past every timestamp it may have
   * issued before a power cut, including ones whose events were lost, so no
   * timestamp (lichen's event id) is ever issued twice. See src/store/clock-store.ts.
   */
  reserve?: (upTo: number) => void;
  /** How far ahead each reservation reaches, in timestamp units (default 2^26: about 65 s of wall time). */
  reserveSpan?: number;
}

export const DEFAULT_RESERVE_SPAN = 2 ** 26;

function systemWallClock(): number {
  return Date.now();
}

/** Converts a wall-clock time in ms since 1970 to the physical part of a timestamp. */
export function physicalTimestamp(wallMs: number): number {
  const since = Math.floor(wallMs) - HLC_EPOCH_MS;
  return since > 0 ? since * HLC_LOGICAL_SPAN : 0;
}

/** The wall-clock time (ms since 1970) a timestamp was taken at, ignoring its logical part. */
export function timestampToMs(ts: number): number {
  return Math.floor(ts / HLC_LOGICAL_SPAN) + HLC_EPOCH_MS;
}

export function isTimestamp(ts: unknown): ts is number {
  return typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0;
}

export class Hlc {
  private last = 0;
  private reserved = 0;
  private readonly wallClock: WallClock;
  private readonly maxDrift: number;
  private readonly reserve: ((upTo: number) => void) | undefined;
  private readonly reserveSpan: number;

  constructor(options: HlcOptions = {}) {
    const drift = options.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
    if (!(typeof drift === "number" && drift >= 0 && drift <= 100 * 365 * 86400000)) {
      throw invalidArgument("maxDriftMs must be a number of milliseconds between 0 and 100 years");
    }
    const wall = options.wallClock ?? systemWallClock;
    if (typeof wall !== "function") throw invalidArgument("wallClock must be a function returning ms since 1970");
    this.wallClock = wall;
    this.maxDrift = drift * HLC_LOGICAL_SPAN;
    if (options.reserve !== undefined && typeof options.reserve !== "function") throw invalidArgument("reserve must be a function");
    this.reserve = options.reserve;
    const span = options.reserveSpan ?? DEFAULT_RESERVE_SPAN;
    if (!(Number.isSafeInteger(span) && span > 0)) throw invalidArgument("reserveSpan must be a positive integer");
    this.reserveSpan = span;
  }

  /** A new timestamp, greater than all before it. */
  now(): number {
    const p = physicalTimestamp(this.wallClock());
    const t = p > this.last ? p : this.last + 1;
    if (t > HLC_MAX) throw new LichenError("CLOCK_DRIFT", "hybrid logical clock exhausted its range");
    if (t > this.reserved && this.reserve !== undefined) {
      const bound = Math.min(t + this.reserveSpan, HLC_MAX);
      this.reserve(bound); // persisted before the timestamp exists
      this.reserved = bound;
    }
    this.last = t;
    return t;
  }

  /** The greatest timestamp issued or observed so far (0 if none). */
  get latest(): number {
    return this.last;
  }

  /**
   * Throws CLOCK_DRIFT if a remote timestamp lies too far in the future
   * (more than `maxDriftMs`, by default the clock's own, past the wall clock).
   * Checks only: call `observe` once the whole input has been validated.
   */
  check(remote: number, maxDriftMs?: number): void {
    if (remote <= this.last) return; // not ahead of what this clock already accepted
    const p = physicalTimestamp(this.wallClock());
    const drift = maxDriftMs === undefined ? this.maxDrift : maxDriftMs * HLC_LOGICAL_SPAN;
    if (p > 0 && remote > p + drift) {
      throw new LichenError(
        "CLOCK_DRIFT",
        `remote timestamp ${remote} (${new Date(timestampToMs(remote)).toISOString()}) is more than ` +
          `${drift / HLC_LOGICAL_SPAN} ms ahead of the local clock`,
      );
    }
  }

  /** Moves the clock past a timestamp already checked (remote) or read back from own storage. */
  observe(ts: number): void {
    if (ts > this.last) this.last = ts;
  }
}
