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

/**
 * Rebuilds a tree of values bottom up, with a stack of its own instead of recursion: values nest up
 * to MAX_DEPTH levels, from callers and from the network, and the device has 512 slots of machine
 * stack. `items(v, depth)` gives a container's items (in order) or undefined for a leaf, `leaf`
 * maps a leaf, `build` a container from its items, mapped.
 */
function rebuild<R>(
  root: unknown,
  items: (v: unknown, depth: number) => readonly unknown[] | undefined,
  leaf: (v: unknown) => R,
  build: (v: unknown, mapped: R[]) => R,
): R {
  const open: unknown[] = []; // three entries for each container around the item at hand: it, its items, those mapped so far
  let v = root;
  for (;;) {
    const inner = items(v, open.length / 3);
    let r: R;
    if (inner === undefined) r = leaf(v);
    else if (inner.length === 0) r = build(v, []);
    else {
      open.push(v, inner, []);
      v = inner[0];
      continue;
    }
    // hand r to its container, and each container it completes to the one around it
    for (;;) {
      const top = open.length - 3;
      if (top < 0) return r;
      const mapped = open[top + 2] as R[];
      const all = open[top + 1] as readonly unknown[];
      mapped.push(r);
      if (mapped.length < all.length) {
        v = all[mapped.length];
        break;
      }
      r = build(open[top], mapped);
      open.length = top;
    }
  }
}

/** A plain object's values, in the order of its keys. */
function valuesOf(o: { [k: string]: unknown }): unknown[] {
  const keys = Object.keys(o);
  const out: unknown[] = [];
  for (let i = 0; i < keys.length; i++) out.push(o[keys[i]]);
  return out;
}

function copyItems(v: unknown, depth: number): readonly unknown[] | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  if (depth >= MAX_DEPTH) throw invalidArgument(`values may nest at most ${MAX_DEPTH} levels`);
  if (v instanceof Uint8Array) return undefined;
  if (Array.isArray(v)) return v;
  if (!isPlainObject(v)) throw invalidArgument(`unsupported value: ${Object.prototype.toString.call(v)}; use plain objects, arrays, strings, numbers, booleans, null or Uint8Array`);
  return valuesOf(v as { [k: string]: unknown });
}

function copyLeaf(v: unknown): Value {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw invalidArgument("numbers must be finite (no NaN or Infinity)");
      return v;
    case "object":
      return v === null ? null : (v as Uint8Array).slice();
    default:
      throw invalidArgument(`unsupported value of type ${typeof v}`);
  }
}

function copyBuild(v: unknown, mapped: Value[]): Value {
  if (Array.isArray(v)) return Object.freeze(mapped);
  const keys = Object.keys(v as object);
  const out: { [k: string]: Value } = {};
  for (let i = 0; i < keys.length; i++) defineOwn(out, keys[i], mapped[i]);
  return Object.freeze(out);
}

/** Checks a caller's value and returns an immutable copy (primitives as they are). */
export function copyValue(v: unknown): Value {
  return typeof v === "object" && v !== null ? rebuild(v, copyItems, copyLeaf, copyBuild) : copyLeaf(v);
}

function toWireItems(v: unknown): readonly unknown[] | undefined {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return undefined;
  if (Array.isArray(v)) return v;
  const o = v as { [k: string]: Value };
  const keys = Object.keys(o).sort();
  const out: unknown[] = [];
  for (let i = 0; i < keys.length; i++) out.push(o[keys[i]]);
  return out;
}

const asIs = (v: unknown): unknown => v;

function toWireBuild(v: unknown, mapped: unknown[]): unknown {
  if (Array.isArray(v)) return mapped;
  const keys = Object.keys(v as object).sort();
  const m = new Map<string, unknown>();
  for (let i = 0; i < keys.length; i++) m.set(keys[i], mapped[i]);
  return m;
}

/** The CBOR form of a value: object keys sorted as Map entries, so the bytes are canonical. */
export function valueToWire(v: Value): unknown {
  return v === null || typeof v !== "object" || v instanceof Uint8Array ? v : rebuild(v, toWireItems, asIs, toWireBuild);
}

function fromWireItems(x: unknown, depth: number): readonly unknown[] | undefined {
  if (typeof x !== "object" || x === null) return undefined;
  if (depth >= MAX_DEPTH) throw malformed("value nested too deeply");
  if (x instanceof Uint8Array) return undefined;
  if (Array.isArray(x)) return x;
  if (!(x instanceof Map)) throw malformed("unsupported item in a value");
  const out: unknown[] = [];
  for (const [k, y] of x) {
    if (typeof k !== "string") throw malformed("object keys in values must be strings");
    out.push(y);
  }
  return out;
}

function fromWireLeaf(x: unknown): Value {
  switch (typeof x) {
    case "string":
    case "boolean":
      return x;
    case "number":
      if (!Number.isFinite(x)) throw malformed("non-finite number in a value");
      return x;
    case "object":
      return x as null | Uint8Array;
    default:
      throw malformed(`unsupported ${typeof x} in a value`);
  }
}

function fromWireBuild(x: unknown, mapped: Value[]): Value {
  if (Array.isArray(x)) return Object.freeze(mapped);
  const out: { [k: string]: Value } = {};
  let i = 0;
  for (const k of (x as Map<string, unknown>).keys()) {
    if (Object.prototype.hasOwnProperty.call(out, k)) throw malformed(`duplicate key ${JSON.stringify(k)} in a value`);
    defineOwn(out, k, mapped[i++]);
  }
  return Object.freeze(out);
}

/** Reads a value decoded from CBOR, rejecting anything lichen would not have written. */
export function valueFromWire(x: unknown): Value {
  return typeof x === "object" && x !== null ? rebuild(x, fromWireItems, fromWireLeaf, fromWireBuild) : fromWireLeaf(x);
}

function textItems(v: unknown): readonly unknown[] | undefined {
  return v === null || typeof v !== "object" || v instanceof Uint8Array ? undefined : toWireItems(v);
}

function textLeaf(v: unknown): string {
  return v instanceof Uint8Array ? `h"${toHex(v)}"` : JSON.stringify(v);
}

function textBuild(v: unknown, mapped: string[]): string {
  if (Array.isArray(v)) return `[${mapped.join(",")}]`;
  const keys = Object.keys(v as object).sort();
  let s = "{";
  for (let i = 0; i < keys.length; i++) s += `${i > 0 ? "," : ""}${JSON.stringify(keys[i])}:${mapped[i]}`;
  return s + "}";
}

/** A canonical text for any value: equal values give equal text. */
function canonicalText(v: Value): string {
  return rebuild(v, textItems, textLeaf, textBuild);
}

/** The key under which a set keeps an element: a string, or a number for a number element. */
export type ElementKey = string | number;

/**
 * The key under which a set keeps an element. A string is its own key, and
 * so is a number (no allocation in the common cases: a Map hashes a number
 * without building text); every other value gets a NUL-prefixed text, and so
 * do strings that start with NUL, so no two values share a key.
 */
export function elementKey(v: Value): ElementKey {
  if (typeof v === "string") return v.length > 0 && v.charCodeAt(0) === 0 ? "\u0000s" + v : v;
  if (typeof v === "number") return v === 0 ? 0 : v; // -0 and 0 are one element
  return "\u0000v" + canonicalText(v);
}

/** A key as the text it sorts by: a number element sorts as "\0n" and its decimal text. */
function keyText(k: ElementKey): string {
  return typeof k === "string" ? k : "\u0000n" + (k === 0 ? "0" : String(k));
}

/** Code-unit order on the keys' text: the canonical order of elements and entries on the wire. */
export function compareKeys(a: ElementKey, b: ElementKey): number {
  if (typeof a !== "string" || typeof b !== "string") {
    // two numbers share the prefix: their decimal text decides (cached by engines for small integers)
    const numbers = typeof a === "number" && typeof b === "number";
    a = numbers ? String(a) : keyText(a);
    b = numbers ? String(b) : keyText(b);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts keys in place by compareKeys. A few keys (a sensor's readings, written whole per change on
 * a gateway) by insertion: Array.prototype.sort copies them to a work array first, garbage per call.
 */
export function sortKeys<K extends ElementKey>(keys: K[]): K[] {
  if (keys.length > 16) return keys.sort(compareKeys);
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && compareKeys(keys[j]!, k) > 0) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

export function valuesEqual(a: Value, b: Value): boolean {
  return a === b || (typeof a === "object" && typeof b === "object" && elementKey(a) === elementKey(b));
}
