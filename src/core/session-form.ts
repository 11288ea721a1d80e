import { cborDecode, cborEncode, cborScalarSize, cborWriteScalar } from "./cbor.js";
import { FORMAT_VERSION, TypeTag } from "./codec.js";
import { fnv1aString } from "./hash.js";
import { HLC_LOGICAL_SPAN } from "./hlc.js";
import { LichenError, malformed } from "./errors.js";

/**
 * The session form of lichen's CBOR: what two peers in a session need not
 * tell each other. Both ends know the sender's replica id (the authenticated
 * peer: its MQTT identity and topic) and the receiver's, so inside a session
 * - a text string equal to session id k is written as the one-byte CBOR simple
 *   value k (0xe0 + k), and
 * - a text string "<prefix>/<session id k>" (a document key such as
 *   "readings/<node id>") as the two-byte simple value 32 + k (0xf8, 0x20 + k)
 *   followed by the text string "<prefix>".
 * This is a lossless rewrite of the bytes, whatever a string means (a replica
 * id, a map key, a value): expanding gives back the exact standalone bytes, so
 * everything checked on a decoded payload (its shape, its authorship) is
 * checked the same. The ids come from the session, never from the bytes: a
 * peer cannot choose what its references stand for. Stored and standalone
 * payloads never use the session form.
 *
 * Both directions are one pass over the bytes (no decoded tree): cheap on the
 * device, and they never look inside byte strings (a frame's delta is
 * rewritten on its own).
 */

/** The ids a session knows: [the sender's replica id, the receiver's]. */
export type SessionIds = readonly string[];

/** Session ids with a one-byte reference (CBOR simple values 0..19). */
export const MAX_SESSION_IDS = 20;
/** Simple value 32 + k: a text that ends with "/" and session id k. */
export const SUFFIX_REF = 32;
const SLASH = 0x2f;

interface Token {
  major: number;
  info: number;
  /** The head's argument: a count, a length, or the value of an unsigned integer. */
  n: number;
  /** Where the item's content starts (after its head), and where the token ends. */
  body: number;
  end: number;
}

/** One CBOR token at `at`: a head, plus the content of a byte or text string. Nested items are the tokens that follow. */
function token(b: Uint8Array, at: number, t: Token): void {
  const head = b[at];
  const major = head >> 5;
  const info = head & 31;
  let n = info;
  let body = at + 1;
  if (info >= 24) {
    if (info > 27) throw malformed("session form: indefinite length or reserved CBOR head");
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 8;
    if (body + size > b.length) throw malformed("session form: truncated");
    n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + b[body + i];
    body += size;
  }
  let end = body;
  if (major === 2 || major === 3) {
    if (n > b.length - body) throw malformed("session form: string longer than the payload");
    end = body + n;
  } else if (major === 7 && info >= 24) end = body; // floats and two-byte simple values: their bytes were the argument
  t.major = major;
  t.info = info;
  t.n = n;
  t.body = body;
  t.end = end;
}

function isText(t: Token): boolean {
  return t.major === 3;
}

function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeTextHead(out: Uint8Array, at: number, n: number): number {
  if (n < 24) {
    out[at] = 0x60 | n;
    return at + 1;
  }
  const size = headBytes(n) - 1;
  out[at] = 0x60 | (size === 1 ? 24 : size === 2 ? 25 : 26);
  for (let i = size; i > 0; i--) out[at + i] = (n >>> ((size - i) * 8)) & 0xff;
  return at + size + 1;
}

/** The UTF-8 bytes of each session id (its text item without the head). */
function idBytes(ids: SessionIds): Uint8Array[] {
  if (ids.length > MAX_SESSION_IDS) throw new LichenError("INVALID_ARGUMENT", `at most ${MAX_SESSION_IDS} session ids`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < ids.length; i++) {
    // an ASCII id (the usual MAC-like one) is its own UTF-8: no CBOR encoder per frame
    const ascii = asciiBytes(ids[i]);
    if (ascii !== undefined) out.push(ascii);
    else {
      const item = cborEncode(ids[i]);
      const t: Token = { major: 0, info: 0, n: 0, body: 0, end: 0 };
      token(item, 0, t);
      out.push(item.subarray(t.body, t.end));
    }
  }
  return out;
}

/** The bytes of a string whose code units are all below 0x80, else undefined. */
function asciiBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return undefined;
    out[i] = c;
  }
  return out;
}

/** Copies `from[start..end)` into `out` at `w`; returns where the copy ends. A short span is copied
 * byte by byte: most spans are a few bytes, and a subarray for each costs more than the copy. */
function copyBytes(out: Uint8Array, w: number, from: Uint8Array, start: number, end: number): number {
  if (end - start > 32) {
    out.set(from.subarray(start, end), w);
    return w + end - start;
  }
  for (let i = start; i < end; i++) out[w++] = from[i];
  return w;
}

function sameBytes(b: Uint8Array, at: number, id: Uint8Array): boolean {
  for (let i = 0; i < id.length; i++) if (b[at + i] !== id[i]) return false;
  return true;
}

/**
 * Rewrites standalone CBOR into its session form. Never longer than the input. With `room`, that
 * many bytes are left after it, zeros (a frame's CRC, written in place: no copy to append it).
 */
export function compactIds(b: Uint8Array, ids: SessionIds, from = 0, room = 0): Uint8Array {
  const refs = idBytes(ids);
  const out = new Uint8Array(b.length - from + room);
  const t: Token = { major: 0, info: 0, n: 0, body: 0, end: 0 };
  let w = 0;
  let at = from;
  let kept = from; // the tokens from here to `at` are copied as they are, in one go when a reference is written
  while (at < b.length) {
    token(b, at, t);
    if (t.major === 7 && (t.info < 20 || t.info === 24)) throw malformed("session form: a simple value in standalone bytes");
    if (t.major === 3) {
      const len = t.end - t.body;
      for (let k = 0; k < refs.length; k++) {
        const id = refs[k];
        if (len === id.length && sameBytes(b, t.body, id)) {
          w = copyBytes(out, w, b, kept, at);
          out[w++] = 0xe0 | k;
          kept = t.end;
          break;
        } else if (len > id.length + 1 && b[t.end - id.length - 1] === SLASH && sameBytes(b, t.end - id.length, id)) {
          w = copyBytes(out, w, b, kept, at);
          out[w++] = 0xf8;
          out[w++] = SUFFIX_REF + k;
          const prefix = len - id.length - 1;
          w = writeTextHead(out, w, prefix);
          w = copyBytes(out, w, b, t.body, t.body + prefix);
          kept = t.end;
          break;
        }
      }
    }
    at = t.end;
  }
  w = copyBytes(out, w, b, kept, at);
  return w + room === out.length ? out : out.slice(0, w + room);
}

/**
 * Rewrites session-form CBOR back to standalone bytes, after `prefix`.
 * Refuses (MALFORMED) a reference to no session id, and (TOO_LARGE) an
 * expansion over `maxBytes`, measured before anything is allocated.
 */
export function expandIds(b: Uint8Array, ids: SessionIds, maxBytes: number, prefix?: Uint8Array): Uint8Array {
  const refs = idBytes(ids);
  const t: Token = { major: 0, info: 0, n: 0, body: 0, end: 0 };
  const pre = prefix === undefined ? 0 : prefix.length;
  // first pass: the size, and every reference checked
  let size = pre;
  let at = 0;
  while (at < b.length) {
    token(b, at, t);
    if (t.major === 7 && t.info < 20) {
      if (t.info >= refs.length) throw malformed(`session form: reference to session id ${t.info}, of ${refs.length}`);
      size += headBytes(refs[t.info].length) + refs[t.info].length;
      at = t.end;
    } else if (t.major === 7 && t.info === 24 && b[at + 1] >= SUFFIX_REF && b[at + 1] < SUFFIX_REF + MAX_SESSION_IDS) {
      const k = b[at + 1] - SUFFIX_REF;
      if (k >= refs.length) throw malformed(`session form: reference to session id ${k}, of ${refs.length}`);
      if (t.end >= b.length) throw malformed("session form: truncated");
      token(b, t.end, t);
      if (!isText(t)) throw malformed("session form: a document reference without its prefix");
      const len = t.end - t.body + 1 + refs[k].length;
      size += headBytes(len) + len;
      at = t.end;
    } else {
      size += t.end - at;
      at = t.end;
    }
    if (size > maxBytes) throw new LichenError("TOO_LARGE", `session-form bytes expand to more than ${maxBytes}`);
  }
  const out = new Uint8Array(size);
  if (prefix !== undefined) out.set(prefix);
  let w = pre;
  at = 0;
  let kept = 0; // the tokens from here to `at` are copied as they are, in one go when a reference is expanded
  while (at < b.length) {
    token(b, at, t);
    if (t.major === 7 && t.info < 20) {
      w = copyBytes(out, w, b, kept, at);
      const id = refs[t.info];
      w = writeTextHead(out, w, id.length);
      w = copyBytes(out, w, id, 0, id.length);
      kept = t.end;
    } else if (t.major === 7 && t.info === 24 && b[at + 1] >= SUFFIX_REF && b[at + 1] < SUFFIX_REF + MAX_SESSION_IDS) {
      w = copyBytes(out, w, b, kept, at);
      const id = refs[b[at + 1] - SUFFIX_REF];
      token(b, t.end, t);
      w = writeTextHead(out, w, t.end - t.body + 1 + id.length);
      w = copyBytes(out, w, b, t.body, t.end);
      out[w++] = SLASH;
      w = copyBytes(out, w, id, 0, id.length);
      kept = t.end;
    }
    at = t.end;
  }
  copyBytes(out, w, b, kept, at);
  return out;
}

// ---- payloads ----

/** The header of a standalone delta, [FORMAT_VERSION, tag, ...], that a session's DELTA frame leaves out. */
function payloadHead(tag: number): Uint8Array {
  const t = cborEncode(tag);
  const out = new Uint8Array(2 + t.length);
  out[0] = 0x83;
  out[1] = FORMAT_VERSION;
  out.set(t, 2);
  return out;
}

/**
 * A standalone delta `[FORMAT_VERSION, tag, body]` as a session sends it:
 * its body alone (the frame says the type; the frame format says the payload
 * format), in session form.
 */
export function sessionDelta(payload: Uint8Array, tag: number, ids: SessionIds): Uint8Array {
  const head = payloadHead(tag);
  if (payload.length <= head.length || !sameBytes(payload, 0, head)) throw malformed(`not a format-${FORMAT_VERSION} delta of type ${tag}`);
  return compactIds(payload, ids, head.length);
}

/** The standalone delta a session-form body stands for (checked as any payload once decoded). */
export function standaloneDelta(body: Uint8Array, tag: number, ids: SessionIds, maxBytes: number): Uint8Array {
  if (body.length === 0) throw malformed("empty delta");
  return expandIds(body, ids, maxBytes, payloadHead(tag));
}

// ---- LWWMap bodies relative to the receiver's version ----

/**
 * In a session, the context of an LWWMap delta can leave out its range start.
 * A delta made for a receiver at version `since` carries, in the common case
 * (the sender's own writes since the receiver's last acknowledgement), one
 * range (lo, hi] of the sender with lo = since[sender]: the receiver's own
 * prefix of the sender. Its compact body `[unit, sender, [[lo, len]], entries]`
 * is sent as `[unit, tag 6 (x), entries]`, where x = code × 2^20 + check:
 * - code is len in whole milliseconds × 2 + 1 when it has no logical part
 *   (writes seconds apart: 2 or 3 bytes), len × 2 otherwise, and
 * - check is 20 bits that check lo (referenceCheck).
 * The sender is the range's replica (the session says who it is) and the
 * receiver puts its own prefix of the sender back as lo. A receiver whose
 * prefix is not lo (it got more since, or lost some, or the frame is a
 * replay) finds another check and refuses the delta (STALE_REFERENCE) before
 * anything is decoded: it never reads the events at other timestamps. The
 * sender then sends it in full. A CBOR tag marks the form: standalone lichen
 * bytes never hold one (cbor.ts refuses them).
 */
const RELATIVE_CONTEXT = 0xc6;
/** Values of the check: the low bits of x. */
const CHECK_SPAN = 0x100000;

/**
 * 20 bits that check a range start (an HLC timestamp, below 2^53): its low 20
 * bits shifted by a hash of the rest. Two starts less than 2^20 units apart
 * (about a second) within one block of 2^20 always differ; others differ
 * but for one chance in 2^20.
 */
function referenceCheck(lo: number): number {
  const high = Math.floor(lo / CHECK_SPAN);
  return (lo - high * CHECK_SPAN + (fnv1aString(String(high)) % CHECK_SPAN)) % CHECK_SPAN;
}

function lengthCode(len: number): number {
  return len % HLC_LOGICAL_SPAN === 0 ? (len / HLC_LOGICAL_SPAN) * 2 + 1 : len * 2;
}

function lengthFromCode(code: number): number {
  return code % 2 === 1 ? ((code - 1) / 2) * HLC_LOGICAL_SPAN : code / 2;
}

/** A number item of standalone bytes (lichen writes integers above 2^32 as float64), or undefined if it is not a safe count. */
function numberAt(b: Uint8Array, t: Token): number | undefined {
  if (t.major === 0) return Number.isSafeInteger(t.n) ? t.n : undefined;
  if (t.major !== 7 || t.info !== 27) return undefined;
  const x = new DataView(b.buffer, b.byteOffset + t.body - 8, 8).getFloat64(0);
  return Number.isSafeInteger(x) && x >= 0 ? x : undefined;
}

function joined(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let w = 0;
  for (const p of parts) {
    out.set(p, w);
    w += p.length;
  }
  return out;
}

/** Where a relative body's pieces are: its bytes up to the entries, and where the entries start. */
interface RelativeSplit {
  readonly head: Uint8Array;
  readonly rest: number;
}

/**
 * The session head `[unit, tag 6 (x), ` of a standalone LWWMap delta of the
 * relative shape, and where its entries start; undefined for another shape.
 * (Kept apart from the rewrite of the entries, so that its locals are off the
 * stack when that one runs: the device's stack is small.)
 */
function relativeHead(payload: Uint8Array, tag: number, ids: SessionIds): RelativeSplit | undefined {
  if (tag !== TypeTag.LWWMap || ids.length === 0) return undefined;
  const head = payloadHead(tag);
  if (payload.length <= head.length + 1 || !sameBytes(payload, 0, head) || payload[head.length] !== 0x84) return undefined;
  const t: Token = { major: 0, info: 0, n: 0, body: 0, end: 0 };
  const unitAt = head.length + 1;
  token(payload, unitAt, t);
  if (t.major !== 0 || t.end >= payload.length) return undefined;
  const unitEnd = t.end;
  // the one replica id: the sender's, as a whole text item
  const sender = cborEncode(ids[0]);
  token(payload, unitEnd, t);
  if (t.end - unitEnd !== sender.length || !sameBytes(payload, unitEnd, sender)) return undefined;
  const at = t.end;
  if (at + 3 > payload.length || payload[at] !== 0x81 || payload[at + 1] !== 0x82) return undefined;
  token(payload, at + 2, t);
  const lo = numberAt(payload, t);
  if (lo === undefined || t.end >= payload.length) return undefined;
  token(payload, t.end, t);
  const len = numberAt(payload, t);
  if (len === undefined || len === 0 || t.end >= payload.length) return undefined;
  const x = lengthCode(len) * CHECK_SPAN + referenceCheck(lo);
  if (!Number.isSafeInteger(x)) return undefined;
  return { head: joined([new Uint8Array([0x83]), payload.subarray(unitAt, unitEnd), new Uint8Array([RELATIVE_CONTEXT]), cborEncode(x)]), rest: t.end };
}

/**
 * The session body of an LWWMap delta with its context relative to the
 * receiver's version (see RELATIVE_CONTEXT), or undefined when the delta is
 * not of that shape (several replicas, a base row, another type): then it goes
 * as `sessionDelta` writes it.
 */
export function relativeSessionDelta(payload: Uint8Array, tag: number, ids: SessionIds): Uint8Array | undefined {
  const split = relativeHead(payload, tag, ids);
  return split === undefined ? undefined : joined([split.head, compactIds(payload, ids, split.rest)]);
}

/** True if a session body is relative (written by relativeSessionDelta): an LWWMap body of three items. */
export function isRelativeBody(body: Uint8Array, tag: number): boolean {
  return tag === TypeTag.LWWMap && body[0] === 0x83;
}

/**
 * The standalone bytes a relative body stands for up to its entries, and
 * where they start; undefined if the body is not relative. Throws
 * STALE_REFERENCE if it was made for another reference.
 */
function standaloneHead(body: Uint8Array, tag: number, ids: SessionIds, reference: number): RelativeSplit | undefined {
  if (tag !== TypeTag.LWWMap || body.length < 3 || body[0] !== 0x83) return undefined;
  const t: Token = { major: 0, info: 0, n: 0, body: 0, end: 0 };
  token(body, 1, t);
  if (t.major !== 0 || t.end >= body.length || body[t.end] !== RELATIVE_CONTEXT) return undefined;
  const unitEnd = t.end;
  if (unitEnd + 1 >= body.length) throw malformed("session form: relative context truncated");
  token(body, unitEnd + 1, t);
  const x = numberAt(body, t);
  if (x === undefined || t.end >= body.length) throw malformed("session form: relative context is not a count");
  const check = x % CHECK_SPAN;
  const len = lengthFromCode((x - check) / CHECK_SPAN);
  if (len === 0) throw malformed("session form: empty relative context");
  if (ids.length === 0) throw malformed("session form: relative context without a sender");
  if (!Number.isSafeInteger(reference) || reference < 0 || check !== referenceCheck(reference)) {
    throw new LichenError("STALE_REFERENCE", "session form: a delta relative to a version of the sender this replica does not hold");
  }
  if (!Number.isSafeInteger(reference + len)) throw malformed("session form: relative context beyond the safe integers");
  // [FORMAT_VERSION, tag, [unit, sender, [[reference, len]], ...: written in one array (runs per delta on the gateway)
  const sender = ids[0];
  const head = new Uint8Array(3 + cborScalarSize(tag) + (unitEnd - 1) + cborScalarSize(sender) + 2 + cborScalarSize(reference) + cborScalarSize(len));
  head[0] = 0x83;
  head[1] = FORMAT_VERSION;
  let w = cborWriteScalar(head, 2, tag);
  head[w++] = 0x84;
  w = copyBytes(head, w, body, 1, unitEnd);
  w = cborWriteScalar(head, w, sender);
  head[w++] = 0x81;
  head[w++] = 0x82;
  w = cborWriteScalar(head, w, reference);
  cborWriteScalar(head, w, len);
  return { head, rest: t.end };
}

/**
 * The standalone delta a session body stands for, where the body may have its
 * context relative to `reference`, the receiver's prefix of the sender (ids[0])
 * in the document (-1: none known). Throws STALE_REFERENCE if the body was made
 * for another one.
 */
export function standaloneRelativeDelta(body: Uint8Array, tag: number, ids: SessionIds, maxBytes: number, reference: number): Uint8Array {
  const split = standaloneHead(body, tag, ids, reference);
  if (split === undefined) return standaloneDelta(body, tag, ids, maxBytes);
  return expandIds(body.subarray(split.rest), ids, maxBytes, split.head);
}
