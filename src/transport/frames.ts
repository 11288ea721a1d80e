import { decodeCbor, encodeCbor, readArray, readCount, readString } from "../core/codec.js";
import { cborEncodeEntries, cborEncodeFlat, writeUint32 } from "../core/cbor.js";
import { LichenError, malformed } from "../core/errors.js";
import { fnv1aBytes } from "../core/hash.js";
import { isTimestamp } from "../core/hlc.js";
import { docKeyProblem, isEntityId, isPlainName, readDocKey } from "../core/names.js";
import { readReplicaId } from "../core/replica.js";
import { compactIds, expandIds, isRelativeBody, MAX_SESSION_IDS, relativeSessionDelta, sessionDelta, standaloneDelta, standaloneRelativeDelta, SUFFIX_REF, type SessionIds } from "../core/session-form.js";
import { VersionVector } from "../core/version-vector.js";

/**
 * The frames of lichen's sync protocol. Each is a CBOR array
 * `[FRAME_FORMAT, kind, ...]`, at most `maxFrameBytes` long (4,000 by
 * default: one NVS value, one device-side MQTT message). A larger frame is
 * sent as PART frames and reassembled.
 *
 * - DIGEST   [1, 1, [[doc, type, hash], ...]]         what I hold, compactly: peers that agree exchange nothing more
 * - VERSIONS [1, 2, reply, [[doc, type, vv], ...]]    my versions of these documents: send me what I lack (with reply: and tell me yours)
 * - DELTA    [1, 3, doc, type, bytes, schema?]        a CRDT delta (core format) for a document; schema: the
 *                                                    document's header [name, version], the newest schema
 *                                                    version that wrote to it (typed documents only; a
 *                                                    DELTA without it, as every earlier lichen sent, is untyped)
 * - ACK      [1, 4, doc, vv]                          applied and stored: my version of the document is now vv
 * - PART     [1, 5, id, index, count, bytes]          a slice of a larger frame
 * - ERROR    [1, 6, doc, code, message]               a delta was refused: "forged", "forbidden", "quota", "refused", "unwanted"
 * - APPLIED  [1, 7, doc, hash]                        applied and stored: my version of the document now has this versionHash
 *                                                     (what a session sends instead of an ACK: the sender knows what its delta brought)
 *
 * The CBOR is followed by its CRC-32 (4 bytes, big-endian): QoS 0 over flaky
 * links and broker bridges, and a flipped bit in a delta would otherwise be a
 * valid, different change that never heals.
 *
 * Format 1 frames are standalone. Format 2 frames are what a session sends:
 * the same arrays in session form (core/session-form.ts: the sender's and
 * the receiver's ids, and document keys ending in them, as one- or two-byte
 * references), and a DELTA's bytes are its payload's body alone, in session
 * form: the frame's type and format stand for the payload header. Decoded,
 * both give the same Frame, with a standalone delta.
 *
 * Format 3 is a format-2 DELTA whose LWWMap delta has its context relative to
 * the receiver's version of the sender (core/session-form.ts,
 * relativeSessionDelta): read against the receiver's prefix of the sender in
 * the document (FrameSession.prefixOf), refused with a StaleReference if it
 * was made for another. A peer that does not know format 3 refuses it as a
 * newer format instead of misreading it.
 */
export const FRAME_FORMAT = 2;
/** The format of a session DELTA relative to the receiver's version (the newest format). */
export const RELATIVE_FRAME_FORMAT = 3;
/** The format of standalone frames (no session: tests, tools, PART frames). */
export const STANDALONE_FRAME_FORMAT = 1;

/** What a session frame is read against: the session's ids [sender, receiver], and how far its bytes may expand. */
export interface FrameSession {
  readonly ids: SessionIds;
  readonly maxExpandedBytes: number;
  /** The receiver's prefix of the sender (ids[0]) in a document, 0 if it holds none: what a format-3 DELTA is relative to. */
  readonly prefixOf?: (doc: string) => number;
}

/** A format-3 DELTA made for a version of its sender the receiver does not hold: it asks for the delta in full. */
export class StaleReference extends LichenError {
  readonly doc: string;
  constructor(doc: string, message: string) {
    super("STALE_REFERENCE", message);
    this.doc = doc;
  }
}
export const DEFAULT_MAX_FRAME_BYTES = 4000;
/** Smallest frame a peer may send (its maxFrameBytes). */
export const MIN_FRAME_BYTES = 256;
/** Bytes of a frame a PART carries: its size less the PART header and the CRC. */
const PART_OVERHEAD = 28;
/** Every PART but the last of a frame carries at least this much: a count of parts tells the least a frame weighs. */
export const MIN_PART_BYTES = MIN_FRAME_BYTES - PART_OVERHEAD;

export const FrameKind = Object.freeze({ Digest: 1, Versions: 2, Delta: 3, Ack: 4, Part: 5, Error: 6, Applied: 7 });

export type Frame =
  | { readonly kind: typeof FrameKind.Digest; readonly docs: ReadonlyArray<readonly [string, number, number]> }
  | { readonly kind: typeof FrameKind.Versions; readonly reply: boolean; readonly docs: ReadonlyArray<readonly [string, number, VersionVector]> }
  | { readonly kind: typeof FrameKind.Delta; readonly doc: string; readonly type: number; readonly delta: Uint8Array; readonly schema?: DocumentHeader }
  | { readonly kind: typeof FrameKind.Ack; readonly doc: string; readonly version: VersionVector }
  | { readonly kind: typeof FrameKind.Part; readonly id: number; readonly index: number; readonly count: number; readonly bytes: Uint8Array }
  | { readonly kind: typeof FrameKind.Error; readonly doc: string; readonly code: string; readonly message: string }
  | { readonly kind: typeof FrameKind.Applied; readonly doc: string; readonly hash: number };

/** A typed document's header: its schema's name and the newest schema version that wrote to it. */
export interface DocumentHeader {
  readonly name: string;
  readonly version: number;
}

function vvToWire(v: VersionVector): unknown {
  return v.toArray();
}

function vvFromWire(x: unknown): VersionVector {
  const v = new VersionVector();
  for (const row of readArray(x, "version")) {
    const e = readArray(row, "version entry", 2, 2);
    const n = e[1];
    if (!isTimestamp(n)) throw malformed("version entry: bad counter");
    v.set(readReplicaId(e[0]), n);
  }
  return v;
}

function readHash(x: unknown): number {
  const hash = readCount(x, "version hash");
  if (hash > 0xffffffff) throw malformed("version hash: not 32 bits");
  return hash;
}

function crcTable(): readonly number[] {
  const t: number[] = [];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t.push(c >>> 0);
  }
  return Object.freeze(t);
}

const CRC_TABLE = crcTable();

export function crc32(bytes: Uint8Array, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = 0; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A frame's CRC-32, after its CBOR bytes. */
const CRC_BYTES = 4;

/** CBOR bytes followed by their CRC-32, as every frame is sent. */
export function sealFrame(cbor: Uint8Array): Uint8Array {
  const out = new Uint8Array(cbor.length + CRC_BYTES);
  out.set(cbor);
  return sealedInPlace(out);
}

/** A frame's bytes with CRC_BYTES left free at the end: their CRC-32 written there. */
function sealedInPlace(out: Uint8Array): Uint8Array {
  const end = out.length - CRC_BYTES;
  writeUint32(out, end, crc32(out, end));
  return out;
}

/**
 * A frame's bytes: standalone (format 1), or in a session from ids[0] to
 * ids[1] (format 2; format 3 for a DELTA relative to the receiver's version).
 */
export function encodeFrame(f: Frame, session?: SessionIds): Uint8Array {
  if (session === undefined) return sealFrame(encodeBody(f, STANDALONE_FRAME_FORMAT));
  const s: Frame = f.kind === 3 ? { ...f, delta: relativeSessionDelta(f.delta, f.type, session) ?? sessionDelta(f.delta, f.type, session) } : f;
  return sealedInPlace(compactIds(encodeBody(s, s.kind === 3 && isRelativeBody(s.delta, s.type) ? RELATIVE_FRAME_FORMAT : FRAME_FORMAT), session, 0, CRC_BYTES));
}

/** A frame in a session, a DELTA never relative (format 2): what a sender sends after a StaleReference. */
export function encodeFrameInFull(f: Frame, session: SessionIds): Uint8Array {
  const s: Frame = f.kind === 3 ? { ...f, delta: sessionDelta(f.delta, f.type, session) } : f;
  return sealedInPlace(compactIds(encodeBody(s, FRAME_FORMAT), session, 0, CRC_BYTES));
}

function encodeBody(f: Frame, format: number): Uint8Array {
  switch (f.kind) {
    case FrameKind.Digest:
      return encodeCbor([format, FrameKind.Digest, f.docs]);
    case FrameKind.Versions:
      return encodeCbor([format, FrameKind.Versions, f.reply, f.docs.map(([d, t, v]) => [d, t, vvToWire(v)])]);
    case FrameKind.Delta:
      // flat frames skip the codec's walk (cborEncodeFlat gives the same bytes): these go out once per delta
      return f.schema === undefined ? cborEncodeFlat([format, FrameKind.Delta, f.doc, f.type, f.delta]) : encodeCbor([format, FrameKind.Delta, f.doc, f.type, f.delta, [f.schema.name, f.schema.version]]);
    case FrameKind.Ack:
      return encodeCbor([format, FrameKind.Ack, f.doc, vvToWire(f.version)]);
    case FrameKind.Part:
      return cborEncodeFlat([format, FrameKind.Part, f.id, f.index, f.count, f.bytes]);
    case FrameKind.Error:
      return encodeCbor([format, FrameKind.Error, f.doc, f.code, f.message]);
    case FrameKind.Applied:
      return cborEncodeFlat([format, FrameKind.Applied, f.doc, f.hash]);
  }
}

/**
 * Decodes and checks a frame; throws a LichenError (MALFORMED, TOO_LARGE,
 * UNSUPPORTED_VERSION) on anything else. A session frame (format 2) is read
 * against `session` only: its references stand for the session's ids,
 * whatever the bytes say.
 */
export function decodeFrame(bytes: Uint8Array, maxBytes = DEFAULT_MAX_FRAME_BYTES, session?: FrameSession): Frame {
  if (!(bytes instanceof Uint8Array)) throw malformed("a frame is a Uint8Array");
  if (bytes.length > maxBytes) throw new LichenError("TOO_LARGE", `frame of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  if (bytes.length < 5) throw malformed("frame too short");
  const end = bytes.length - 4;
  const c = ((bytes[end] << 24) | (bytes[end + 1] << 16) | (bytes[end + 2] << 8) | bytes[end + 3]) >>> 0;
  if (crc32(bytes, end) !== c) throw malformed("frame checksum mismatch: corrupted in transit");
  // the format is the array's first item, one byte after the array head (lichen's frames have fewer than 24 items)
  const inSession = bytes[1] === FRAME_FORMAT || bytes[1] === RELATIVE_FRAME_FORMAT;
  if (inSession && session === undefined) throw malformed("a session frame read outside a session");
  return (inSession ? plainSessionDelta(bytes, end, session!) : undefined) ?? readFrame(bytes, end, inSession, maxBytes, session);
}

/** @internal decodeFrame's reading of any frame once its CRC is checked (exported for the test that checks plainSessionDelta against it). */
export function readFrame(bytes: Uint8Array, end: number, inSession: boolean, maxBytes: number, session: FrameSession | undefined): Frame {
  const cbor = inSession ? expandIds(bytes.subarray(0, end), session!.ids, session!.maxExpandedBytes) : bytes.subarray(0, end);
  const x = readArray(decodeCbor(cbor, inSession ? session!.maxExpandedBytes : maxBytes), "frame", 2);
  const format = readCount(x[0], "frame format");
  if (format > RELATIVE_FRAME_FORMAT) throw new LichenError("UNSUPPORTED_VERSION", `frame format ${format}; this lichen speaks ${RELATIVE_FRAME_FORMAT}: upgrade it`);
  if (format < 1) throw malformed("frame format 0");
  if ((format >= FRAME_FORMAT) !== inSession) throw malformed("frame format out of place");
  if (format === RELATIVE_FRAME_FORMAT && x[1] !== FrameKind.Delta) throw malformed(`frame format ${RELATIVE_FRAME_FORMAT} is for deltas only`);
  switch (x[1]) {
    case FrameKind.Digest: {
      const docs = readArray(readArray(x, "digest", 3, 3)[2], "digest").map((row) => {
        const e = readArray(row, "digest entry", 3, 3);
        return [readDocKey(e[0]), readCount(e[1], "type"), readHash(e[2])] as const;
      });
      return { kind: FrameKind.Digest, docs };
    }
    case FrameKind.Versions: {
      const f = readArray(x, "versions", 4, 4);
      if (typeof f[2] !== "boolean") throw malformed("versions: reply flag");
      const docs = readArray(f[3], "versions").map((row) => {
        const e = readArray(row, "versions entry", 3, 3);
        return [readDocKey(e[0]), readCount(e[1], "type"), vvFromWire(e[2])] as const;
      });
      return { kind: FrameKind.Versions, reply: f[2], docs };
    }
    case FrameKind.Delta: {
      const f = readArray(x, "delta", 5, 6);
      if (!(f[4] instanceof Uint8Array)) throw malformed("delta: bytes expected");
      const doc = readDocKey(f[2]);
      const type = readCount(f[3], "type");
      const delta = inSession ? standaloneOf(format, doc, type, f[4], session!) : f[4];
      if (f.length === 5) return { kind: FrameKind.Delta, doc, type, delta };
      const h = readArray(f[5], "delta schema header", 2, 2);
      const name = readString(h[0], "schema name");
      if (name.length === 0 || name.length > 64) throw malformed("schema name: 1 to 64 characters");
      const version = readCount(h[1], "schema version");
      if (version < 1 || version > 0xffff) throw malformed("schema version: 1 to 65535");
      return { kind: FrameKind.Delta, doc, type, delta, schema: { name, version } };
    }
    case FrameKind.Ack: {
      const f = readArray(x, "ack", 4, 4);
      return { kind: FrameKind.Ack, doc: readDocKey(f[2]), version: vvFromWire(f[3]) };
    }
    case FrameKind.Part: {
      const f = readArray(x, "part", 6, 6);
      const index = readCount(f[3], "part index");
      const count = readCount(f[4], "part count");
      if (count < 2 || index >= count || count > 1024) throw malformed("part: bad index or count");
      if (!(f[5] instanceof Uint8Array) || f[5].length === 0) throw malformed("part: bytes expected");
      return { kind: FrameKind.Part, id: readCount(f[2], "part id"), index, count, bytes: f[5] };
    }
    case FrameKind.Error: {
      const f = readArray(x, "error", 5, 5);
      return { kind: FrameKind.Error, doc: readString(f[2], "error document"), code: readString(f[3], "error code"), message: readString(f[4], "error message").slice(0, 300) };
    }
    case FrameKind.Applied: {
      const f = readArray(x, "applied", 4, 4);
      return { kind: FrameKind.Applied, doc: readDocKey(f[2]), hash: readHash(f[3]) };
    }
    default:
      throw malformed(`unknown frame kind ${String(x[1])}`);
  }
}

/** The standalone delta of a session DELTA frame's body (format 2: session form; 3: maybe relative to the receiver's version). */
function standaloneOf(format: number, doc: string, type: number, body: Uint8Array, session: FrameSession): Uint8Array {
  if (format !== RELATIVE_FRAME_FORMAT) return standaloneDelta(body, type, session.ids, session.maxExpandedBytes);
  // its context put back from the receiver's prefix of the sender (none known: -1, stale)
  const reference = session.prefixOf === undefined ? -1 : session.prefixOf(doc);
  try {
    return standaloneRelativeDelta(body, type, session.ids, session.maxExpandedBytes, reference);
  } catch (e) {
    if ((e as LichenError).code === "STALE_REFERENCE") throw new StaleReference(doc, `${doc}: ${(e as LichenError).message}`);
    throw e;
  }
}

/** Bytes of an ASCII text at b[from..to) as a string, or undefined if one is not ASCII. */
function asciiText(b: Uint8Array, from: number, to: number): string | undefined {
  let s = "";
  for (let i = from; i < to; i++) {
    if (b[i] >= 0x80) return undefined;
    s += String.fromCharCode(b[i]);
  }
  return s;
}

/**
 * The DELTA frame a node sends per change, `[format, 3, doc, type, delta]` in session form, read
 * straight from its bytes: no expanded copy of the frame (its delta bytes included), no decoded
 * tree. Only that exact shape, with a small type, an ASCII document key (written whole, or as
 * "<prefix>/<session id>") that is a valid one, within the size limits; undefined for anything
 * else, which the generic reading then reads (or refuses) as it always did.
 */
function plainSessionDelta(b: Uint8Array, end: number, session: FrameSession): Frame | undefined {
  if (b[0] !== 0x85 || b[2] !== FrameKind.Delta || session.ids.length > MAX_SESSION_IDS) return undefined;
  const format = b[1];
  let at = 3;
  let doc: string | undefined;
  let grows = 0; // bytes the expanded frame has more than this one
  if (b[at] === 0xf8) {
    // "<prefix>/<session id k>": the reference, then the prefix's text
    const k = b[at + 1] - SUFFIX_REF;
    if (!(k >= 0 && k < session.ids.length && k < MAX_SESSION_IDS)) return undefined;
    const id = session.ids[k]!;
    const head = b[at + 2];
    if (!(head >= 0x60 && head < 0x78) || at + 3 + (head - 0x60) > end) return undefined;
    const prefix = asciiText(b, at + 3, at + 3 + (head - 0x60));
    if (prefix === undefined) return undefined;
    for (let i = 0; i < id.length; i++) if (id.charCodeAt(i) >= 0x80) return undefined;
    // a valid key whose namespace is the prefix (the first slash is the one put back): checked on its parts
    if (!isPlainName(prefix) || !isEntityId(id)) return undefined;
    doc = `${prefix}/${id}`;
    // expanded: a text head and the key, for the reference (2 bytes), the prefix's head (1) and the prefix
    grows = (doc.length < 24 ? 1 : doc.length < 0x100 ? 2 : 3) + doc.length - 3 - prefix.length;
    at += 3 + (head - 0x60);
  } else {
    const head = b[at];
    if (!(head >= 0x60 && head < 0x78) || at + 1 + (head - 0x60) > end) return undefined;
    doc = asciiText(b, at + 1, at + 1 + (head - 0x60));
    if (doc === undefined || docKeyProblem(doc) !== undefined) return undefined;
    at += 1 + (head - 0x60);
  }
  if (at + 2 > end) return undefined;
  const type = b[at++];
  if (!(type < 24)) return undefined;
  // the delta's byte string, to the frame's end
  const bh = b[at];
  let len: number;
  if (bh >= 0x40 && bh < 0x58) len = bh - 0x40;
  else if (bh === 0x58) len = b[at + 1];
  else if (bh === 0x59) len = (b[at + 1] << 8) | b[at + 2];
  else return undefined;
  at += bh < 0x58 ? 1 : bh === 0x58 ? 2 : 3;
  if (at + len !== end || end + grows > session.maxExpandedBytes) return undefined;
  return { kind: FrameKind.Delta, doc, type, delta: standaloneOf(format, doc, type, b.subarray(at, end), session) };
}

/** PART frames carrying a frame too large for one: each at most maxBytes. */
export function splitFrame(frame: Uint8Array, id: number, maxBytes: number): Uint8Array[] {
  const room = maxBytes - PART_OVERHEAD; // the PART header (format, kind, id, index, count, byte-string length) and the CRC
  const count = Math.ceil(frame.length / room);
  if (count > 1024) throw new LichenError("TOO_LARGE", `a frame of ${frame.length} bytes needs more than 1024 parts`);
  const out: Uint8Array[] = [];
  // parts are standalone frames: the frame they carry says its own format
  for (let i = 0; i < count; i++) out.push(encodeFrame({ kind: FrameKind.Part, id, index: i, count, bytes: frame.subarray(i * room, (i + 1) * room) }));
  return out;
}

/** FNV-1a over a version's canonical bytes: the digest of one document. */
export function versionHash(v: VersionVector): number {
  // the bytes of encodeCbor(v.toArray()), written without the pairs and the walk: it runs per APPLIED frame
  return fnv1aBytes(cborEncodeEntries(v.replicas(), v.map));
}
