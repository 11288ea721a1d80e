import { isPlainObject } from "./checks.js";
import { invalidArgument, malformed } from "./errors.js";
import { toHex } from "./hex.js";
import { MAX_DEPTH } from "./codec.js";

/**
 * The values lichen stores in registers, maps and sets: JSON-like data plus
 * byte strings. Objects are copied and frozen when stored, so a caller
 * mutating its object later cannot change replicated state behind lichen's back.
 */
export type Value = null | boolean | number | string | Uint8Array | readonly Value[] | { readonly [key: string]: Value };

function defineOwn(obj: { [k: string]: unknown }, key: string, value: unknown): void {
  // defineProperty, so a key named "__proto__" is data, never a prototype change
  Object.defineProperty(obj, key, { value, enumerable: true, writable: false, configurable: false });
}

/** Checks a caller's value and returns an immutable copy (primitives as they are). */
export function copyValue(v: unknown, depth = 0): Value {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw invalidArgument("numbers must be finite (no NaN or Infinity)");
      return v;
    case "object": {
      if (v === null) return null;
      if (depth >= MAX_DEPTH) throw invalidArgument(`values may nest at most ${MAX_DEPTH} levels`);
      if (v instanceof Uint8Array) return v.slice();
      if (Array.isArray(v)) return Object.freeze(v.map((x) => copyValue(x, depth + 1)));
      if (!isPlainObject(v)) throw invalidArgument(`unsupported value: ${Object.prototype.toString.call(v)}; use plain objects, arrays, strings, numbers, booleans, null or Uint8Array`);
      const out: { [k: string]: Value } = {};
      for (const k of Object.keys(v)) defineOwn(out, k, copyValue((v as { [k: string]: unknown })[k], depth + 1));
      return Object.freeze(out);
    }
    default:
      throw invalidArgument(`unsupported value of type ${typeof v}`);
  }
}

/** The CBOR form of a value: object keys sorted as Map entries, so the bytes are canonical. */
export function valueToWire(v: Value): unknown {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(valueToWire);
  const keys = Object.keys(v).sort();
  const m = new Map<string, unknown>();
  for (const k of keys) m.set(k, valueToWire((v as { [k: string]: Value })[k]));
  return m;
}

/** Reads a value decoded from CBOR, rejecting anything lichen would not have written. */
export function valueFromWire(x: unknown, depth = 0): Value {
  switch (typeof x) {
    case "string":
    case "boolean":
      return x;
    case "number":
      if (!Number.isFinite(x)) throw malformed("non-finite number in a value");
      return x;
    case "object": {
      if (x === null) return null;
      if (depth >= MAX_DEPTH) throw malformed("value nested too deeply");
      if (x instanceof Uint8Array) return x;
      if (Array.isArray(x)) return Object.freeze(x.map((y) => valueFromWire(y, depth + 1)));
      if (x instanceof Map) {
        const out: { [k: string]: Value } = {};
        for (const [k, y] of x) {
          if (typeof k !== "string") throw malformed("object keys in values must be strings");
          if (Object.prototype.hasOwnProperty.call(out, k)) throw malformed(`duplicate key ${JSON.stringify(k)} in a value`);
          defineOwn(out, k, valueFromWire(y, depth + 1));
        }
        return Object.freeze(out);
      }
      throw malformed("unsupported item in a value");
    }
    default:
      throw malformed(`unsupported ${typeof x} in a value`);
  }
}

/** A canonical text for any value: equal values give equal text. */
function canonicalText(v: Value): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `h"${toHex(v)}"`;
  if (Array.isArray(v)) return `[${v.map(canonicalText).join(",")}]`;
  const o = v as { [k: string]: Value };
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalText(o[k])}`)
    .join(",")}}`;
}

/**
 * The key under which a set keeps an element. A string is its own key (no
 * allocation in the common case); every other value gets a NUL-prefixed text,
 * and so do strings that start with NUL, so no two values share a key.
 */
export function elementKey(v: Value): string {
  if (typeof v === "string") return v.length > 0 && v.charCodeAt(0) === 0 ? "\u0000s" + v : v;
  if (typeof v === "number") return "\u0000n" + (v === 0 ? "0" : String(v));
  return "\u0000v" + canonicalText(v);
}

/** Code-unit order on keys: the canonical order of elements and entries on the wire. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function valuesEqual(a: Value, b: Value): boolean {
  return a === b || (typeof a === "object" && typeof b === "object" && elementKey(a) === elementKey(b));
}
