import { isPlainObject } from "./checks.js";
import { invalidArgument, malformed } from "./errors.js";

/**
 * lichen's CBOR (RFC 8949), strict and small: only the items lichen writes.
 *
 * Encoding gives the bytes cbor-x 1.6 gives with lichen's options (`useRecords: false,
 * tagUint8Array: false, variableMapSize: true`), which the wire format was first defined by:
 * - integers from -2^31 to 2^32-1 in their shortest form, and integers in [-2^32, -2^31) as
 *   32-bit negatives; every other number (fractions, larger integers, NaN, ±Infinity) as a
 *   64-bit float; -0 as the integer 0;
 * - strings as UTF-8 (a lone surrogate as its 3-byte form), Uint8Array as a byte string,
 *   arrays, Map and plain objects (in key order) as definite-length maps;
 * - null, true, false. Anything else is refused: lichen never writes it.
 * Decoding accepts definite lengths only, no tags, no undefined, 16/32/64-bit floats, integers
 * within the safe range, valid UTF-8, no duplicate keys; maps become Map, byte strings are
 * views into the input.
 *
 * Nothing here keeps state between calls: the encoder measures the value, then writes it into
 * an array of the exact size (no shared buffer: on the device that is RAM kept for nothing).
 */

/** How deep the decoder follows nested arrays and maps. */
export const CBOR_MAX_DEPTH = 48;

// ---- encoding ----

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function isSmallInt(v: number): boolean {
  return (v >>> 0 === v || v >> 0 === v || (v < 0 && v >= -0x100000000 && Math.floor(v) === v));
}

// Strings are walked with for...of: XS keeps strings in UTF-8, where charCodeAt(i) costs O(i).
// A short one (an id, a key, a document key) is first read with charCodeAt as ASCII: bounded on
// XS, and on V8 several times cheaper than for...of, which makes a string per character.
const SHORT_STRING = 32;

/** True if the short string `s` is all ASCII (its UTF-8 is its code units). */
function shortAscii(s: string): boolean {
  if (s.length > SHORT_STRING) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

function utf8Length(s: string): number {
  if (shortAscii(s)) return s.length;
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

interface Writer {
  readonly out: Uint8Array;
  at: number;
  view: DataView | undefined;
}

function writeHead(w: Writer, major: number, n: number): void {
  const out = w.out;
  const m = major << 5;
  if (n < 24) out[w.at++] = m | n;
  else if (n < 0x100) {
    out[w.at++] = m | 24;
    out[w.at++] = n;
  } else if (n < 0x10000) {
    out[w.at++] = m | 25;
    out[w.at++] = n >> 8;
    out[w.at++] = n & 0xff;
  } else {
    out[w.at++] = m | 26;
    out[w.at++] = (n >>> 24) & 0xff;
    out[w.at++] = (n >> 16) & 0xff;
    out[w.at++] = (n >> 8) & 0xff;
    out[w.at++] = n & 0xff;
  }
}

function numberSize(v: number): number {
  return isSmallInt(v) ? headSize(v >= 0 ? v : -1 - v) : 9;
}

// A 64-bit float's bytes are worked out by arithmetic when the number is normal (every float
// lichen writes in practice: timestamps above 2^32, readings): a DataView of a small array costs
// more than the rest of an encode on V8 (it moves the array's bytes off the heap), and is an
// allocation on the device. Zero, subnormals, infinities and NaN go through a DataView. (The
// decoder keeps its view: on XS the arithmetic costs more bytecodes than one view per decode.)
const TWO_32 = 4294967296;
const TWO_52 = 4503599627370496;
const MIN_NORMAL = 2.2250738585072014e-308;
const MAX_FLOAT = 1.7976931348623157e308;

/** Writes `n` (0 to 2^32 - 1) as 4 bytes, big-endian, at out[at..]: a float's halves, a frame's or a record's checksum. */
export function writeUint32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

function writeFloat64(w: Writer, v: number): void {
  const a = v < 0 ? -v : v;
  if (a >= MIN_NORMAL && a <= MAX_FLOAT) {
    // a = (1 + m / 2^52) × 2^e: every step exact
    let e = Math.floor(Math.log2(a));
    if (e > 1023) e = 1023;
    let p = 2 ** e;
    if (p > a) p = 2 ** --e;
    else if (e < 1023 && p * 2 <= a) p = 2 ** ++e;
    const m = (a / p - 1) * TWO_52;
    const mhi = Math.floor(m / TWO_32);
    writeUint32(w.out, w.at, (v < 0 ? 0x80000000 : 0) + (e + 1023) * 0x100000 + mhi);
    writeUint32(w.out, w.at + 4, m - mhi * TWO_32);
  } else {
    w.view ??= new DataView(w.out.buffer, w.out.byteOffset, w.out.length);
    w.view.setFloat64(w.at, v);
  }
  w.at += 8;
}

function writeNumber(w: Writer, v: number): void {
  if (isSmallInt(v)) {
    if (v >= 0) writeHead(w, 0, v);
    else writeHead(w, 1, -1 - v);
  } else {
    w.out[w.at++] = 0xfb;
    writeFloat64(w, v);
  }
}

function writeString(w: Writer, s: string): void {
  const len = utf8Length(s);
  writeHead(w, 3, len);
  const out = w.out;
  if (len === s.length && len <= SHORT_STRING) {
    // as many bytes as code units: every one is ASCII
    for (let i = 0; i < len; i++) out[w.at++] = s.charCodeAt(i);
    return;
  }
  for (const ch of s) {
    const c = ch.codePointAt(0)!; // a lone surrogate is its own code point: 3 bytes, as cbor-x writes it
    if (c < 0x80) out[w.at++] = c;
    else if (c < 0x800) {
      out[w.at++] = 0xc0 | (c >> 6);
      out[w.at++] = 0x80 | (c & 0x3f);
    } else if (c < 0x10000) {
      out[w.at++] = 0xe0 | (c >> 12);
      out[w.at++] = 0x80 | ((c >> 6) & 0x3f);
      out[w.at++] = 0x80 | (c & 0x3f);
    } else {
      out[w.at++] = 0xf0 | (c >> 18);
      out[w.at++] = 0x80 | ((c >> 12) & 0x3f);
      out[w.at++] = 0x80 | ((c >> 6) & 0x3f);
      out[w.at++] = 0x80 | (c & 0x3f);
    }
  }
}

/** A Map's or plain object's keys and values by turns: the items its encoding holds, in order. */
function mapItems(m: Map<unknown, unknown> | Record<string, unknown>): unknown[] {
  const items: unknown[] = [];
  let j = 0;
  if (m instanceof Map) {
    for (const [k, x] of m) {
      items[j++] = k;
      items[j++] = x;
    }
  } else {
    const keys = Object.keys(m);
    for (let i = 0; i < keys.length; i++) {
      items[j++] = keys[i];
      items[j++] = m[keys[i]];
    }
  }
  return items;
}

// The encoder walks a value depth first twice, to measure it (and check it is something lichen
// writes), then to write it, each time with a stack of its own instead of recursion: the device has
// 512 slots of machine stack, and a value nested to CBOR_MAX_DEPTH must not reach them. The
// innermost container's items, the next one's index and their count are kept in locals (the fast
// path); `outer` keeps the three for each container around it.

/** Bytes `value` takes once encoded; throws on what lichen never writes. The items of each map and
 * plain object are pushed on `maps` in the order met, for write() to take them back. */
function measure(value: unknown, maps: unknown[][]): number {
  const outer: unknown[] = [];
  let sp = 0; // entries in use in outer (indexed: cheaper than push and pop in XS)
  let depth = 0; // containers around the items at hand
  let items: readonly unknown[] = [value]; // the innermost container's items (at the top: the value)
  let at = 0; // the next of them
  let end = 1; // how many there are
  let n = 0;
  let v: unknown;
  let len: number;
  let inner: readonly unknown[];
  for (;;) {
    while (at === end) {
      if (sp === 0) return n;
      end = outer[--sp] as number;
      at = outer[--sp] as number;
      items = outer[--sp] as unknown[];
      depth--;
    }
    v = items[at++];
    if (depth > CBOR_MAX_DEPTH) throw invalidArgument("value nested too deeply to encode");
    switch (typeof v) {
      case "number":
        n += numberSize(v);
        break;
      case "string":
        len = utf8Length(v);
        n += headSize(len) + len;
        break;
      case "boolean":
        n += 1;
        break;
      case "object": {
        if (v === null) {
          n += 1;
          break;
        }
        if (v instanceof Uint8Array) {
          n += headSize(v.length) + v.length;
          break;
        }
        if (Array.isArray(v)) {
          inner = v;
          n += headSize(v.length);
        } else if (v instanceof Map || isPlainObject(v)) {
          inner = mapItems(v as Map<unknown, unknown> | Record<string, unknown>);
          maps.push(inner as unknown[]);
          n += headSize(inner.length >> 1);
        } else throw invalidArgument(`cannot encode ${Object.prototype.toString.call(v)}`);
        if (inner.length === 0) break;
        outer[sp++] = items;
        outer[sp++] = at;
        outer[sp++] = end;
        items = inner;
        at = 0;
        end = inner.length;
        depth++;
        break;
      }
      default:
        throw invalidArgument(`cannot encode a value of type ${typeof v}`);
    }
  }
}

/** Writes `value`, which measure() accepted, in the order measure() walked it, with the items of
 * its maps that measure() collected. */
function write(w: Writer, value: unknown, maps: readonly unknown[][]): void {
  const outer: unknown[] = [];
  let sp = 0;
  let items: readonly unknown[] = [value];
  let at = 0;
  let end = 1;
  let m = 0;
  let v: unknown;
  let inner: readonly unknown[];
  for (;;) {
    while (at === end) {
      if (sp === 0) return;
      end = outer[--sp] as number;
      at = outer[--sp] as number;
      items = outer[--sp] as unknown[];
    }
    v = items[at++];
    switch (typeof v) {
      case "number":
        writeNumber(w, v);
        break;
      case "string":
        writeString(w, v);
        break;
      case "boolean":
        w.out[w.at++] = v ? 0xf5 : 0xf4;
        break;
      default: {
        if (v === null) {
          w.out[w.at++] = 0xf6;
          break;
        }
        if (v instanceof Uint8Array) {
          writeHead(w, 2, v.length);
          w.out.set(v, w.at);
          w.at += v.length;
          break;
        }
        if (Array.isArray(v)) {
          inner = v;
          writeHead(w, 4, v.length);
        } else {
          inner = maps[m++];
          writeHead(w, 5, inner.length >> 1);
        }
        if (inner.length === 0) break;
        outer[sp++] = items;
        outer[sp++] = at;
        outer[sp++] = end;
        items = inner;
        at = 0;
        end = inner.length;
      }
    }
  }
}

// Two shapes the gateway writes for every delta, encoded without the walk (its stacks, its map
// lists, the measure of each item twice): the bytes are cborEncode's for the same value.

function flatItemSize(v: unknown): number {
  if (typeof v === "number") return numberSize(v);
  if (typeof v === "string") {
    const len = utf8Length(v);
    return headSize(len) + len;
  }
  if (v instanceof Uint8Array) return headSize(v.length) + v.length;
  throw invalidArgument("a flat array holds numbers, strings and byte strings only");
}

function writeFlatItem(w: Writer, v: number | string | Uint8Array): void {
  if (typeof v === "number") writeNumber(w, v);
  else if (typeof v === "string") writeString(w, v);
  else {
    writeHead(w, 2, v.length);
    w.out.set(v, w.at);
    w.at += v.length;
  }
}

/** Bytes a lone number or string takes encoded: cborEncode(v).length. */
export function cborScalarSize(v: number | string): number {
  return flatItemSize(v);
}

/** Writes a lone number or string into `out` at `at`, as cborEncode(v) would; returns where it ends.
 * (For a head built of several items in one array: no array per item.) */
export function cborWriteScalar(out: Uint8Array, at: number, v: number | string): number {
  const w: Writer = { out, at, view: undefined };
  writeFlatItem(w, v);
  return w.at;
}

/** An array of numbers, strings and byte strings (a record's fields): cborEncode(items), without the walk. */
export function cborEncodeFlat(items: ReadonlyArray<number | string | Uint8Array>): Uint8Array {
  let n = headSize(items.length);
  for (let i = 0; i < items.length; i++) n += flatItemSize(items[i]);
  const w: Writer = { out: new Uint8Array(n), at: 0, view: undefined };
  writeHead(w, 4, items.length);
  for (let i = 0; i < items.length; i++) writeFlatItem(w, items[i]!);
  return w.out;
}

/** cborEncodeFlat([...items, cborEncodeFlat(inner)]) in one array: a record whose last field is the
 * bytes of another flat array (an event-log record holding its event's data), without the inner
 * array and its copy. */
export function cborEncodeFlatWrapping(items: ReadonlyArray<number | string | Uint8Array>, inner: ReadonlyArray<number | string | Uint8Array>): Uint8Array {
  let m = headSize(inner.length);
  for (let i = 0; i < inner.length; i++) m += flatItemSize(inner[i]);
  let n = headSize(items.length + 1) + headSize(m) + m;
  for (let i = 0; i < items.length; i++) n += flatItemSize(items[i]);
  const w: Writer = { out: new Uint8Array(n), at: 0, view: undefined };
  writeHead(w, 4, items.length + 1);
  for (let i = 0; i < items.length; i++) writeFlatItem(w, items[i]!);
  writeHead(w, 2, m);
  writeHead(w, 4, inner.length);
  for (let i = 0; i < inner.length; i++) writeFlatItem(w, inner[i]!);
  return w.out;
}

/** The pairs [key, counts.get(key)] for each key in the order given (a version vector's canonical
 * form): cborEncode(keys.map((k) => [k, counts.get(k)])), without building the pairs. Every key is in counts. */
export function cborEncodeEntries(keys: readonly string[], counts: ReadonlyMap<string, number>): Uint8Array {
  let n = headSize(keys.length);
  for (let i = 0; i < keys.length; i++) n += 1 + flatItemSize(keys[i]) + flatItemSize(counts.get(keys[i]!));
  const w: Writer = { out: new Uint8Array(n), at: 0, view: undefined };
  writeHead(w, 4, keys.length);
  for (let i = 0; i < keys.length; i++) {
    w.out[w.at++] = 0x82; // a pair
    writeString(w, keys[i]!);
    writeNumber(w, counts.get(keys[i]!)!);
  }
  return w.out;
}

// For an encoder that knows its value's shape (a type's whole state, written per change on the
// gateway): it measures the items with cborLeafSize/cborHeadSize, then writes them in the same
// order into a cborWriter of that size. The bytes are cborEncode's for the same value.

/** An exact-size output and where the next item goes. */
export type CborWriter = Writer;

export function cborWriter(size: number): CborWriter {
  return { out: new Uint8Array(size), at: 0, view: undefined };
}

/** Bytes a leaf takes (number, string, byte string, boolean, null), or -1 for anything else (a container). */
export function cborLeafSize(v: unknown): number {
  switch (typeof v) {
    case "number":
      return numberSize(v);
    case "string": {
      const len = utf8Length(v);
      return headSize(len) + len;
    }
    case "boolean":
      return 1;
    default:
      if (v === null) return 1;
      if (v instanceof Uint8Array) return headSize(v.length) + v.length;
      return -1;
  }
}

/** Writes a leaf that cborLeafSize measured. */
export function cborWriteLeaf(w: CborWriter, v: unknown): void {
  switch (typeof v) {
    case "number":
      writeNumber(w, v);
      return;
    case "string":
      writeString(w, v);
      return;
    case "boolean":
      w.out[w.at++] = v ? 0xf5 : 0xf4;
      return;
    default:
      if (v === null) w.out[w.at++] = 0xf6;
      else {
        const b = v as Uint8Array;
        writeHead(w, 2, b.length);
        w.out.set(b, w.at);
        w.at += b.length;
      }
  }
}

/** Bytes of an array's head of `n` items. */
export function cborHeadSize(n: number): number {
  return headSize(n);
}

/** Writes the head of an array of `n` items (its items follow). */
export function cborWriteArrayHead(w: CborWriter, n: number): void {
  writeHead(w, 4, n);
}

/** Encodes `value` into a new Uint8Array of exactly its size. Throws INVALID_ARGUMENT on what lichen never writes. */
export function cborEncode(value: unknown): Uint8Array {
  // a lone number or string (a frame's tag, counts, session ids) needs no walk and no stacks
  if (typeof value === "number") {
    const w: Writer = { out: new Uint8Array(numberSize(value)), at: 0, view: undefined };
    writeNumber(w, value);
    return w.out;
  }
  if (typeof value === "string") {
    const len = utf8Length(value);
    const w: Writer = { out: new Uint8Array(headSize(len) + len), at: 0, view: undefined };
    writeString(w, value);
    return w.out;
  }
  const maps: unknown[][] = [];
  const w: Writer = { out: new Uint8Array(measure(value, maps)), at: 0, view: undefined };
  write(w, value, maps);
  return w.out;
}

// ---- decoding ----

interface Reader {
  readonly b: Uint8Array;
  at: number;
  /** A view of b for its floats, made at the first one: one per decode, not one per float. */
  view: DataView | undefined;
}

function need(r: Reader, n: number): void {
  if (n > r.b.length - r.at) throw malformed("truncated payload");
}

/** The argument of the head whose additional information is `info`. */
function readArgument(r: Reader, info: number): number {
  const b = r.b;
  if (info < 24) return info;
  let n: number;
  if (info === 24) {
    need(r, 1);
    n = b[r.at];
    r.at += 1;
  } else if (info === 25) {
    need(r, 2);
    n = (b[r.at] << 8) | b[r.at + 1];
    r.at += 2;
  } else if (info === 26) {
    need(r, 4);
    n = ((b[r.at] << 24) >>> 0) + (b[r.at + 1] << 16) + (b[r.at + 2] << 8) + b[r.at + 3];
    r.at += 4;
  } else if (info === 27) {
    need(r, 8);
    const hi = ((b[r.at] << 24) >>> 0) + (b[r.at + 1] << 16) + (b[r.at + 2] << 8) + b[r.at + 3];
    const lo = ((b[r.at + 4] << 24) >>> 0) + (b[r.at + 5] << 16) + (b[r.at + 6] << 8) + b[r.at + 7];
    if (hi >= 0x200000) throw malformed("integer or length beyond the safe integer range");
    n = hi * 4294967296 + lo;
    r.at += 8;
  } else throw malformed(info === 31 ? "indefinite-length items are not used by lichen" : "reserved CBOR header");
  return n;
}

function readUtf8(r: Reader, len: number): string {
  const b = r.b;
  const end = r.at + len;
  let s = "";
  let i = r.at;
  while (i < end) {
    const c = b[i++];
    let cp: number;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c < 0xe0 && i < end && (b[i] & 0xc0) === 0x80) cp = ((c & 0x1f) << 6) | (b[i++] & 0x3f);
    else if (c >= 0xe0 && c < 0xf0 && i + 1 < end && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80) {
      cp = ((c & 0x0f) << 12) | ((b[i] & 0x3f) << 6) | (b[i + 1] & 0x3f);
      i += 2;
      if (cp < 0x800) throw malformed("overlong UTF-8 in a string");
    } else if (c >= 0xf0 && c < 0xf5 && i + 2 < end && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
      cp = ((c & 0x07) << 18) | ((b[i] & 0x3f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
      i += 3;
      if (cp < 0x10000 || cp > 0x10ffff) throw malformed("invalid UTF-8 in a string");
      cp -= 0x10000;
      s += String.fromCharCode(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      continue;
    } else throw malformed("invalid UTF-8 in a string");
    s += String.fromCharCode(cp);
  }
  r.at = end;
  return s;
}

function readFloat(r: Reader, info: number): number {
  const b = r.b;
  if (info === 25) {
    const h = (b[r.at] << 8) | b[r.at + 1];
    r.at += 2;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const mag = exp === 0 ? mant * 2 ** -24 : exp === 31 ? (mant === 0 ? Infinity : NaN) : (1024 + mant) * 2 ** (exp - 25);
    return h & 0x8000 ? -mag : mag;
  }
  // one view per decode (its bytes are read in place: not the cost a view of a new array is to the encoder)
  const view = (r.view ??= new DataView(b.buffer, b.byteOffset, b.length));
  const at = r.at;
  r.at += info === 26 ? 4 : 8;
  return info === 26 ? view.getFloat32(at) : view.getFloat64(at);
}

/**
 * Reads one item and all it holds. The arrays and maps it is inside are a stack of its own, not
 * recursion: hostile nesting must not reach the machine's stack, which the device has little of
 * (512 slots). The innermost container is kept in locals (the fast path); `outer` keeps four
 * entries for each container around it: the container, `inArray`, `left` and `key`.
 */
function readItem(r: Reader): unknown {
  const b = r.b;
  const outer: unknown[] = [];
  let sp = 0; // entries in use in outer (indexed: cheaper than push and pop in XS)
  let depth = 0; // containers around the item at hand
  let box: unknown[] | Map<unknown, unknown> | undefined; // the innermost container, undefined at the top
  let inArray = false; // whether box is an array (else a map)
  let left = 0; // items it still takes (a map's keys and values apart: an even count means a key is next)
  let key: unknown = undefined; // a map's key, read before its value
  let head: number;
  let major: number;
  let info: number;
  let n: number;
  let v: unknown;
  for (;;) {
    if (depth > CBOR_MAX_DEPTH) throw malformed("payload nested too deeply");
    if (r.at >= b.length) throw malformed("truncated payload");
    head = b[r.at++];
    major = head >> 5;
    info = head & 31;
    if (major === 7) {
      if (info === 20) v = false;
      else if (info === 21) v = true;
      else if (info === 22) v = null;
      else if (info === 25 || info === 26 || info === 27) {
        need(r, info === 25 ? 2 : info === 26 ? 4 : 8);
        v = readFloat(r, info);
      } else throw malformed(`unsupported CBOR simple value ${info}`);
    } else {
      n = info < 24 ? info : readArgument(r, info);
      switch (major) {
        case 0:
          v = n;
          break;
        case 1:
          v = -1 - n;
          break;
        case 2:
          need(r, n);
          r.at += n;
          v = b.subarray(r.at - n, r.at);
          break;
        case 3:
          need(r, n);
          v = readUtf8(r, n);
          break;
        case 4:
          // every item takes at least one byte: a longer count is a lie, refused before allocating
          if (n > b.length - r.at) throw malformed("array longer than the payload");
          if (n === 0) {
            v = [];
            break;
          }
          if (box !== undefined) {
            outer[sp++] = box;
            outer[sp++] = inArray;
            outer[sp++] = left;
            outer[sp++] = key;
          }
          box = [];
          inArray = true;
          left = n;
          depth++;
          continue;
        case 5:
          if (n * 2 > b.length - r.at) throw malformed("map longer than the payload");
          if (n === 0) {
            v = new Map();
            break;
          }
          if (box !== undefined) {
            outer[sp++] = box;
            outer[sp++] = inArray;
            outer[sp++] = left;
            outer[sp++] = key;
          }
          box = new Map();
          inArray = false;
          left = n * 2;
          depth++;
          continue;
        default:
          throw malformed("CBOR tags are not used by lichen");
      }
    }
    // hand the item to its container, and each container it completes to the one around it
    for (;;) {
      if (box === undefined) return v;
      if (inArray) (box as unknown[]).push(v);
      else if ((left & 1) === 0) {
        if ((box as Map<unknown, unknown>).has(v)) throw malformed("duplicate key in a map");
        key = v;
      } else (box as Map<unknown, unknown>).set(key, v);
      if (--left > 0) break;
      v = box;
      depth--;
      if (sp === 0) box = undefined;
      else {
        key = outer[--sp];
        outer[sp] = undefined; // a key is kept no longer than its map
        left = outer[--sp] as number;
        inArray = outer[--sp] as boolean;
        box = outer[--sp] as unknown[] | Map<unknown, unknown>;
      }
    }
  }
}

/** Decodes exactly one item filling `bytes`. Throws MALFORMED on anything else. */
export function cborDecode(bytes: Uint8Array): unknown {
  const r: Reader = { b: bytes, at: 0, view: undefined };
  const v = readItem(r);
  if (r.at !== bytes.length) throw malformed(`${bytes.length - r.at} trailing bytes after the payload`);
  return v;
}
