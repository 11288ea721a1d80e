// lichen's schemas: typed entities (TypeScript definitions or TOML/JSON files), migrations
// generated from defaults, entities opened as live CRDTs, and code generation. Device-safe:
// parseSchema (TOML through smol-toml) is in ./schema-file.js.
export * from "./model.js";
export { checkDefault, defineEntity, defineSchema, normalizeEntity, normalizeSchema } from "./normalize.js";
export { formatOf, locate, parseSchemaWith, type SchemaFormat, type TomlParse } from "./parse.js";
export {
  SCHEMA_REPLICA,
  createEntity,
  crdtClass,
  crdtInitialBytes,
  defineEntities,
  entityDef,
  entityType,
  fieldsAt,
  loadEntity,
  migrationsOf,
  openEntity,
  saveEntity,
  storeEntity,
  storedDefault,
} from "./runtime.js";
export { parseRustType, rustDefault, wrappedTs, type RustType } from "./crdt-kit.js";
export { GENERATED_HEADER, generate, literal, type GenerateOptions, type GeneratedFile } from "./codegen.js";
