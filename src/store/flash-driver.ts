import { LichenError } from "../core/errors.js";

/**
 * The raw key/value flash that FlashKv runs on: one NVS namespace of an
 * ESP32 (through Moddable's `embedded:storage/key-value`, flash-moddable.ts),
 * or its simulation on the host (flash-sim.ts).
 *
 * It is shaped after what the device offers, and no more:
 * - `embedded:storage/key-value` (ECMA-419, Moddable's ESP32 build):
 *   `open({path, mode, format: "buffer"})` gives one NVS namespace;
 *   `read(key)` → ArrayBuffer | undefined, `write(key, bytes)`,
 *   `delete(key)` (a missing key is not an error), and iteration over the
 *   namespace's keys. Every write and delete is committed before it returns.
 * - NVS (ESP-IDF): keys of 1 to 15 ASCII characters, blob values of up to
 *   4,000 bytes as Moddable documents them, and a log-structured page layout:
 *   an update appends the new entry and then marks the old one erased, so a
 *   single write or delete survives a power cut either entirely or not at all.
 *
 * The contract FlashKv relies on:
 * - `set` replaces a key's value atomically: after a power cut the key holds
 *   either its old value or the new one, never a mix and never nothing.
 * - `delete` is atomic too, and deleting a missing key does nothing.
 * - `get` returns a fresh array that the caller owns, or undefined.
 * - `keys` lists every key of the namespace, in any order.
 * - Failures of the backend (full, I/O, power lost) throw a LichenError with
 *   code "STORAGE". A key longer than `maxKeyLength` or a value over
 *   `maxValueBytes` is refused the same way, before anything is written.
 *   Bytes that cannot be a value (e.g. an NVS entry of another type) may be
 *   reported as "CORRUPT".
 */
export interface FlashDriver {
  /** Longest physical key, in characters (NVS: 15). */
  readonly maxKeyLength: number;
  /** Largest value, in bytes (NVS through Moddable: 4,000). */
  readonly maxValueBytes: number;
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
  keys(): string[];
  /** Releases the native handle, if there is one. FlashKv.close() calls it. */
  close?(): void;
}

/** NVS's longest key: 15 characters (NVS_KEY_NAME_MAX_SIZE is 16 with the terminating NUL). */
export const NVS_MAX_KEY_LENGTH = 15;
/** The largest value Moddable documents for NVS on the ESP32. */
export const NVS_MAX_VALUE_BYTES = 4000;

export function storageError(message: string): LichenError {
  return new LichenError("STORAGE", message);
}

/** An error from a driver as a LichenError: LichenErrors pass through, anything else becomes "STORAGE". */
export function asStorageError(e: unknown, what: string): LichenError {
  if (e instanceof LichenError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return storageError(`${what}: ${message}`);
}
