// Validation and normalization: one path for TypeScript definitions and schema files.
import { copyValue, type Value } from "../core/value.js";
import { isPlainName, nameRule } from "../core/names.js";
import { checkRustNumber, fromCrdtKit } from "./crdt-kit.js";
import {
  CRDT_KINDS,
  CRDT_WITH_ELEMENT,
  PLAIN_KINDS,
  SchemaError,
  type CrdtKind,
  type DocumentKind,
  type Entity,
  type EntityInput,
  type FieldType,
  type NormalizedEntity,
  type NormalizedField,
  type NormalizedRelation,
  type NormalizedSchema,
  type PlainKind,
  type PlainType,
  type SchemaPath,
  type Wrapper,
} from "./model.js";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const ENTITY_NAME = /^[A-Z][A-Za-z0-9_]{0,63}$/;
const RESERVED: readonly string[] = Object.freeze(["__proto__", "constructor", "prototype"]);

const isObj = (x: unknown): x is { readonly [k: string]: unknown } => typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
const show = (x: unknown): string => (typeof x === "string" ? JSON.stringify(x) : x instanceof Uint8Array ? "bytes" : Array.isArray(x) ? "an array" : x === null ? "null" : typeof x === "object" ? "a table" : String(x));

/** A schema as read from a file (or converted from a TS definition), before validation. */
export interface RawField {
  readonly [key: string]: unknown;
}

function fail(message: string, path: SchemaPath): never {
  throw new SchemaError(message, path);
}

function checkKeys(obj: { readonly [k: string]: unknown }, allowed: readonly string[], path: SchemaPath, what: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`unknown key ${JSON.stringify(k)} in ${what} (allowed: ${allowed.join(", ")})`, { ...path, attribute: k });
}

function plainDefault(kind: PlainKind, v: unknown, path: SchemaPath, rust?: string): Value {
  const bad = (want: string): never => fail(`the default must be ${want}, not ${show(v)}`, { ...path, attribute: "default" });
  switch (kind) {
    case "string":
      return typeof v === "string" ? v : bad("a string");
    case "number": {
      if (typeof v !== "number" || !Number.isFinite(v)) return bad("a finite number");
      const out = checkRustNumber(rust, v);
      return out === undefined ? v : bad(out);
    }
    case "boolean":
      return typeof v === "boolean" ? v : bad("a boolean");
    case "bytes":
      if (v instanceof Uint8Array) return v.slice();
      if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Uint8Array.from(v as number[]);
      return bad("bytes (an array of integers 0 to 255)");
    case "json":
      try {
        return copyValue(v);
      } catch (e) {
        return fail(`the default is not a value lichen stores: ${(e as Error).message}`, { ...path, attribute: "default" });
      }
  }
}

/** A default of a plain type inside crdt-kit's wrappers (Option: null or the value; Vec: an array of values). */
function wrappedDefault(type: PlainType, wrap: readonly Wrapper[], v: unknown, path: SchemaPath): Value {
  if (wrap.length === 0) return plainDefault(type.plain, v, path, type.rust);
  if (wrap[0] === "option") return v === null ? null : wrappedDefault(type, wrap.slice(1), v, path);
  if (!Array.isArray(v)) fail(`the default must be an array (a Vec), not ${show(v)}`, { ...path, attribute: "default" });
  return (v as unknown[]).map((x) => wrappedDefault(type, wrap.slice(1), x, path));
}

/** Checks a default against its field type; returns it normalized (bytes as Uint8Array, frozen). */
export function checkDefault(type: FieldType, v: unknown, path: SchemaPath): Value {
  if (type.kind === "plain") return copyValue(wrappedDefault(type, type.wrap ?? [], v, path));
  const el = type.of as PlainKind;
  const at = { ...path, attribute: "default" };
  switch (type.crdt) {
    case "LWWRegister":
    case "MVRegister":
      return copyValue(plainDefault(el, v, path));
    case "GCounter":
      if (!Number.isSafeInteger(v) || (v as number) < 0) fail(`the default of a GCounter is a non-negative integer, not ${show(v)}`, at);
      return v as number;
    case "PNCounter":
      if (!Number.isSafeInteger(v)) fail(`the default of a PNCounter is an integer, not ${show(v)}`, at);
      return v as number;
    case "GSet":
    case "TwoPSet":
    case "ORSet":
      if (!Array.isArray(v)) fail(`the default of a ${type.crdt} is an array of its elements, not ${show(v)}`, at);
      return copyValue((v as unknown[]).map((x) => plainDefault(el, x, path)));
    case "LWWMap": {
      if (!isObj(v)) fail(`the default of an LWWMap is a table of its values, not ${show(v)}`, at);
      const out: { [k: string]: Value } = {};
      for (const k of Object.keys(v as object).sort()) Object.defineProperty(out, k, { value: plainDefault(el, (v as { [k: string]: unknown })[k], path), enumerable: true });
      return copyValue(out);
    }
    case "Text":
      if (typeof v !== "string") fail(`the default of a Text is a string, not ${show(v)}`, at);
      return v as string;
  }
}

/** Resolves a field's type from `{ type, crdt }` strings (files) or a FieldType object (TypeScript). */
function fieldType(raw: RawField, path: SchemaPath): FieldType {
  const t = raw.type;
  if (isObj(t) && (t.kind === "plain" || t.kind === "crdt")) {
    if (t.kind === "plain") {
      if (!PLAIN_KINDS.includes(t.plain as PlainKind)) fail(`unknown plain type ${show(t.plain)}`, { ...path, attribute: "type" });
      const wrap = t.wrap;
      if (wrap !== undefined && !(Array.isArray(wrap) && wrap.every((w) => w === "option" || w === "vec"))) fail("wrap is a list of \"option\" and \"vec\"", { ...path, attribute: "type" });
      if (t.rust !== undefined && typeof t.rust !== "string") fail("rust is a type name", { ...path, attribute: "type" });
      return Object.freeze({
        kind: "plain",
        plain: t.plain as PlainKind,
        ...(wrap !== undefined && (wrap as unknown[]).length > 0 ? { wrap: Object.freeze([...(wrap as Wrapper[])]) } : {}),
        ...(typeof t.rust === "string" ? { rust: t.rust } : {}),
      });
    }
    return crdtType(t.crdt, t.of, path);
  }
  if (raw.crdt !== undefined) return crdtType(raw.crdt, t, path);
  if (t === undefined) fail(`no type: give type = one of ${PLAIN_KINDS.join(", ")} (and crdt = ... to wrap it in a CRDT)`, { ...path, attribute: "type" });
  if (typeof t !== "string" || !PLAIN_KINDS.includes(t as PlainKind)) fail(`unknown type ${show(t)}: one of ${PLAIN_KINDS.join(", ")}`, { ...path, attribute: "type" });
  return Object.freeze({ kind: "plain", plain: t as PlainKind });
}

function crdtType(k: unknown, of: unknown, path: SchemaPath): FieldType {
  if (typeof k !== "string" || !CRDT_KINDS.includes(k as CrdtKind)) fail(`unknown crdt ${show(k)}: one of ${CRDT_KINDS.join(", ")}`, { ...path, attribute: "crdt" });
  const kind = k as CrdtKind;
  if (CRDT_WITH_ELEMENT.includes(kind)) {
    if (of === undefined) fail(`a ${kind} needs an element type: type = one of ${PLAIN_KINDS.join(", ")}`, { ...path, attribute: "type" });
    if (typeof of !== "string" || !PLAIN_KINDS.includes(of as PlainKind)) fail(`unknown type ${show(of)}: one of ${PLAIN_KINDS.join(", ")}`, { ...path, attribute: "type" });
    return Object.freeze({ kind: "crdt", crdt: kind, of: of as PlainKind });
  }
  if (of !== undefined) fail(`a ${kind} takes no element type (remove type = ${show(of)})`, { ...path, attribute: "type" });
  return Object.freeze({ kind: "crdt", crdt: kind, of: undefined });
}

/** The `document` of an entity (with its element `type` for the kinds that take one), or undefined for a CrdtDb entity. */
function documentKind(raw: { readonly [k: string]: unknown }, at: SchemaPath): DocumentKind | undefined {
  if (raw.document === undefined) {
    if (raw.type !== undefined) fail("type at the entity level is a document's element type: give document = ... too", { ...at, attribute: "type" });
    return undefined;
  }
  const k = raw.document;
  if (typeof k !== "string" || !CRDT_KINDS.includes(k as CrdtKind)) fail(`unknown document ${show(k)}: one of ${CRDT_KINDS.join(", ")}`, { ...at, attribute: "document" });
  const crdt = k as CrdtKind;
  if (crdt === "LWWMap" || !CRDT_WITH_ELEMENT.includes(crdt)) {
    if (raw.type !== undefined) fail(crdt === "LWWMap" ? "an LWWMap document's fields give its types: no type at the entity level" : `a ${crdt} document takes no element type`, { ...at, attribute: "type" });
    return Object.freeze({ crdt });
  }
  if (typeof raw.type !== "string" || !PLAIN_KINDS.includes(raw.type as PlainKind)) fail(`a document of ${crdt} needs its element type: type = one of ${PLAIN_KINDS.join(", ")}`, { ...at, attribute: raw.type === undefined ? "document" : "type" });
  return Object.freeze({ crdt, of: raw.type as PlainKind });
}

/**
 * Validates one entity in the file form: `{ name, doc?, versions: [{ version?, fields: [{ name,
 * type?, crdt?, default?, doc? }] }], relations?: [{ name, to, kind?, doc? }] }`. Version 1's
 * fields are the initial ones; each later version lists the fields it adds, each with a default
 * (optional for CRDT fields: an empty CRDT). Relation targets are checked by normalizeSchema.
 */
export function normalizeEntity(raw: unknown, entityIndex = 0): NormalizedEntity {
  const base: SchemaPath = { entityIndex };
  if (!isObj(raw)) fail(`an entity is a table, not ${show(raw)}`, base);
  checkKeys(raw, ["name", "doc", "table", "document", "type", "versions", "relations"], base, "an entity");
  const name = raw.name;
  if (typeof name !== "string" || !ENTITY_NAME.test(name)) fail(`an entity name is 1 to 64 characters of A-Z a-z 0-9 _, starting with a capital letter; not ${show(name)}`, { ...base, attribute: "name" });
  const at: SchemaPath = { entity: name, entityIndex };
  if (raw.doc !== undefined && typeof raw.doc !== "string") fail("doc is a string", { ...at, attribute: "doc" });
  if (raw.table !== undefined && (typeof raw.table !== "string" || !isPlainName(raw.table))) fail(`${nameRule("table")}, not ${show(raw.table)}`, { ...at, attribute: "table" });
  const document = documentKind(raw, at);
  // a document that is not a map has no fields: its versions may be left out (version 1)
  const versions = raw.versions === undefined && document !== undefined && document.crdt !== "LWWMap" ? [{}] : raw.versions;
  if (!Array.isArray(versions) || versions.length === 0) fail("versions: at least one version, with its fields", { ...at, attribute: "versions" });
  const fields: NormalizedField[] = [];
  const seen = new Set<string>();
  const keys = new Set<string>();
  versions.forEach((ver: unknown, i: number) => {
    const version = i + 1;
    const vpath: SchemaPath = { ...at, version };
    if (!isObj(ver)) fail(`version ${version} is a table, not ${show(ver)}`, vpath);
    checkKeys(ver, ["version", "fields"], vpath, `version ${version}`);
    if (ver.version !== undefined && ver.version !== version) fail(`versions are numbered 1, 2, 3, ... in order: this one is ${version}, not ${show(ver.version)}`, { ...vpath, attribute: "version" });
    if (document !== undefined && document.crdt !== "LWWMap") {
      if (ver.fields !== undefined && !(Array.isArray(ver.fields) && ver.fields.length === 0)) fail(`a ${document.crdt} document has no fields (only an LWWMap document's keys are fields)`, { ...vpath, attribute: "fields" });
      return;
    }
    const fs = ver.fields;
    if (!Array.isArray(fs) || (version > 1 && fs.length === 0) || (version === 1 && fs.length === 0)) fail(`version ${version} ${version === 1 ? "declares" : "adds"} no fields`, { ...vpath, attribute: "fields" });
    for (const f of fs as unknown[]) {
      if (!isObj(f)) fail(`a field is a table, not ${show(f)}`, vpath);
      const fname = f.name;
      if (typeof fname !== "string" || !IDENT.test(fname) || RESERVED.includes(fname)) fail(`a field name is an identifier (A-Z a-z 0-9 _, not starting with a digit), not ${show(fname)}`, { ...vpath, attribute: "name" });
      const fpath: SchemaPath = { ...vpath, field: fname };
      checkKeys(f, ["name", "type", "crdt", "default", "doc", "relation", ...(document !== undefined ? ["key"] : [])], fpath, "a field");
      if (seen.has(fname)) fail(`field ${fname} is declared twice`, { ...fpath, occurrence: 2 });
      seen.add(fname);
      const type = fieldType(f, fpath);
      if (document !== undefined && type.kind !== "plain") fail("a field of an LWWMap document is one of its keys: a plain value, not a CRDT", { ...fpath, attribute: "crdt" });
      if (f.key !== undefined && (typeof f.key !== "string" || f.key.length === 0 || f.key.length > 64)) fail(`key: the map key, 1 to 64 characters, not ${show(f.key)}`, { ...fpath, attribute: "key" });
      const mapKey = typeof f.key === "string" ? f.key : fname;
      if (document !== undefined) {
        if (keys.has(mapKey)) fail(`the key ${JSON.stringify(mapKey)} is declared twice`, { ...fpath, attribute: "key" });
        keys.add(mapKey);
      }
      if (f.doc !== undefined && typeof f.doc !== "string") fail("doc is a string", { ...fpath, attribute: "doc" });
      if (f.relation !== undefined && (typeof f.relation !== "string" || !ENTITY_NAME.test(f.relation))) fail(`relation: the name of an entity, not ${show(f.relation)}`, { ...fpath, attribute: "relation" });
      let def: Value | undefined;
      if (version === 1) {
        if (f.default !== undefined) fail("a field of version 1 takes no default (defaults fill fields added by later versions into older values)", { ...fpath, attribute: "default" });
      } else if (f.default === undefined) {
        if (type.kind === "plain") fail(`added in version ${version}: needs a default for values stored by older versions`, { ...fpath, attribute: "default" });
      } else def = checkDefault(type, f.default, fpath);
      fields.push(
        Object.freeze({
          name: fname,
          type,
          since: version,
          ...(def !== undefined ? { default: def } : {}),
          ...(typeof f.doc === "string" ? { doc: f.doc } : {}),
          ...(typeof f.relation === "string" ? { relation: f.relation } : {}),
          ...(typeof f.key === "string" && f.key !== fname ? { key: f.key } : {}),
        }),
      );
    }
  });
  const relations: NormalizedRelation[] = [];
  if (raw.relations !== undefined) {
    if (!Array.isArray(raw.relations)) fail("relations is an array of tables", { ...at, attribute: "relations" });
    for (const r of raw.relations as unknown[]) {
      if (!isObj(r)) fail(`a relation is a table, not ${show(r)}`, at);
      const rname = r.name;
      if (typeof rname !== "string" || !IDENT.test(rname) || RESERVED.includes(rname)) fail(`a relation name is an identifier, not ${show(rname)}`, { ...at, attribute: "name" });
      const rpath: SchemaPath = { ...at, field: rname };
      checkKeys(r, ["name", "to", "kind", "doc"], rpath, "a relation");
      if (seen.has(rname)) fail(`relation ${rname} has the name of a field or another relation`, { ...rpath, occurrence: 2 });
      seen.add(rname);
      if (typeof r.to !== "string" || !ENTITY_NAME.test(r.to)) fail(`to: the name of an entity, not ${show(r.to)}`, { ...rpath, attribute: "to" });
      const kind = r.kind ?? "one";
      if (kind !== "one" && kind !== "many") fail(`kind is "one" or "many", not ${show(kind)}`, { ...rpath, attribute: "kind" });
      if (r.doc !== undefined && typeof r.doc !== "string") fail("doc is a string", { ...rpath, attribute: "doc" });
      relations.push(Object.freeze({ name: rname, to: r.to, kind, ...(typeof r.doc === "string" ? { doc: r.doc } : {}) }));
    }
  }
  relations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.freeze({
    name,
    ...(typeof raw.table === "string" ? { table: raw.table } : {}),
    ...(document !== undefined ? { document } : {}),
    ...(typeof raw.doc === "string" ? { doc: raw.doc } : {}),
    version: versions.length,
    fields: Object.freeze(fields),
    relations: Object.freeze(relations),
  });
}

/** Validates a whole schema `{ entities: [...] }`: each entity, unique names, relation targets. Entities sorted by name. */
export function normalizeSchema(raw: unknown): NormalizedSchema {
  if (!isObj(raw)) fail(`a schema is a table, not ${show(raw)}`, {});
  // crdt-kit's crdt-schema.toml starts with [config]; lichen's own form has none
  const kit = raw.config !== undefined ? fromCrdtKit(raw) : undefined;
  if (kit === undefined) checkKeys(raw, ["entity", "entities"], {}, "the schema");
  const list = kit !== undefined ? kit.entities : (raw.entities ?? raw.entity);
  if (!Array.isArray(list) || list.length === 0) fail("no entities: declare at least one ([[entity]] in TOML, \"entities\": [...] in JSON)", {});
  const entities = (list as unknown[]).map((e, i) => normalizeEntity(e, i));
  const names = new Set<string>();
  entities.forEach((e, i) => {
    if (names.has(e.name)) fail(`entity ${e.name} is declared twice`, { entity: e.name, entityIndex: i });
    names.add(e.name);
  });
  entities.forEach((e, i) => {
    for (const r of e.relations) if (!names.has(r.to)) fail(`relation to ${r.to}: no such entity`, { entity: e.name, entityIndex: i, field: r.name, attribute: "to" });
    for (const f of e.fields) if (f.relation !== undefined && !names.has(f.relation)) fail(`relation to ${f.relation}: no such entity`, { entity: e.name, entityIndex: i, version: f.since, field: f.name, attribute: "relation" });
  });
  const tables = new Map<string, string>();
  for (const e of entities) {
    const t = e.table ?? e.name;
    const other = tables.get(t);
    if (other !== undefined) fail(`entities ${other} and ${e.name} share the table ${t}`, { entity: e.name, attribute: "table" });
    tables.set(t, e.name);
  }
  return Object.freeze({
    entities: Object.freeze([...entities].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))),
    ...(kit !== undefined ? { output: kit.output } : {}),
  });
}

/** Converts a TypeScript definition to the file form. */
export function entityInputToRaw(d: EntityInput): unknown {
  const versions = d.versions.map((v, i) =>
    i === 0
      ? { fields: Object.keys((v as { fields: object }).fields).map((name) => ({ name, type: (v as { fields: { [k: string]: unknown } }).fields[name] })) }
      : {
          fields: Object.keys((v as { add: object }).add).map((name) => {
            const a = (v as { add: { [k: string]: { type: unknown; default?: unknown; doc?: unknown } } }).add[name]!;
            return { name, type: a.type, ...(a.default !== undefined ? { default: a.default } : {}), ...(a.doc !== undefined ? { doc: a.doc } : {}) };
          }),
        },
  );
  const relations = d.relations === undefined ? undefined : Object.keys(d.relations).map((name) => ({ name, ...d.relations![name] }));
  return { name: d.name, ...(d.doc !== undefined ? { doc: d.doc } : {}), versions, ...(relations !== undefined ? { relations } : {}) };
}

/**
 * Defines an entity in TypeScript, with its types inferred (`InferEntity<typeof Sensor>`).
 * Validated like a schema file; throws a SchemaError (no file, no line).
 */
export function defineEntity<const D extends EntityInput>(d: D): Entity<D> {
  return normalizeEntity(entityInputToRaw(d)) as Entity<D>;
}

/** A schema from TypeScript entities: unique names, relation targets checked, sorted by name. */
export function defineSchema(...entities: readonly NormalizedEntity[]): NormalizedSchema {
  const names = new Set(entities.map((e) => e.name));
  if (names.size !== entities.length) fail("two entities have the same name", {});
  for (const e of entities) for (const r of e.relations) if (!names.has(r.to)) fail(`relation to ${r.to}: no such entity`, { entity: e.name, field: r.name, attribute: "to" });
  return Object.freeze({ entities: Object.freeze([...entities].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) });
}
