import { Encoder } from "cbor-x";
import { LichenError, invalidArgument, malformed } from "./errors.js";

/**
 * The wire and storage format: CBOR through cbor-x, configured identically
 * on every engine, with a structure lichen builds itself so that one state
 * gives one byte string everywhere: arrays in canonical order, object keys
 * sorted, no records, no tags, no BigInt.
 *
 * Every payload is `[FORMAT_VERSION, typeTag, body]` (a delta) or
 * `[FORMAT_VERSION, typeTag, body, ownerReplicaId]` (a saved state).
 */
export const FORMAT_VERSION = 1;

/** Type tags on the wire. Never renumber: stored data and peers depend on them. */
export const TypeTag = Object.freeze({
  GCounter: 1,
  PNCounter: 2,
  LWWRegister: 3,
  MVRegister: 4,
  GSet: 5,
  TwoPSet: 6,
  ORSet: 7,
  LWWSet: 8,
  LWWMap: 9,
  AWMap: 10,
  Rga: 11,
  Text: 12,
});

export function typeName(tag: number): string {
  for (const [name, t] of Object.entries(TypeTag)) if (t === tag) return name;
  return `unknown type ${tag}`;
}

/** Largest payload `fromBytes`/`applyDelta` accept unless told otherwise: 16 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Deepest nesting accepted in bytes and in user values. */
export const MAX_DEPTH = 48;

const ENCODER_OPTIONS = Object.freeze({
  useRecords: false,
  tagUint8Array: false,
  variableMapSize: true,
  mapsAsObjects: false,
  pack: false,
  structuredClone: false,
  bundleStrings: false,
  useFloat32: 0,
});

// The encoder holds mutable buffers, so it cannot be created at module scope
// (preloaded modules are read-only on the device): it is made on first use
// and kept on the global object.
const ENCODER_KEY = Symbol.for("lichen.cbor");

function encoder(): Encoder {
  const g = globalThis as unknown as { [ENCODER_KEY]?: Encoder };
  let e = g[ENCODER_KEY];
  if (e === undefined) {
    e = new Encoder({ ...ENCODER_OPTIONS } as ConstructorParameters<typeof Encoder>[0]);
    g[ENCODER_KEY] = e;
  }
  return e;
}

/** Encodes a structure built by lichen into a fresh, exact-size Uint8Array. */
export function encodeCbor(value: unknown): Uint8Array {
  const view = encoder().encode(value);
  // cbor-x returns a view into a shared buffer (a Buffer under Node): copy it out
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}

/** Decodes bytes after checking their structure, so hostile input cannot make the decoder misbehave. */
export function decodeCbor(bytes: Uint8Array, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): unknown {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument("expected a Uint8Array of encoded bytes");
  if (bytes.length > maxBytes) throw new LichenError("TOO_LARGE", `payload of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  if (bytes.length === 0) throw malformed("empty payload");
  // Decode a plain Uint8Array (a Buffer would make cbor-x return Buffers)
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = scanItem(plain, 0, 0);
  if (end !== plain.length) throw malformed(`${plain.length - end} trailing bytes after the payload`);
  try {
    return encoder().decode(plain);
  } catch (e) {
    throw malformed(`undecodable CBOR: ${(e as Error).message}`);
  }
}

function need(bytes: Uint8Array, at: number, n: number): void {
  if (at + n > bytes.length) throw malformed("truncated payload");
}

/**
 * Walks one CBOR item without building it and returns where it ends. Accepts
 * only what lichen writes: definite lengths, no tags, no undefined, integers
 * within the safe range; every declared length must fit in the bytes left.
 */
function scanItem(b: Uint8Array, at: number, depth: number): number {
  if (depth > MAX_DEPTH) throw malformed("payload nested too deeply");
  need(b, at, 1);
  const major = b[at] >> 5;
  const info = b[at] & 31;
  at++;
  let len: number;
  if (info < 24) len = info;
  else if (info === 24) {
    need(b, at, 1);
    len = b[at];
    at += 1;
  } else if (info === 25) {
    need(b, at, 2);
    len = (b[at] << 8) | b[at + 1];
    at += 2;
  } else if (info === 26) {
    need(b, at, 4);
    len = ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
    at += 4;
  } else if (info === 27) {
    need(b, at, 8);
    const hi = ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
    const lo = ((b[at + 4] << 24) >>> 0) + (b[at + 5] << 16) + (b[at + 6] << 8) + b[at + 7];
    if (major !== 7 && hi >= 0x200000) throw malformed("integer or length beyond the safe integer range");
    len = hi * 4294967296 + lo;
    at += 8;
  } else throw malformed(info === 31 ? "indefinite-length items are not used by lichen" : "reserved CBOR header");
  switch (major) {
    case 0:
    case 1:
      return at;
    case 2:
    case 3:
      need(b, at, len);
      return at + len;
    case 4:
      if (len > b.length - at) throw malformed("array longer than the payload");
      for (let i = 0; i < len; i++) at = scanItem(b, at, depth + 1);
      return at;
    case 5:
      if (len * 2 > b.length - at) throw malformed("map longer than the payload");
      for (let i = 0; i < len * 2; i++) at = scanItem(b, at, depth + 1);
      return at;
    case 6:
      throw malformed("CBOR tags are not used by lichen");
    default:
      // simple values and floats: false, true, null and 16/32/64-bit floats
      if (info === 20 || info === 21 || info === 22 || info === 25 || info === 26 || info === 27) return at;
      throw malformed(`unsupported CBOR simple value ${info}`);
  }
}

// ---- payload header ----

export interface Payload {
  readonly body: unknown;
  /** The replica that saved the state, for a saved state; undefined for a delta. */
  readonly owner: unknown;
}

export function encodePayload(tag: number, body: unknown, owner?: string): Uint8Array {
  return encodeCbor(owner === undefined ? [FORMAT_VERSION, tag, body] : [FORMAT_VERSION, tag, body, owner]);
}

/** Decodes and checks a payload's header against the expected type. */
export function decodePayload(bytes: Uint8Array, tag: number, maxBytes?: number): Payload {
  const top = decodeCbor(bytes, maxBytes);
  if (!Array.isArray(top) || top.length < 3 || top.length > 4) throw malformed("not a lichen payload: expected [version, type, body]");
  const [version, t, body, owner] = top as unknown[];
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw malformed("not a lichen payload: bad format version");
  if (version > FORMAT_VERSION) {
    throw new LichenError("UNSUPPORTED_VERSION", `payload uses format version ${version}; this lichen reads up to ${FORMAT_VERSION}: upgrade lichen`);
  }
  if (t !== tag) {
    throw new LichenError("WRONG_TYPE", `payload holds a ${typeof t === "number" ? typeName(t) : "value of unknown type"}, not a ${typeName(tag)}`);
  }
  return { body, owner };
}

// ---- reading the body: each helper throws MALFORMED on a bad shape ----

export function readArray(x: unknown, what: string, min = 0, max = Infinity): unknown[] {
  if (!Array.isArray(x)) throw malformed(`${what}: expected an array`);
  if (x.length < min || x.length > max) throw malformed(`${what}: unexpected length ${x.length}`);
  return x;
}

export function readCount(x: unknown, what: string): number {
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) throw malformed(`${what}: expected a non-negative integer`);
  return x;
}

export function readIndex(x: unknown, length: number, what: string): number {
  const i = readCount(x, what);
  if (i >= length) throw malformed(`${what}: index ${i} out of range`);
  return i;
}

export function readString(x: unknown, what: string): string {
  if (typeof x !== "string") throw malformed(`${what}: expected a string`);
  return x;
}
