// The entity schema: field types (plain or CRDT-wrapped), versions with defaults for added
// fields, relations (documentation only), and the normalized form that the TypeScript
// definitions and the schema files (TOML, JSON) both produce. Device-safe: no Node APIs, no
// module-scope mutable state.
import type { GCounter, GSet, LWWMap, LWWRegister, MVRegister, ORSet, PNCounter, Text, TwoPSet } from "../core/index.js";
import type { Value } from "../core/value.js";

export const PLAIN_KINDS = Object.freeze(["string", "number", "boolean", "bytes", "json"] as const);
export type PlainKind = (typeof PLAIN_KINDS)[number];

export const CRDT_KINDS = Object.freeze(["LWWRegister", "MVRegister", "GCounter", "PNCounter", "GSet", "TwoPSet", "ORSet", "LWWMap", "Text"] as const);
export type CrdtKind = (typeof CRDT_KINDS)[number];
/** The CRDT kinds that wrap an element type; the others (counters, Text) take none. */
export const CRDT_WITH_ELEMENT: readonly CrdtKind[] = Object.freeze(["LWWRegister", "MVRegister", "GSet", "TwoPSet", "ORSet", "LWWMap"] as CrdtKind[]);

interface PlainTypes {
  string: string;
  number: number;
  boolean: boolean;
  bytes: Uint8Array;
  json: Value;
}

/** crdt-kit's wrappers of a Rust type, outermost first: `Option<Vec<String>>` is ["option", "vec"]. */
export type Wrapper = "option" | "vec";

/** A plain field type; `T` is its TypeScript type (phantom). */
export interface PlainType<K extends PlainKind = PlainKind> {
  readonly kind: "plain";
  readonly plain: K;
  /**
   * Schema files in crdt-kit's dialect only: `Option<T>` (null when absent) and `Vec<T>` (an
   * array) around the plain type, outermost first. Absent: the plain type itself.
   */
  readonly wrap?: readonly Wrapper[];
  /** crdt-kit's dialect only: the Rust type it was declared as ("u8", "f32", ...), which bounds its numbers. */
  readonly rust?: string;
}

/** A CRDT field type, wrapping an element type for registers, sets and maps. */
export interface CrdtType<K extends CrdtKind = CrdtKind, E extends PlainKind | undefined = PlainKind | undefined> {
  readonly kind: "crdt";
  readonly crdt: K;
  readonly of: E;
}

export type FieldType = PlainType | CrdtType;

const p = <K extends PlainKind>(k: K): PlainType<K> => Object.freeze({ kind: "plain", plain: k });
const c = <K extends CrdtKind, E extends PlainKind | undefined>(k: K, of: E): CrdtType<K, E> => Object.freeze({ kind: "crdt", crdt: k, of });

/** Plain field types: stored as they are. */
export const plain = Object.freeze({
  string: () => p("string"),
  number: () => p("number"),
  boolean: () => p("boolean"),
  bytes: () => p("bytes"),
  json: () => p("json"),
});

/** CRDT field types: stored as the CRDT's bytes (`toBytes()`), opened as live replicas. */
export const crdt = Object.freeze({
  lwwRegister: <K extends PlainKind>(of: PlainType<K>) => c("LWWRegister", of.plain),
  mvRegister: <K extends PlainKind>(of: PlainType<K>) => c("MVRegister", of.plain),
  gCounter: () => c("GCounter", undefined),
  pnCounter: () => c("PNCounter", undefined),
  gSet: <K extends PlainKind>(of: PlainType<K>) => c("GSet", of.plain),
  twoPSet: <K extends PlainKind>(of: PlainType<K>) => c("TwoPSet", of.plain),
  orSet: <K extends PlainKind>(of: PlainType<K>) => c("ORSet", of.plain),
  lwwMap: <K extends PlainKind>(of: PlainType<K>) => c("LWWMap", of.plain),
  text: () => c("Text", undefined),
});

// ---- type inference ----

type El<E> = E extends PlainKind ? PlainTypes[E] : never;

/** The value a field's default takes: the plain value, or the CRDT's initial content. */
export type DefaultOf<F> = F extends PlainType<infer K>
  ? PlainTypes[K]
  : F extends CrdtType<infer K, infer E>
    ? K extends "LWWRegister" | "MVRegister"
      ? El<E>
      : K extends "GCounter" | "PNCounter"
        ? number
        : K extends "GSet" | "TwoPSet" | "ORSet"
          ? readonly El<E>[]
          : K extends "LWWMap"
            ? { readonly [key: string]: El<E> }
            : K extends "Text"
              ? string
              : never
    : never;

/** How a field is stored: the plain value, or the CRDT's bytes. */
export type StoredOf<F> = F extends PlainType<infer K> ? PlainTypes[K] : F extends CrdtType ? Uint8Array : never;

/** A field opened for a replica: the plain value, or a live CRDT instance. */
export type LiveOf<F> = F extends PlainType<infer K>
  ? PlainTypes[K]
  : F extends CrdtType<infer K, infer E>
    ? K extends "LWWRegister"
      ? LWWRegister<El<E>>
      : K extends "MVRegister"
        ? MVRegister<El<E>>
        : K extends "GCounter"
          ? GCounter
          : K extends "PNCounter"
            ? PNCounter
            : K extends "GSet"
              ? GSet<El<E>>
              : K extends "TwoPSet"
                ? TwoPSet<El<E>>
                : K extends "ORSet"
                  ? ORSet<El<E>>
                  : K extends "LWWMap"
                    ? LWWMap<El<E>>
                    : K extends "Text"
                      ? Text
                      : never
    : never;

/** A field added in a later version, with the default that older stored values get. */
export interface AddedField<F extends FieldType = FieldType> {
  readonly type: F;
  readonly default?: DefaultOf<F>;
  readonly doc?: string;
}

export interface RelationInput {
  readonly to: string;
  readonly kind?: "one" | "many";
  readonly doc?: string;
}

export interface EntityInput {
  readonly name: string;
  readonly doc?: string;
  readonly versions: readonly [{ readonly fields: { readonly [name: string]: FieldType } }, ...{ readonly add: { readonly [name: string]: AddedField } }[]];
  readonly relations?: { readonly [name: string]: RelationInput };
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type AddsOf<V> = V extends { readonly add: infer A } ? { [K in keyof A]: A[K] extends { readonly type: infer T } ? T : never } : never;
type Simplify<T> = { -readonly [K in keyof T]: T[K] } & {};

/** Every field of the current version, name → FieldType. */
export type FieldsOf<D extends EntityInput> = Simplify<D["versions"][0]["fields"] & UnionToIntersection<AddsOf<D["versions"][number]> | {}>>;

/** An entity as opened for a replica: plain values and live CRDT instances. */
export type InferEntity<E> = E extends Entity<infer D> ? Simplify<{ [K in keyof FieldsOf<D>]: LiveOf<FieldsOf<D>[K]> }> : never;
/** An entity as CrdtDb stores it: plain values and CRDT bytes. */
export type InferStored<E> = E extends Entity<infer D> ? Simplify<{ [K in keyof FieldsOf<D>]: StoredOf<FieldsOf<D>[K]> }> : never;

// ---- the normalized schema ----

export interface NormalizedField {
  readonly name: string;
  readonly type: FieldType;
  /** The version that added the field (1: there from the start). */
  readonly since: number;
  /** The default for older values (fields added after version 1). Plain JSON-like data, bytes as Uint8Array. */
  readonly default?: Value;
  readonly doc?: string;
  /** The entity whose id this field holds (crdt-kit's `relation`): documentation and generated comments. */
  readonly relation?: string;
  /** A field of an LWWMap document: the map's key when it differs from the name ("threshold.temperature"). */
  readonly key?: string;
}

/**
 * What a synced document is: the CRDT the sync engine holds under `<table>/<id>`. An LWWMap
 * document's fields are its keys (plain values, versions adding keys with defaults); any other
 * kind has no fields, and `of` is its element type where it takes one (ORSet of strings).
 */
export interface DocumentKind {
  readonly crdt: CrdtKind;
  readonly of?: PlainKind;
}

export interface NormalizedRelation {
  readonly name: string;
  readonly to: string;
  readonly kind: "one" | "many";
  readonly doc?: string;
}

export interface NormalizedEntity {
  readonly name: string;
  /**
   * Where its values live (crdt-kit's `table`): the CrdtDb type and the SQL mirror's namespace.
   * Absent: the entity's name.
   */
  readonly table?: string;
  /**
   * Set for a synced document (`document = "LWWMap"` in a file): the CRDT it is, synced by the
   * engine under `<table>/<id>` with its schema version in every delta's header. Absent: an
   * entity stored in CrdtDb.
   */
  readonly document?: DocumentKind;
  readonly doc?: string;
  /** The current version: the number of versions. */
  readonly version: number;
  /** The fields in declaration order (version by version). */
  readonly fields: readonly NormalizedField[];
  /** Sorted by name. */
  readonly relations: readonly NormalizedRelation[];
}

export interface NormalizedSchema {
  /** Sorted by name. */
  readonly entities: readonly NormalizedEntity[];
  /** crdt-kit's `[config] output`: where `lichen generate` writes, relative to the schema file, unless --out says. */
  readonly output?: string;
}

/** An entity defined in TypeScript: its normalized form, carrying the input's types. */
export interface Entity<D extends EntityInput = EntityInput> extends NormalizedEntity {
  /** Phantom: the definition's type, for InferEntity / InferStored. */
  readonly __input?: D;
}

/** Where a schema problem is: the entity, the version (1-based), the field or relation, the attribute. */
export interface SchemaPath {
  readonly entity?: string;
  readonly entityIndex?: number;
  readonly version?: number;
  readonly field?: string;
  readonly attribute?: string;
  /** The field's name occurs this many times up to the problem (a duplicate: 2). */
  readonly occurrence?: number;
}

export class SchemaError extends Error {
  constructor(
    message: string,
    readonly path: SchemaPath,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = "SchemaError";
  }

  /** The field part of `file:line: field: message`: "Sensor.unit", "Sensor", "entity 2". */
  get subject(): string {
    const e = this.path.entity ?? (this.path.entityIndex !== undefined ? `entity ${this.path.entityIndex + 1}` : "schema");
    return this.path.field !== undefined ? `${e}.${this.path.field}` : e;
  }

  /** `file:line: field: message` */
  format(): string {
    const where = this.file !== undefined ? `${this.file}:${this.line ?? 1}: ` : "";
    return `${where}${this.subject}: ${this.message}`;
  }
}
