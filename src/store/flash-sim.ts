import { LichenError } from "../core/errors.js";
import { NVS_MAX_KEY_LENGTH, NVS_MAX_VALUE_BYTES, storageError, type FlashDriver } from "./flash-driver.js";

/**
 * A simulation of one NVS namespace, for tests and benchmarks on the host
 * (Node and XS; pure TypeScript, deterministic).
 *
 * - The same limits as NVS: keys of 1 to 15 characters, values of at most
 *   4,000 bytes; a break of either throws a STORAGE error before anything is
 *   written, as nvs_set_blob would fail.
 * - A capacity in bytes. An entry costs 32 bytes of header plus its value
 *   rounded up to 32 bytes (NVS's 32-byte entries). Like NVS, an overwrite
 *   writes the new entry before it erases the old one, so it needs room for
 *   both; a write that does not fit throws a STORAGE "flash full" error.
 * - Counters of writes, deletes, and written and erased bytes, in total and
 *   per key (`stats`, `statsOf`).
 * - Power cuts: `cutAfter(n, {landed})` lets n more writes or deletes happen;
 *   the next one is the one during which power is lost. With `landed: true`
 *   it happened (a single NVS write is atomic: entirely), with
 *   `landed: false` it did not. That call and every later call (reads too)
 *   throw a STORAGE "power lost" error until `reboot()`, which keeps exactly
 *   what was persisted. Calls refused for their arguments (limits, full) are
 *   not writes and do not count.
 */
export interface FlashSimOptions {
  /** Bytes of flash for this namespace. Default 1 MiB. */
  capacityBytes?: number;
  /** Default 15 (NVS). */
  maxKeyLength?: number;
  /** Default 4,000 (NVS through Moddable). */
  maxValueBytes?: number;
}

export interface FlashStats {
  /** Values written (set calls that landed). */
  writes: number;
  /** Keys erased (delete calls that found and removed a key). */
  deletes: number;
  /** Value bytes written by those writes. */
  bytesWritten: number;
  /** Value bytes erased: by deletes, and by overwrites (the old value). */
  bytesErased: number;
}

export interface CutOptions {
  /** Whether the write during which power is lost happened (entirely) or not at all. */
  landed: boolean;
}

const ENTRY_BYTES = 32;

function entryCost(length: number): number {
  return ENTRY_BYTES + Math.ceil(length / ENTRY_BYTES) * ENTRY_BYTES;
}

function newStats(): FlashStats {
  return { writes: 0, deletes: 0, bytesWritten: 0, bytesErased: 0 };
}

function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

export class FlashSim implements FlashDriver {
  readonly maxKeyLength: number;
  readonly maxValueBytes: number;
  readonly capacityBytes: number;
  private readonly data = new Map<string, Uint8Array>();
  private readonly perKey = new Map<string, FlashStats>();
  private totals: FlashStats = newStats();
  private used = 0;
  /** Writes and deletes attempted (the cut counts them): the write points. */
  private points = 0;
  /** Writes left before the cut, or -1 when no cut is armed. */
  private cutIn = -1;
  private cutLands = false;
  private powered = true;

  constructor(options: FlashSimOptions = {}) {
    this.capacityBytes = options.capacityBytes ?? 1 << 20;
    this.maxKeyLength = options.maxKeyLength ?? NVS_MAX_KEY_LENGTH;
    this.maxValueBytes = options.maxValueBytes ?? NVS_MAX_VALUE_BYTES;
  }

  get(key: string): Uint8Array | undefined {
    this.checkPower();
    this.checkKey(key);
    const v = this.data.get(key);
    return v === undefined ? undefined : copyBytes(v);
  }

  set(key: string, value: Uint8Array): void {
    this.checkPower();
    this.checkKey(key);
    if (!(value instanceof Uint8Array)) throw storageError("flash values are Uint8Arrays");
    if (value.length > this.maxValueBytes) throw storageError(`a value of ${value.length} bytes is over the flash's limit of ${this.maxValueBytes}`);
    if (this.used + entryCost(value.length) > this.capacityBytes) {
      throw storageError(`flash full: ${key} needs ${entryCost(value.length)} bytes, ${this.capacityBytes - this.used} of ${this.capacityBytes} are free`);
    }
    this.mutate(key, value);
  }

  delete(key: string): void {
    this.checkPower();
    this.checkKey(key);
    this.mutate(key, undefined);
  }

  keys(): string[] {
    this.checkPower();
    return Array.from(this.data.keys());
  }

  // ---- the simulation's controls ----

  /** n more writes or deletes happen; power is lost during the one after them. */
  cutAfter(n: number, options: CutOptions = { landed: false }): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new LichenError("INVALID_ARGUMENT", "cutAfter takes a count of writes");
    this.cutIn = n;
    this.cutLands = options.landed;
  }

  /** Power comes back: what was persisted stays, the armed cut (if any) is cleared. */
  reboot(): void {
    this.powered = true;
    this.cutIn = -1;
  }

  get poweredOn(): boolean {
    return this.powered;
  }

  /** Writes and deletes attempted so far (including one cut short): where a cut can fall. */
  get writePoints(): number {
    return this.points;
  }

  /** Bytes in use, in the simulation's entry accounting. */
  get usedBytes(): number {
    return this.used;
  }

  /** Totals since creation or the last resetStats(). */
  get stats(): FlashStats {
    return { ...this.totals };
  }

  statsOf(key: string): FlashStats {
    const s = this.perKey.get(key);
    return s === undefined ? newStats() : { ...s };
  }

  resetStats(): void {
    this.totals = newStats();
    this.perKey.clear();
    this.points = 0;
  }

  /** Test hook: replaces a key's bytes as a hardware fault would, without counting or cutting. */
  poke(key: string, bytes: Uint8Array | undefined): void {
    const old = this.data.get(key);
    if (old !== undefined) this.used -= entryCost(old.length);
    if (bytes === undefined) this.data.delete(key);
    else {
      this.data.set(key, copyBytes(bytes));
      this.used += entryCost(bytes.length);
    }
  }

  /** Test hook: the stored bytes, without power checks. */
  peek(key: string): Uint8Array | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : copyBytes(v);
  }

  /** A copy of the persisted contents (not the counters, not the power state). */
  clone(): FlashSim {
    const c = new FlashSim({ capacityBytes: this.capacityBytes, maxKeyLength: this.maxKeyLength, maxValueBytes: this.maxValueBytes });
    for (const [k, v] of this.data) c.poke(k, v);
    return c;
  }

  // ---- internals ----

  private checkPower(): void {
    if (!this.powered) throw storageError("power lost (simulated): reboot() the flash");
  }

  private checkKey(key: string): void {
    if (typeof key !== "string" || key.length === 0 || key.length > this.maxKeyLength) {
      throw storageError(`flash key ${JSON.stringify(key)} is not 1 to ${this.maxKeyLength} characters`);
    }
  }

  /** One write point: applies the write, unless power is lost during it (then it lands or not). */
  private mutate(key: string, value: Uint8Array | undefined): void {
    this.points++;
    if (this.cutIn === 0) {
      this.cutIn = -1;
      if (this.cutLands) this.apply(key, value);
      this.powered = false;
      throw storageError(`power lost (simulated) during a write to ${key} that ${this.cutLands ? "landed" : "did not land"}`);
    }
    if (this.cutIn > 0) this.cutIn--;
    this.apply(key, value);
  }

  private apply(key: string, value: Uint8Array | undefined): void {
    const old = this.data.get(key);
    if (old === undefined && value === undefined) return; // erasing a missing key writes nothing
    const s = this.perKey.get(key) ?? newStats();
    this.perKey.set(key, s);
    if (old !== undefined) {
      this.used -= entryCost(old.length);
      s.bytesErased += old.length;
      this.totals.bytesErased += old.length;
    }
    if (value === undefined) {
      this.data.delete(key);
      s.deletes++;
      this.totals.deletes++;
      return;
    }
    this.data.set(key, copyBytes(value));
    this.used += entryCost(value.length);
    s.writes++;
    s.bytesWritten += value.length;
    this.totals.writes++;
    this.totals.bytesWritten += value.length;
  }
}
