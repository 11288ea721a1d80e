import { checkName } from "../core/names.js";
import { decodeCbor, encodeCbor } from "../core/codec.js";
import { invalidArgument, LichenError } from "../core/errors.js";
import { copyValue, valueFromWire, valueToWire, type Value } from "../core/value.js";
import type { KvStore } from "./kv.js";
import { envelopeKey, storedEnvelopes } from "./keys.js";

/** Upgrades an entity's value by one schema version. Must be deterministic: same input, same output. */
export type Migration = (value: Value) => Value;

export interface EntityDef {
  /** The entity type, e.g. "Sensor": a name (core/names.ts). */
  readonly type: string;
  /** The current schema version, from 1. */
  readonly version: number;
  /** `migrations[v]` upgrades a value from version v to v + 1, for every v from 1 to version - 1. */
  readonly migrations?: { readonly [from: number]: Migration };
}

const ENVELOPE_FORMAT = 1;

/**
 * Entities in versioned envelopes, with lazy migrations (crdt-kit's
 * crdt-store and crdt-migrate). Each entity is stored as
 * `[format, type, schemaVersion, value]` in canonical CBOR. Loading an
 * entity written by an older schema runs the migrations v → v+1 → … →
 * current, one step at a time, and writes the result back; an entity written
 * by a newer schema than this code knows is refused and left as it is.
 */
export class CrdtDb {
  private readonly defs = new Map<string, EntityDef>();

  constructor(private readonly kv: KvStore) {}

  /** Declares an entity type and its migrations. Every step of the chain must be there. */
  define(def: EntityDef): this {
    checkName(def.type, "an entity type");
    if (!Number.isSafeInteger(def.version) || def.version < 1) throw invalidArgument(`${def.type}: the schema version is an integer from 1`);
    for (let v = 1; v < def.version; v++) {
      if (typeof def.migrations?.[v] !== "function") throw invalidArgument(`${def.type}: no migration from version ${v} to ${v + 1}`);
    }
    this.defs.set(def.type, def);
    return this;
  }

  private def(type: string): EntityDef {
    const d = this.defs.get(type);
    if (d === undefined) throw invalidArgument(`entity type ${JSON.stringify(type)} is not defined`);
    return d;
  }

  private key(type: string, id: string): string {
    return envelopeKey(type, id);
  }

  private envelope(def: EntityDef, version: number, value: Value): Uint8Array {
    return encodeCbor([ENVELOPE_FORMAT, def.type, version, valueToWire(value)]);
  }

  /** Saves an entity at the current schema version. */
  save(type: string, id: string, value: Value): void {
    const def = this.def(type);
    const v = copyValue(value);
    this.kv.batch([{ type: "put", key: this.key(type, id), value: this.envelope(def, def.version, v) }], [{ store: "entity", namespace: type, id, type: `${type}@${def.version}`, value: v }]);
  }

  /** Loads an entity as the current schema version, migrating (and writing back) older ones. */
  load(type: string, id: string): Value | undefined {
    const def = this.def(type);
    const key = this.key(type, id);
    const bytes = this.kv.get(key);
    if (bytes === undefined) return undefined;
    const { version, value } = this.open(def, key, bytes);
    if (version > def.version) {
      throw new LichenError("UNSUPPORTED_VERSION", `${type} ${id} was written by schema version ${version}; this code knows up to ${def.version}: upgrade it (the stored bytes are untouched)`);
    }
    if (version === def.version) return value;
    const migrated = this.migrate(def, id, version, value);
    this.kv.batch([{ type: "put", key, value: this.envelope(def, def.version, migrated) }], [{ store: "entity", namespace: type, id, type: `${type}@${def.version}`, value: migrated }]);
    return migrated;
  }

  /** Runs the migrations from `version` to the current one, one step at a time. */
  migrate(def: EntityDef, id: string, version: number, value: Value): Value {
    let v = value;
    for (let from = version; from < def.version; from++) {
      try {
        v = copyValue(def.migrations![from](v));
      } catch (e) {
        throw new LichenError("MIGRATION_FAILED", `${def.type} ${id}: migration ${from} → ${from + 1} failed: ${(e as Error).message}`);
      }
    }
    return v;
  }

  private open(def: EntityDef, key: string, bytes: Uint8Array): { version: number; value: Value } {
    let r: unknown;
    try {
      r = decodeCbor(bytes);
    } catch {
      r = undefined;
    }
    if (!Array.isArray(r) || r.length !== 4 || r[0] !== ENVELOPE_FORMAT || r[1] !== def.type || !Number.isSafeInteger(r[2]) || (r[2] as number) < 1) {
      if (Array.isArray(r) && typeof r[0] === "number" && r[0] > ENVELOPE_FORMAT) {
        throw new LichenError("UNSUPPORTED_VERSION", `${key} uses envelope format ${r[0]}; this code reads ${ENVELOPE_FORMAT}`);
      }
      throw new LichenError("CORRUPT", `${key} does not hold a ${def.type} envelope`);
    }
    try {
      return { version: r[2] as number, value: valueFromWire(r[3]) };
    } catch {
      throw new LichenError("CORRUPT", `${key}: the value in the envelope is unreadable`);
    }
  }

  /** The stored schema version of an entity, without migrating it. */
  storedVersion(type: string, id: string): number | undefined {
    const def = this.def(type);
    const key = this.key(type, id);
    const bytes = this.kv.get(key);
    return bytes === undefined ? undefined : this.open(def, key, bytes).version;
  }

  delete(type: string, id: string): void {
    this.def(type);
    this.kv.batch([{ type: "delete", key: this.key(type, id) }], [{ store: "entity", namespace: type, id, type, value: undefined }]);
  }

  /** The ids of a type, sorted. */
  list(type: string): string[] {
    this.def(type);
    return storedEnvelopes(this.kv, type).map(([, id]) => id);
  }
}
