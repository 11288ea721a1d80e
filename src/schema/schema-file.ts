// parseSchema: schema files in TOML (smol-toml) or JSON. Apart from parse.ts because smol-toml
// is not on the device allow-list: the gateway, the CLI and tests import this; device code can
// use parseSchemaWith (JSON) or TypeScript definitions.
import { parse } from "smol-toml";
import type { NormalizedSchema } from "./model.js";
import { formatOf, parseSchemaWith, type SchemaFormat } from "./parse.js";

/** Parses and validates a schema file's text (TOML, or JSON for *.json). Throws a SchemaError with file and line. */
export function parseSchema(text: string, file = "crdt-schema.toml", format: SchemaFormat = formatOf(file)): NormalizedSchema {
  return parseSchemaWith(text, file, format, parse);
}
