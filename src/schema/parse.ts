// Schema files: TOML (like crdt-kit's crdt-schema.toml) or JSON, parsed into the same
// normalized schema. Errors are SchemaErrors naming the file, the line and the field.
// Device-safe: the TOML parser is passed in (schema-file.ts passes smol-toml's, which is not on
// the device allow-list); JSON needs nothing.
import { SchemaError, type NormalizedSchema, type SchemaPath } from "./model.js";
import { normalizeSchema } from "./normalize.js";

export type SchemaFormat = "toml" | "json";

/** The format of a schema file by its name: .json is JSON, anything else TOML. */
export function formatOf(file: string): SchemaFormat {
  return /\.json$/i.test(file) ? "json" : "toml";
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** `key = "value"` (TOML) or `"key": "value"` (JSON). */
const keyValue = (key: string, value: string): RegExp => new RegExp(`["']?${esc(key)}["']?\\s*[=:]\\s*${value}`, "g");
const keyOnly = (key: string): RegExp => new RegExp(`(^|[\\s{,])["']?${esc(key)}["']?\\s*[=:]`, "gm");

function findFrom(text: string, re: RegExp, from: number): number {
  re.lastIndex = from;
  const m = re.exec(text);
  return m === null ? -1 : m.index + (m[1]?.length ?? 0);
}

/**
 * The line of a schema path in the source: the entity's `name = "X"`, then its version's
 * `version = N` (or the N-th field list), then the field's `name = "f"`, then the attribute's key.
 * Falls back to the most precise position found.
 */
export function locate(text: string, path: SchemaPath): number {
  let pos = 0;
  if (path.entity !== undefined) {
    const p = findFrom(text, keyValue("name", `["']${esc(path.entity)}["']`), 0);
    if (p >= 0) pos = p;
  } else if (path.entityIndex !== undefined) {
    let p = -1;
    const re = /\[\[\s*entity\s*\]\]|["']entities["']\s*:\s*\[/g;
    const first = findFrom(text, re, 0);
    if (first >= 0 && text.slice(first, first + 2) === "[[") {
      p = first;
      for (let i = 0; i < path.entityIndex && p >= 0; i++) p = findFrom(text, /\[\[\s*entity\s*\]\]/g, p + 1);
    } else if (first >= 0) {
      p = first;
      for (let i = 0; i <= path.entityIndex && p >= 0; i++) p = findFrom(text, keyOnly("name"), p + 1);
    }
    if (p >= 0) pos = p;
  }
  if (path.version !== undefined) {
    let p = findFrom(text, keyValue("version", `${path.version}(?![0-9])`), pos);
    if (p < 0) {
      // no `version = N`: the N-th version table after the entity
      p = pos;
      for (let i = 0; i < path.version && p >= 0; i++) p = findFrom(text, /\[\[\s*entity\.versions\s*\]\]|["']version["']\s*:/g, p + 1);
    }
    if (p >= 0) pos = p;
  }
  if (path.field !== undefined) {
    let p = pos;
    for (let i = 0; i < (path.occurrence ?? 1) && p >= 0; i++) p = findFrom(text, keyValue("name", `["']${esc(path.field)}["']`), i === 0 ? p : p + 1);
    if (p >= 0) pos = p;
  }
  if (path.attribute !== undefined && path.attribute !== "name") {
    const p = findFrom(text, keyOnly(path.attribute), pos);
    const nextName = findFrom(text, keyOnly("name"), pos + 1);
    if (p >= 0 && (nextName < 0 || p < nextName || path.field === undefined)) pos = p;
  }
  return lineOf(text, pos);
}

/** A TOML parser: returns the document, or throws an error with `line` (and `column`) for a syntax error. */
export type TomlParse = (text: string) => unknown;

/** Parses and validates a schema file's text. Throws a SchemaError with file and line. */
export function parseSchemaWith(text: string, file: string, format: SchemaFormat, parseToml: TomlParse | undefined): NormalizedSchema {
  let raw: unknown;
  if (format === "toml") {
    if (parseToml === undefined) throw new SchemaError("no TOML parser here: use a JSON schema, or parseSchema from src/schema/schema-file.ts", {}, file, 1);
    try {
      raw = parseToml(text);
    } catch (e) {
      const err = e as { line?: unknown; column?: unknown; message?: unknown };
      if (typeof err.line === "number") throw new SchemaError(`TOML syntax: ${String(err.message).split("\n")[0]}${typeof err.column === "number" ? ` (column ${err.column})` : ""}`, {}, file, err.line);
      throw e;
    }
  } else {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      const m = /position (\d+)/.exec((e as Error).message);
      const lm = /line (\d+)/.exec((e as Error).message);
      const line = lm !== null ? Number(lm[1]) : m !== null ? lineOf(text, Number(m[1])) : 1;
      throw new SchemaError(`JSON syntax: ${(e as Error).message}`, {}, file, line);
    }
  }
  try {
    return normalizeSchema(raw);
  } catch (e) {
    if (e instanceof SchemaError) throw new SchemaError(e.message, e.path, file, locate(text, e.path));
    throw e;
  }
}
