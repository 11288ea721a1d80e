// ECMA-419's "embedded:storage/key-value" in RAM, for Moddable's simulator: the SDK has no
// key-value storage on lin, so targets/esp32/manifest.json maps the specifier onto this module
// there (and only there). The part src/store/flash-moddable.ts uses: open, read, write, delete,
// the keys, close. Values are copied in and out, as flash would. What is stored lives as long as
// the simulator runs: every start is a node with blank flash.

interface OpenOptions {
  path: string;
  mode?: "r" | "r+";
  format?: "buffer";
}

class RamStorage {
  private readonly values = new Map<string, ArrayBuffer>();
  private readonly writable: boolean;
  private open = true;

  constructor(writable: boolean) {
    this.writable = writable;
  }

  read(key: string): ArrayBuffer | undefined {
    this.check(false);
    const v = this.values.get(key);
    return v === undefined ? undefined : v.slice(0);
  }

  write(key: string, value: ArrayBuffer | ArrayBufferView): void {
    this.check(true);
    const bytes = ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
    this.values.set(key, bytes.slice().buffer);
  }

  delete(key: string): void {
    this.check(true);
    this.values.delete(key);
  }

  close(): void {
    this.open = false;
  }

  [Symbol.iterator](): Iterator<string> {
    this.check(false);
    return [...this.values.keys()][Symbol.iterator]();
  }

  private check(write: boolean): void {
    if (!this.open) throw new Error("closed");
    if (write && !this.writable) throw new Error("read-only");
  }
}

export default class KeyValue {
  static open(options: OpenOptions): RamStorage {
    if (options.format !== undefined && options.format !== "buffer") throw new RangeError("format");
    return new RamStorage(options.mode === "r+");
  }
}
