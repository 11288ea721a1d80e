// crdt-kit's crdt-schema.toml, read as it is: `[config]` (output, events, sync), `[[entity]]`
// with `name` and `table`, versions that each list all their fields, Rust field types (String,
// bool, u8..u64, i8..i64, f32, f64, Option<T>, Vec<T>), defaults as Rust expressions ("None",
// "String::new()", "Vec::new()", ...), `crdt` and `relation`. Converted here into lichen's own
// file form (version 1's fields, then the fields each version adds), which normalize.ts
// validates like any schema. What lichen cannot honour is a SchemaError naming the field.
// Device-safe: pure, its patterns made inside functions.
import type { Value } from "../core/value.js";
import { SchemaError, type PlainKind, type SchemaPath, type Wrapper } from "./model.js";

/** crdt-kit's scalar types and what lichen stores them as. */
const RUST_SCALARS: { readonly [rust: string]: PlainKind } = Object.freeze({
  String: "string",
  bool: "boolean",
  u8: "number",
  u16: "number",
  u32: "number",
  u64: "number",
  i8: "number",
  i16: "number",
  i32: "number",
  i64: "number",
  f32: "number",
  f64: "number",
});

/** The CRDTs crdt-kit's codegen supports (schema.rs, SUPPORTED_CRDTS). */
const CRDT_KIT_CRDTS: readonly string[] = Object.freeze(["GCounter", "PNCounter", "LWWRegister", "MVRegister", "GSet", "TwoPSet", "ORSet"]);

/** The integer bounds of a Rust type, within the numbers lichen keeps exactly (safe integers). */
function intBounds(rust: string): readonly [number, number] | undefined {
  switch (rust) {
    case "u8":
      return [0, 255];
    case "u16":
      return [0, 65535];
    case "u32":
      return [0, 4294967295];
    case "u64":
      return [0, Number.MAX_SAFE_INTEGER];
    case "i8":
      return [-128, 127];
    case "i16":
      return [-32768, 32767];
    case "i32":
      return [-2147483648, 2147483647];
    case "i64":
      return [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    default:
      return undefined;
  }
}

/** A Rust type of crdt-kit's: its scalar, its wrappers (outermost first), its Rust name. */
export interface RustType {
  readonly scalar: string;
  readonly plain: PlainKind;
  readonly wrap: readonly Wrapper[];
}

const isObj = (x: unknown): x is { readonly [k: string]: unknown } => typeof x === "object" && x !== null && !Array.isArray(x);

function fail(message: string, path: SchemaPath): never {
  throw new SchemaError(message, path);
}

function checkKeys(obj: { readonly [k: string]: unknown }, allowed: readonly string[], path: SchemaPath, what: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`unknown key ${JSON.stringify(k)} in ${what} of crdt-kit's format (allowed: ${allowed.join(", ")})`, { ...path, attribute: k });
}

/** Parses `String`, `Option<u8>`, `Vec<Option<String>>`, ...; undefined if it is not one of crdt-kit's types. */
export function parseRustType(text: string): RustType | undefined {
  const wrap: Wrapper[] = [];
  let t = text.trim();
  for (;;) {
    const m = /^(Option|Vec)\s*<\s*([\s\S]*)>$/.exec(t);
    if (m === null) break;
    wrap.push(m[1] === "Option" ? "option" : "vec");
    t = m[2]!.trim();
  }
  const plain = Object.prototype.hasOwnProperty.call(RUST_SCALARS, t) ? RUST_SCALARS[t] : undefined;
  return plain === undefined ? undefined : { scalar: t, plain, wrap };
}

/** The TypeScript spelling of a plain type with its wrappers: `number | null`, `string[]`, `(number | null)[]`. */
export function wrappedTs(base: string, wrap: readonly Wrapper[] | undefined): string {
  let t = base;
  for (let i = (wrap?.length ?? 0) - 1; i >= 0; i--) t = wrap![i] === "option" ? `${t} | null` : t.includes("|") ? `(${t})[]` : `${t}[]`;
  return t;
}

/** Splits `a, b, c` at top-level commas (not inside quotes, parentheses or brackets). */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last.length > 0 || out.length > 0) out.push(last);
  return out;
}

/** The zero value of a type (Rust's `Default::default()`). */
function zero(t: RustType, depth: number): Value {
  if (depth < t.wrap.length) return t.wrap[depth] === "option" ? null : [];
  return t.plain === "string" ? "" : t.plain === "boolean" ? false : 0;
}

/**
 * A crdt-kit default (a Rust expression) as the value lichen stores: `None`, `Some(x)`,
 * `String::new()`, `"text"` (with `.to_string()`, `.into()`, `.to_owned()` or
 * `String::from(..)`), `Vec::new()`, `vec![..]`, numbers (with `_` and a type suffix),
 * `true`, `false`, `Default::default()`. Anything else is a SchemaError.
 */
export function rustDefault(expr: string, t: RustType, path: SchemaPath, depth = 0): Value {
  const e = expr.trim();
  const at: SchemaPath = { ...path, attribute: "default" };
  const what = depth < t.wrap.length ? (t.wrap[depth] === "option" ? "an Option" : "a Vec") : t.scalar;
  const bad = (why: string): never =>
    fail(`the default \`${expr.trim()}\` ${why} (lichen reads None, Some(..), String::new(), "..", Vec::new(), vec![..], numbers, true, false, Default::default())`, at);
  if (e === "Default::default()") return zero(t, depth);
  if (depth < t.wrap.length) {
    if (t.wrap[depth] === "option") {
      if (e === "None") return null;
      const m = /^Some\s*\(([\s\S]*)\)$/.exec(e);
      if (m === null) return bad(`is not a value of ${what}`);
      return rustDefault(m[1]!, t, path, depth + 1);
    }
    if (e === "Vec::new()") return [];
    const m = /^vec!\s*\[([\s\S]*)\]$/.exec(e);
    if (m === null) return bad(`is not a value of ${what}`);
    return splitTopLevel(m[1]!).map((x) => rustDefault(x, t, path, depth + 1));
  }
  switch (t.plain) {
    case "string": {
      if (e === "String::new()") return "";
      const m = /^(?:String::from\s*\(\s*("(?:[^"\\]|\\.)*")\s*\)|("(?:[^"\\]|\\.)*")(?:\.to_string\(\)|\.into\(\)|\.to_owned\(\))?)$/.exec(e);
      if (m === null) return bad("is not a String");
      try {
        return JSON.parse(m[1] ?? m[2]!) as string;
      } catch {
        return bad("has an escape lichen does not read");
      }
    }
    case "boolean":
      if (e === "true" || e === "false") return e === "true";
      return bad("is not a bool");
    default: {
      const m = /^(-?)([0-9][0-9_]*)(?:\.([0-9_]+))?(?:[eE]([+-]?[0-9]+))?_?(u8|u16|u32|u64|i8|i16|i32|i64|f32|f64)?$/.exec(e);
      if (m === null) return bad(`is not a number of type ${t.scalar}`);
      const suffix = m[5];
      if (suffix !== undefined && suffix !== t.scalar) return bad(`is a ${suffix}, not a ${t.scalar}`);
      const n = Number(`${m[1]}${m[2]!.replace(/_/g, "")}${m[3] !== undefined ? `.${m[3].replace(/_/g, "")}` : ""}${m[4] !== undefined ? `e${m[4]}` : ""}`);
      const bounds = intBounds(t.scalar);
      if (bounds !== undefined) {
        if (m[3] !== undefined || m[4] !== undefined || !Number.isSafeInteger(n)) return bad(`is not an integer lichen keeps exactly (${t.scalar})`);
        if (n < bounds[0] || n > bounds[1]) return bad(`is out of range for ${t.scalar}${t.scalar === "u64" || t.scalar === "i64" ? " as lichen stores it (a safe integer)" : ""}`);
      } else if (!Number.isFinite(n)) return bad("is not a finite number");
      return n;
    }
  }
}

/** Checks a value against a Rust integer type's bounds (defaults of fields declared as u8, i32, ...). */
export function checkRustNumber(rust: string | undefined, n: number): string | undefined {
  const b = rust === undefined ? undefined : intBounds(rust);
  if (b === undefined) return undefined;
  if (!Number.isSafeInteger(n)) return `an integer (${rust})`;
  if (n < b[0] || n > b[1]) return `within ${rust}'s range, ${b[0]} to ${b[1]}`;
  return undefined;
}

interface KitField {
  readonly name: string;
  readonly type: string;
  readonly crdt: string | undefined;
  readonly relation: string | undefined;
  readonly default: string | undefined;
}

/** One crdt-kit field as lichen's file form: `{ name, type: PlainType or element, crdt?, default?, relation? }`. */
function convertField(f: KitField, version: number, path: SchemaPath): { [k: string]: unknown } {
  const fpath: SchemaPath = { ...path, field: f.name };
  const rt = parseRustType(f.type);
  if (rt === undefined) {
    fail(`unsupported type \`${f.type}\`: crdt-kit's types are String, bool, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, Option<T> and Vec<T>`, { ...fpath, attribute: "type" });
  }
  const out: { [k: string]: unknown } = { name: f.name };
  if (f.relation !== undefined) out.relation = f.relation;
  if (f.crdt !== undefined) {
    if (!CRDT_KIT_CRDTS.includes(f.crdt)) fail(`unsupported CRDT \`${f.crdt}\` (crdt-kit's: ${CRDT_KIT_CRDTS.join(", ")})`, { ...fpath, attribute: "crdt" });
    if (rt.wrap.length > 0) fail(`a ${f.crdt} of \`${f.type}\` is not supported: lichen's CRDTs hold String, bool or number elements`, { ...fpath, attribute: "type" });
    out.crdt = f.crdt;
    if (f.crdt === "GCounter" || f.crdt === "PNCounter") {
      if (rt.plain !== "number" || intBounds(rt.scalar) === undefined) fail(`a ${f.crdt} counts in integers, not \`${f.type}\``, { ...fpath, attribute: "type" });
    } else out.type = rt.plain;
    // crdt-kit fills added CRDT fields with an empty CRDT; so does lichen
    if (f.default !== undefined && version > 1) fail(`a default for a ${f.crdt} is not supported: an added CRDT field starts empty, as in crdt-kit`, { ...fpath, attribute: "default" });
    return out;
  }
  out.type = Object.freeze({ kind: "plain", plain: rt.plain, ...(rt.wrap.length > 0 ? { wrap: Object.freeze(rt.wrap) } : {}), rust: rt.scalar });
  if (f.default !== undefined) {
    const v = rustDefault(f.default, rt, fpath);
    // lichen's defaults fill fields added by a later version; one on a version-1 field is checked, then has nothing to fill
    if (version > 1) out.default = v;
  }
  return out;
}

function readField(raw: unknown, path: SchemaPath): KitField {
  if (!isObj(raw)) fail("a field is a table", path);
  const name = raw.name;
  if (typeof name !== "string") fail("a field needs a name", { ...path, attribute: "name" });
  const fpath = { ...path, field: name };
  checkKeys(raw, ["name", "type", "default", "crdt", "relation"], fpath, "a field");
  const str = (k: string, required: boolean): string | undefined => {
    const v = raw[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string") fail(`${k} is a string${k === "default" ? " holding a Rust expression (\"None\", \"0\", \"String::new()\")" : ""}`, { ...fpath, attribute: k });
    return v;
  };
  return { name, type: str("type", true)!, crdt: str("crdt", false), relation: str("relation", false), default: str("default", false) };
}

/**
 * Converts a crdt-kit schema (`{ config, entity: [...] }` as TOML parses it) into lichen's file
 * form. Versions list every field: a field that appears adds itself (with its default), a field
 * that disappears or changes its type is a SchemaError (lichen's migrations only add fields).
 */
export function fromCrdtKit(raw: { readonly [k: string]: unknown }): { entities: unknown[]; output: string } {
  checkKeys(raw, ["config", "entity"], {}, "the schema");
  const config = raw.config;
  if (!isObj(config)) fail("[config] is a table", { attribute: "config" });
  checkKeys(config, ["output", "events", "sync"], { attribute: "config" }, "[config]");
  const output = config.output;
  if (typeof output !== "string" || output.length === 0) fail("[config] output: the directory to generate into (a non-empty string)", { attribute: "output" });
  if (config.events !== undefined) {
    const ev = config.events;
    if (!isObj(ev)) fail("[config.events] is a table", { attribute: "events" });
    checkKeys(ev, ["enabled", "snapshot_threshold"], { attribute: "events" }, "[config.events]");
    if (ev.enabled !== undefined && typeof ev.enabled !== "boolean") fail("[config.events] enabled is a boolean", { attribute: "enabled" });
    const th = ev.snapshot_threshold;
    if (th !== undefined && !(Number.isSafeInteger(th) && (th as number) > 0)) fail("[config.events] snapshot_threshold must be > 0", { attribute: "snapshot_threshold" });
  }
  let syncEnabled = false;
  if (config.sync !== undefined) {
    const sy = config.sync;
    if (!isObj(sy)) fail("[config.sync] is a table", { attribute: "sync" });
    checkKeys(sy, ["enabled"], { attribute: "sync" }, "[config.sync]");
    if (sy.enabled !== undefined && typeof sy.enabled !== "boolean") fail("[config.sync] enabled is a boolean", { attribute: "enabled" });
    syncEnabled = sy.enabled === true;
  }
  const list = raw.entity;
  if (!Array.isArray(list) || list.length === 0) fail("no entities: declare at least one [[entity]]", {});
  const entities = (list as unknown[]).map((e, entityIndex): unknown => {
    if (!isObj(e)) fail("an entity is a table", { entityIndex });
    const name = typeof e.name === "string" ? e.name : undefined;
    const at: SchemaPath = name === undefined ? { entityIndex } : { entity: name, entityIndex };
    checkKeys(e, ["name", "table", "versions"], at, "an entity");
    if (typeof e.table !== "string" || e.table.length === 0) fail("table: the entity's storage namespace (a non-empty string)", { ...at, attribute: "table" });
    const versions = e.versions;
    if (!Array.isArray(versions) || versions.length === 0) fail("versions: at least one version, with its fields", { ...at, attribute: "versions" });
    let previous = new Map<string, KitField>();
    const out = (versions as unknown[]).map((ver, i) => {
      const version = i + 1;
      const vpath: SchemaPath = { ...at, version };
      if (!isObj(ver)) fail(`version ${version} is a table`, vpath);
      checkKeys(ver, ["version", "fields"], vpath, `version ${version}`);
      if (ver.version !== version) fail(`expected version ${version}, got ${JSON.stringify(ver.version)}: versions are 1, 2, 3, ... in order`, { ...vpath, attribute: "version" });
      if (!Array.isArray(ver.fields)) fail(`version ${version} lists its fields`, { ...vpath, attribute: "fields" });
      const fields = (ver.fields as unknown[]).map((f) => readField(f, vpath));
      const now = new Map(fields.map((f) => [f.name, f] as const));
      for (const [fname, old] of previous) {
        const f = now.get(fname);
        if (f === undefined) fail(`version ${version} drops field ${fname}: lichen's migrations only add fields`, { ...vpath, field: fname });
        if (f.type !== old.type || f.crdt !== old.crdt) fail(`version ${version} changes the type of ${fname} (${old.crdt ?? ""}${old.type} → ${f.crdt ?? ""}${f.type}): lichen's migrations only add fields`, { ...vpath, field: fname, attribute: "type" });
      }
      const added = fields.filter((f) => !previous.has(f.name));
      previous = now;
      return { version, fields: added.map((f) => convertField(f, version, vpath)) };
    });
    return { ...(name !== undefined ? { name } : { name: e.name }), table: e.table, versions: out };
  });
  if (syncEnabled) {
    const anyCrdt = (list as { versions: { fields: { crdt?: unknown }[] }[] }[]).some((e) => e.versions.some((v) => v.fields.some((f) => f.crdt !== undefined)));
    if (!anyCrdt) fail("[config.sync] enabled requires at least one entity with CRDT fields", { attribute: "sync" });
  }
  return { entities, output };
}
