import { readArray, TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { invalidArgument, malformed } from "./errors.js";
import { SequenceCrdt, UNIT_PLAIN } from "./sequence.js";
import { copyValue, valueFromWire, valueToWire, type Value } from "./value.js";

// A replicated list (RGA family; integrated with YjsMod/FugueMax, see
// sequence.ts): values in an order every replica agrees on. Consecutive
// inserts by one replica are one run holding an array of their values.
// Values are copied and frozen when inserted, as everywhere in lichen.

function checkIndex(i: unknown, max: number, what: string): number {
  if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0 || i > max) {
    throw invalidArgument(`${what} must be an integer from 0 to ${max}, got ${String(i)}`);
  }
  return i;
}

export class Rga<T extends Value = Value> extends SequenceCrdt<Value[]> {
  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes<T extends Value = Value>(bytes: Uint8Array, replica?: string, options?: CrdtOptions): Rga<T> {
    return Crdt.restore((r) => new Rga<T>(r, options), TypeTag.Rga, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.Rga;
  }

  get length(): number {
    return this.size;
  }

  /** Inserts `value` at `index` (0..length). */
  insert(index: number, value: T): void {
    checkIndex(index, this.size, "index");
    this.insertLocal(index, [copyValue(value)], 1);
  }

  /** Deletes `count` values from `index`. */
  delete(index: number, count = 1): void {
    checkIndex(index, this.size, "index");
    checkIndex(count, this.size - index, "count");
    if (count > 0) this.deleteLocal(index, count);
  }

  /** The value at `index`, or undefined out of range. */
  get(index: number): T | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) return undefined;
    return this.partAt(index)[this.partOffset] as T;
  }

  toArray(): T[] {
    const out: T[] = [];
    for (const part of this.visibleParts()) for (const v of part) out.push(v as T);
    return out;
  }

  value(): T[] {
    return this.toArray();
  }

  protected get hasUnits(): boolean {
    return false;
  }

  protected sliceContent(c: Value[], start: number, end: number): Value[] {
    return c.slice(start, end);
  }

  protected appendContent(a: Value[], b: Value[]): Value[] {
    for (const v of b) a.push(v);
    return a;
  }

  protected unitKind(): number {
    return UNIT_PLAIN;
  }

  protected contentToWire(parts: Value[][]): unknown {
    const out: unknown[] = [];
    for (const part of parts) for (const v of part) out.push(valueToWire(v));
    return out;
  }

  protected contentFromWire(x: unknown, lengths: number[]): Value[][] {
    const all = readArray(x, "Rga content");
    let total = 0;
    for (const n of lengths) total += n;
    if (total !== all.length) throw malformed(`Rga: the runs hold ${total} values, the content ${all.length}`);
    const out: Value[][] = new Array<Value[]>(lengths.length);
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const part: Value[] = new Array<Value>(lengths[i]);
      for (let j = 0; j < lengths[i]; j++) part[j] = valueFromWire(all[at + j]);
      out[i] = part;
      at += lengths[i];
    }
    return out;
  }

  protected empty(replica: string): this {
    return new Rga<T>(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
