import { malformed, invalidArgument } from "./errors.js";
import { TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { SequenceCrdt, UNIT_HIGH, UNIT_LOW, UNIT_PLAIN } from "./sequence.js";

// Collaborative text: a sequence of UTF-16 code units (what JavaScript
// strings count), stored as runs of string slices (see sequence.ts).
//
// Astral characters (surrogate pairs) are never split. The text is always
// well-formed UTF-16: insert() refuses a string with a lone surrogate, and a
// position or a deletion boundary that falls between the two halves of a
// pair is an INVALID_ARGUMENT error (we do not round: an editor that sends
// such a position has a bug worth seeing). The two halves are consecutive
// items of one run, so no later insert can land between them: a remote insert
// whose origins would put it there, or a deletion of one half, is MALFORMED.

function surrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

/** True if s[a..b) has no lone surrogate (and so no pair cut at either end). */
function wellFormed(s: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (!surrogate(c)) continue;
    if (c >= 0xdc00 || i + 1 >= b) return false;
    const n = s.charCodeAt(i + 1);
    if (n < 0xdc00 || n > 0xdfff) return false;
    i++;
  }
  return true;
}

function checkPosition(pos: unknown, max: number, what: string): number {
  if (typeof pos !== "number" || !Number.isSafeInteger(pos) || pos < 0 || pos > max) {
    throw invalidArgument(`${what} must be an integer from 0 to ${max}, got ${String(pos)}`);
  }
  return pos;
}

export class Text extends SequenceCrdt<string> {
  constructor(replica: string, options?: CrdtOptions) {
    super(replica, options);
  }

  static fromBytes(bytes: Uint8Array, replica?: string, options?: CrdtOptions): Text {
    return Crdt.restore((r) => new Text(r, options), TypeTag.Text, bytes, replica, options?.maxPayloadBytes);
  }

  get typeTag(): number {
    return TypeTag.Text;
  }

  /** Length in UTF-16 code units, as JavaScript strings count. */
  get length(): number {
    return this.size;
  }

  /** Inserts `text` at `pos` (0..length). */
  insert(pos: number, text: string): void {
    if (typeof text !== "string") throw invalidArgument("insert() takes a string");
    checkPosition(pos, this.size, "position");
    if (!wellFormed(text, 0, text.length)) throw invalidArgument("the text has a lone surrogate (half of an astral character)");
    if (text.length === 0) return;
    this.checkBoundary(pos);
    this.insertLocal(pos, text, text.length);
  }

  /** Deletes `count` code units from `pos`. */
  delete(pos: number, count = 1): void {
    checkPosition(pos, this.size, "position");
    checkPosition(count, this.size - pos, "count");
    if (count === 0) return;
    this.checkBoundary(pos);
    this.checkBoundary(pos + count);
    this.deleteLocal(pos, count);
  }

  /** The code unit at `pos`, as a one-unit string (like String.prototype.charAt), or "" out of range. */
  charAt(pos: number): string {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos >= this.size) return "";
    return this.partAt(pos).charAt(this.partOffset);
  }

  override toString(): string {
    return this.visibleParts().join("");
  }

  value(): string {
    return this.toString();
  }

  private checkBoundary(pos: number): void {
    if (pos === 0 || pos === this.size) return;
    const s = this.partAt(pos);
    const c = s.charCodeAt(this.partOffset);
    if (c >= 0xdc00 && c <= 0xdfff) throw invalidArgument(`position ${pos} is inside an astral character (between the halves of a surrogate pair)`);
  }

  protected get hasUnits(): boolean {
    return true;
  }

  protected sliceContent(c: string, start: number, end: number): string {
    return c.slice(start, end);
  }

  protected appendContent(a: string, b: string): string {
    return a + b;
  }

  protected unitKind(c: string, off: number): number {
    const x = c.charCodeAt(off);
    return x < 0xd800 || x > 0xdfff ? UNIT_PLAIN : x < 0xdc00 ? UNIT_HIGH : UNIT_LOW;
  }

  protected contentToWire(parts: string[]): unknown {
    return parts.join("");
  }

  protected contentFromWire(x: unknown, lengths: number[]): string[] {
    if (typeof x !== "string") throw malformed("Text: content must be a string");
    let total = 0;
    for (const n of lengths) total += n;
    if (total !== x.length) throw malformed(`Text: the runs hold ${total} code units, the content ${x.length}`);
    const out: string[] = new Array<string>(lengths.length);
    let at = 0;
    for (let i = 0; i < lengths.length; i++) {
      const end = at + lengths[i];
      if (!wellFormed(x, at, end)) throw malformed("Text: a run with a lone surrogate");
      out[i] = x.slice(at, end);
      at = end;
    }
    return out;
  }

  protected empty(replica: string): this {
    return new Text(replica, { clock: this.clock, maxPayloadBytes: this.maxPayloadBytes }) as this;
  }
}
