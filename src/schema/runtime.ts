// Entities at run time: the stored value (a plain object whose CRDT fields hold the CRDT's
// bytes, so it fits CrdtDb's envelopes), the migrations generated from the defaults, and
// opening an entity as live CRDT instances for a replica.
import { GCounter, PNCounter } from "../core/counters.js";
import type { Crdt, CrdtOptions } from "../core/crdt.js";
import { invalidArgument } from "../core/errors.js";
import { Hlc } from "../core/hlc.js";
import { LWWRegister } from "../core/lww-register.js";
import { LWWMap } from "../core/maps.js";
import { MVRegister } from "../core/mv-register.js";
import { GSet, ORSet, TwoPSet } from "../core/sets.js";
import { Text } from "../core/text.js";
import { copyValue, type Value } from "../core/value.js";
import type { EntityDef, Migration } from "../store/crdt-db.js";
import type { CrdtKind, CrdtType, InferEntity, InferStored, NormalizedEntity, NormalizedField, NormalizedSchema } from "./model.js";

/** The replica id that writes CRDT defaults. Every replica writes the same event, so migrating on two replicas gives the same bytes, and any real write wins over a default. */
export const SCHEMA_REPLICA = "lichen-schema";

interface CrdtStatic {
  new (replica: string, options?: CrdtOptions): Crdt;
  fromBytes(bytes: Uint8Array, replica?: string, options?: CrdtOptions): Crdt;
}

/** The class of a CRDT kind. */
export function crdtClass(kind: CrdtKind): CrdtStatic {
  switch (kind) {
    case "LWWRegister":
      return LWWRegister;
    case "MVRegister":
      return MVRegister;
    case "GCounter":
      return GCounter;
    case "PNCounter":
      return PNCounter;
    case "GSet":
      return GSet;
    case "TwoPSet":
      return TwoPSet;
    case "ORSet":
      return ORSet;
    case "LWWMap":
      return LWWMap;
    case "Text":
      return Text;
  }
}

/**
 * The stored bytes of a CRDT field holding `initial` (or empty), written by SCHEMA_REPLICA on a
 * Lamport clock that starts at 0: deterministic, the same bytes on every engine.
 */
export function crdtInitialBytes(type: CrdtType, initial?: Value): Uint8Array {
  const clock = new Hlc({ wallClock: () => 0 });
  const r = new (crdtClass(type.crdt))(SCHEMA_REPLICA, { clock });
  if (initial !== undefined) {
    switch (type.crdt) {
      case "LWWRegister":
        (r as LWWRegister).set(initial);
        break;
      case "MVRegister":
        (r as MVRegister).set(initial);
        break;
      case "GCounter":
        if ((initial as number) > 0) (r as GCounter).incrementBy(initial as number);
        break;
      case "PNCounter":
        if ((initial as number) > 0) (r as PNCounter).incrementBy(initial as number);
        else if ((initial as number) < 0) (r as PNCounter).decrementBy(-(initial as number));
        break;
      case "GSet":
      case "TwoPSet":
      case "ORSet":
        for (const x of initial as readonly Value[]) (r as GSet).add(x);
        break;
      case "LWWMap":
        for (const k of Object.keys(initial as object).sort()) (r as LWWMap).set(k, (initial as { [k: string]: Value })[k]!);
        break;
      case "Text":
        if ((initial as string).length > 0) (r as Text).insert(0, initial as string);
        break;
    }
  }
  return r.toBytes();
}

/** The value a field added by a later version gets in older stored values. */
export function storedDefault(field: NormalizedField): Value {
  if (field.type.kind === "crdt") return crdtInitialBytes(field.type, field.default);
  if (field.default === undefined) throw invalidArgument(`field ${field.name} has no default`);
  return copyValue(field.default);
}

/** The fields of a version (those added up to and including it). */
export function fieldsAt(entity: NormalizedEntity, version: number): readonly NormalizedField[] {
  return entity.fields.filter((f) => f.since <= version);
}

/**
 * The migrations of an entity: `migrations[v]` adds the fields of version v + 1 with their
 * defaults (a field already there is kept). Deterministic: same input, same output.
 */
export function migrationsOf(entity: NormalizedEntity): { readonly [from: number]: Migration } {
  const out: { [from: number]: Migration } = {};
  for (let v = 1; v < entity.version; v++) {
    const added = entity.fields.filter((f) => f.since === v + 1).map((f) => [f.name, storedDefault(f)] as const);
    out[v] = (value: Value): Value => {
      if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) throw invalidArgument(`${entity.name} v${v}: the stored value is not an object`);
      const next: { [k: string]: Value } = {};
      for (const k of Object.keys(value)) Object.defineProperty(next, k, { value: (value as { [k: string]: Value })[k], enumerable: true });
      for (const [k, d] of added) if (!Object.prototype.hasOwnProperty.call(next, k)) Object.defineProperty(next, k, { value: d, enumerable: true });
      return next;
    };
  }
  return Object.freeze(out);
}

/** The CrdtDb type of an entity: its table (crdt-kit's `table`), or else its name. */
export function entityType(entity: NormalizedEntity): string {
  return entity.table ?? entity.name;
}

/** The CrdtDb definition of an entity: its type, its version, its migrations. */
export function entityDef(entity: NormalizedEntity): EntityDef {
  return { type: entityType(entity), version: entity.version, migrations: migrationsOf(entity) };
}

/** Defines every entity of a schema (or a list of entities) in a CrdtDb. */
export function defineEntities<D extends { define(def: EntityDef): unknown }>(db: D, entities: NormalizedSchema | readonly NormalizedEntity[]): D {
  for (const e of "entities" in entities ? entities.entities : entities) db.define(entityDef(e));
  return db;
}

/** Opens a stored value as the replica's live entity: plain values, and CRDT instances from their bytes (a missing CRDT field opens empty). */
export function openEntity<E extends NormalizedEntity>(entity: E, stored: Value, replica: string, options?: CrdtOptions): InferEntity<E> {
  if (typeof stored !== "object" || stored === null || Array.isArray(stored) || stored instanceof Uint8Array) throw invalidArgument(`${entity.name}: the stored value is not an object`);
  const s = stored as { readonly [k: string]: Value };
  const out: { [k: string]: unknown } = {};
  for (const f of entity.fields) {
    const v = Object.prototype.hasOwnProperty.call(s, f.name) ? s[f.name] : undefined;
    if (f.type.kind === "plain") out[f.name] = v;
    else {
      const cls = crdtClass(f.type.crdt);
      if (v !== undefined && !(v instanceof Uint8Array)) throw invalidArgument(`${entity.name}.${f.name}: a ${f.type.crdt} field holds bytes`);
      out[f.name] = v === undefined ? new cls(replica, options) : cls.fromBytes(v, replica, options);
    }
  }
  return out as InferEntity<E>;
}

/** A new live entity: the given plain values, and empty CRDTs for the CRDT fields not given. */
export function createEntity<E extends NormalizedEntity>(entity: E, values: Partial<InferEntity<E>>, replica: string, options?: CrdtOptions): InferEntity<E> {
  const out: { [k: string]: unknown } = {};
  const vals = values as { [k: string]: unknown };
  for (const f of entity.fields) {
    if (Object.prototype.hasOwnProperty.call(vals, f.name)) out[f.name] = vals[f.name];
    else if (f.type.kind === "crdt") out[f.name] = new (crdtClass(f.type.crdt))(replica, options);
  }
  return out as InferEntity<E>;
}

/** The stored value of a live entity: plain values as they are, CRDTs as `toBytes()`. */
export function storeEntity<E extends NormalizedEntity>(entity: E, live: InferEntity<E>): InferStored<E> {
  const l = live as { [k: string]: unknown };
  const out: { [k: string]: Value } = {};
  for (const f of entity.fields) {
    const v = l[f.name];
    if (v === undefined) {
      if (f.type.kind === "plain") throw invalidArgument(`${entity.name}.${f.name}: missing`);
      continue;
    }
    if (f.type.kind === "crdt") {
      if (!(v instanceof crdtClass(f.type.crdt))) throw invalidArgument(`${entity.name}.${f.name}: expected a ${f.type.crdt}`);
      out[f.name] = (v as Crdt).toBytes();
    } else out[f.name] = copyValue(v);
  }
  return copyValue(out) as unknown as InferStored<E>;
}

/** Loads an entity from a CrdtDb (migrating it) and opens it for the replica; undefined if absent. */
export function loadEntity<E extends NormalizedEntity>(db: { load(type: string, id: string): Value | undefined }, entity: E, id: string, replica: string, options?: CrdtOptions): InferEntity<E> | undefined {
  const v = db.load(entityType(entity), id);
  return v === undefined ? undefined : openEntity(entity, v, replica, options);
}

/** Saves a live entity into a CrdtDb at the current version. */
export function saveEntity<E extends NormalizedEntity>(db: { save(type: string, id: string, value: Value): void }, entity: E, id: string, live: InferEntity<E>): void {
  db.save(entityType(entity), id, storeEntity(entity, live) as unknown as Value);
}
