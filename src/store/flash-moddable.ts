// The device's flash for FlashKv: one NVS namespace through Moddable's ECMA-419
// key-value storage. Device-only: it imports a Moddable module and never runs on
// the host (the host runs FlashKv over flash-sim.ts instead).
//
// Why `embedded:storage/key-value` and not Moddable's older `preference` module
// (Moddable SDK sources, modules/io/storage/esp32/storage-esp32.{js,c} and
// modules/files/preference/esp32/modPreference.c):
// - `Preference.set(domain, key, value)` erases the key before it writes the new
//   value (its ERASE_KEY works around an ESP-IDF type-change bug), so a power cut
//   between the two loses the old value without writing the new one: an
//   overwrite is not atomic, and it costs two flash operations. FlashKv commits
//   by overwriting a head record, so it needs the atomic overwrite.
// - `Storage.write(key, bytes)` calls nvs_set_blob and nvs_commit, nothing else:
//   NVS appends the new entry and then marks the old one erased, so after a power
//   cut the key holds the old value or the new one.
// - `Preference` opens and closes the NVS namespace on every call; a Storage
//   keeps its handle open.
//
// The API used (typings/embedded/storage/key-value.d.ts and the ESP32
// implementation named above):
//   import KeyValue from "embedded:storage/key-value";
//   const s = KeyValue.open({ path: namespace, mode: "r+", format: "buffer" });
//     path: the NVS namespace (at most 15 characters); mode "r" or "r+";
//     format "buffer" (the default): values are bytes.
//   s.read(key)          → ArrayBuffer, or undefined when the key is missing;
//                          throws TypeError("mismatch") when the entry is not a blob
//   s.write(key, bytes)  ← ArrayBuffer or a view (Uint8Array, DataView, subarray); throws
//                          an Error named after the esp_err_t (e.g. ESP_ERR_NVS_NOT_ENOUGH_SPACE)
//   s.delete(key)        a missing key is not an error
//   for (const key of s) the namespace's keys (nvs_entry_find_in_handle)
//   s.close()
// Limits (Moddable's documentation/files/files.md, "class Preference", on the
// same NVS library): keys and namespaces of at most 15 characters, values of at
// most 4,000 bytes.
//
// The app's manifest must include "$(MODDABLE)/modules/io/storage/manifest.json",
// which provides "embedded:storage/key-value" on the ESP32 (and preloads it).

// @ts-ignore: a Moddable module; its shape is declared by KeyValueStorage below
import KeyValue from "embedded:storage/key-value";
import { LichenError } from "../core/errors.js";
import { asStorageError, NVS_MAX_KEY_LENGTH, NVS_MAX_VALUE_BYTES, storageError, type FlashDriver } from "./flash-driver.js";

/** The part of ECMA-419's key-value Storage that this driver uses. */
interface KeyValueStorage {
  read(key: string): ArrayBuffer | undefined;
  write(key: string, value: ArrayBuffer | ArrayBufferView): void;
  delete(key: string): void;
  close(): void;
  [Symbol.iterator](): Iterator<string>;
}

interface KeyValueModule {
  open(options: { path: string; mode?: "r" | "r+"; format?: "buffer" }): KeyValueStorage;
}

function checkKey(key: string): void {
  if (key.length === 0 || key.length > NVS_MAX_KEY_LENGTH) throw storageError(`NVS key ${JSON.stringify(key)} is not 1 to ${NVS_MAX_KEY_LENGTH} characters`);
}

class ModdableFlash implements FlashDriver {
  readonly maxKeyLength = NVS_MAX_KEY_LENGTH;
  readonly maxValueBytes = NVS_MAX_VALUE_BYTES;
  private storage: KeyValueStorage | undefined;

  constructor(storage: KeyValueStorage) {
    this.storage = storage;
  }

  get(key: string): Uint8Array | undefined {
    checkKey(key);
    let buffer: ArrayBuffer | undefined;
    try {
      buffer = this.handle().read(key);
    } catch (e) {
      if (e instanceof TypeError) throw new LichenError("CORRUPT", `NVS entry ${key} is not a blob`);
      throw asStorageError(e, `NVS read of ${key}`);
    }
    return buffer === undefined ? undefined : new Uint8Array(buffer);
  }

  set(key: string, value: Uint8Array): void {
    checkKey(key);
    if (value.length > NVS_MAX_VALUE_BYTES) throw storageError(`a value of ${value.length} bytes is over NVS's ${NVS_MAX_VALUE_BYTES}`);
    try {
      this.handle().write(key, value);
    } catch (e) {
      throw asStorageError(e, `NVS write of ${key}`);
    }
  }

  delete(key: string): void {
    checkKey(key);
    try {
      this.handle().delete(key);
    } catch (e) {
      throw asStorageError(e, `NVS delete of ${key}`);
    }
  }

  keys(): string[] {
    const out: string[] = [];
    try {
      for (const key of this.handle() as Iterable<string>) out.push(key);
    } catch (e) {
      throw asStorageError(e, "NVS key listing");
    }
    return out;
  }

  close(): void {
    const s = this.storage;
    this.storage = undefined;
    if (s !== undefined) s.close();
  }

  private handle(): KeyValueStorage {
    if (this.storage === undefined) throw new LichenError("CLOSED", "this flash driver is closed");
    return this.storage;
  }
}

/**
 * Opens one NVS namespace (1 to 15 characters; lichen's default is "lichen")
 * for FlashKv: `FlashKv.open(openModdableFlash())`. Every namespace should have
 * one FlashKv only, and nothing else should write into it.
 */
export function openModdableFlash(namespace = "lichen"): FlashDriver {
  if (typeof namespace !== "string" || namespace.length === 0 || namespace.length > NVS_MAX_KEY_LENGTH) {
    throw new LichenError("INVALID_ARGUMENT", `an NVS namespace is 1 to ${NVS_MAX_KEY_LENGTH} characters`);
  }
  let storage: KeyValueStorage;
  try {
    storage = (KeyValue as KeyValueModule).open({ path: namespace, mode: "r+", format: "buffer" });
  } catch (e) {
    throw asStorageError(e, `opening NVS namespace ${namespace}`);
  }
  return new ModdableFlash(storage);
}
