import { cborDecode, cborEncode, CBOR_MAX_DEPTH } from "./cbor.js";
import { LichenError, invalidArgument, malformed } from "./errors.js";

/**
 * The wire and storage format: CBOR through lichen's own strict codec
 * (cbor.ts, the same on every engine), with a structure lichen builds itself
 * so that one state gives one byte string everywhere: arrays in canonical
 * order, object keys sorted, no records, no tags, no BigInt.
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

/** The names of the type tags, by tag: the gateway names a type for every change it mirrors. */
const TYPE_NAMES: readonly string[] = typeNames();

function typeNames(): readonly string[] {
  const names: string[] = [];
  for (const name in TypeTag) names[TypeTag[name as keyof typeof TypeTag]] = name;
  return Object.freeze(names);
}

export function typeName(tag: number): string {
  return (Number.isInteger(tag) && tag > 0 && tag < TYPE_NAMES.length ? TYPE_NAMES[tag] : undefined) ?? `unknown type ${tag}`;
}

/** Largest payload `fromBytes`/`applyDelta` accept unless told otherwise: 16 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Deepest nesting accepted in bytes and in user values. */
export const MAX_DEPTH = CBOR_MAX_DEPTH;

/** Encodes a structure built by lichen into a fresh, exact-size Uint8Array. */
export function encodeCbor(value: unknown): Uint8Array {
  return cborEncode(value);
}

/** Decodes one payload, refusing anything lichen would not have written (cbor.ts), so hostile input gets MALFORMED. */
export function decodeCbor(bytes: Uint8Array, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): unknown {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument("expected a Uint8Array of encoded bytes");
  if (bytes.length > maxBytes) throw new LichenError("TOO_LARGE", `payload of ${bytes.length} bytes is over the limit of ${maxBytes}`);
  if (bytes.length === 0) throw malformed("empty payload");
  // a Buffer's subarrays are Buffers: decode a plain view so byte strings are plain Uint8Arrays on every engine
  return cborDecode(Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
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
