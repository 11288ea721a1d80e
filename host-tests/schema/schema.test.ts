// Schemas: TOML, JSON and TypeScript give one normalized schema; errors name file, line, field;
// inferred types; migrations from defaults through CrdtDb (the over-the-air case).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter, LWWRegister, ORSet, Text } from "../../src/core/index.js";
import type { Value } from "../../src/core/value.js";
import { CrdtDb } from "../../src/store/crdt-db.js";
import { envelopeKey } from "../../src/store/keys.js";
import { MemoryKv } from "../../src/store/kv.js";
import {
  SchemaError,
  createEntity,
  crdt,
  crdtInitialBytes,
  defineEntities,
  defineEntity,
  defineSchema,
  loadEntity,
  migrationsOf,
  openEntity,
  plain,
  saveEntity,
  storeEntity,
  type InferEntity,
  type InferStored,
} from "../../src/schema/index.js";
import { parseSchema } from "../../src/schema/schema-file.js";
import { SENSOR_JSON, SENSOR_TOML, Sensor, SensorV1, Site } from "./fixtures.js";

const errorOf = (fn: () => unknown): SchemaError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error("expected a SchemaError");
};

test("TOML, JSON and TypeScript give the same normalized schema", () => {
  const fromToml = parseSchema(SENSOR_TOML, "crdt-schema.toml");
  const fromJson = parseSchema(SENSOR_JSON, "schema.json");
  assert.equal(fromToml, fromJson);
  assert.equal(fromToml, defineSchema(Sensor, Site));
  assert.equal(fromToml.entities.map((e) => e.name), ["Sensor", "Site"]);
  const s = fromToml.entities[0]!;
  assert.is(s.version, 2);
  assert.equal(s.fields.map((f) => `${f.name}@${f.since}`), ["name@1", "reading@1", "samples@1", "unit@2", "tags@2", "calibration@2"]);
  assert.equal(s.fields.find((f) => f.name === "calibration")!.default, Uint8Array.of(1, 2, 3));
  assert.equal(s.relations, [{ name: "site", to: "Site", kind: "one", doc: "where it is" }]);
});

test("schema errors name the file, the line and the field", () => {
  const bad = SENSOR_TOML.replace('{ name = "unit", type = "string", default = "celsius" }', '{ name = "unit", type = "string" }');
  let e = errorOf(() => parseSchema(bad, "crdt-schema.toml"));
  assert.is(e.format(), "crdt-schema.toml:17: Sensor.unit: added in version 2: needs a default for values stored by older versions");

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('type = "json"', 'type = "jsn"'), "s.toml"));
  assert.is(e.file, "s.toml");
  assert.is(e.line, 36);
  assert.is(e.subject, "Site.meta");
  assert.match(e.message, 'unknown type "jsn"');

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('default = ["indoor"]', "default = [1]"), "s.toml"));
  assert.is(e.format(), 's.toml:18: Sensor.tags: the default must be a string, not 1');

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('to = "Site"', 'to = "Plant"'), "s.toml"));
  assert.is(e.format(), "s.toml:24: Sensor.site: relation to Plant: no such entity");

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('{ name = "notes", crdt = "Text" }', '{ name = "title", crdt = "Text" }'), "s.toml"));
  assert.is(e.format(), "s.toml:35: Site.title: field title is declared twice");

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('crdt = "GCounter"', 'crdt = "GCountr"'), "s.toml"));
  assert.is(e.line, 11);
  assert.match(e.message, 'unknown crdt "GCountr"');

  e = errorOf(() => parseSchema(SENSOR_TOML.replace("version = 2", "version = 3"), "s.toml"));
  assert.is(e.line, 15);
  assert.is(e.subject, "Sensor");

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('{ name = "samples", crdt = "GCounter" }', '{ name = "samples", crdt = "GCounter", type = "number" }'), "s.toml"));
  assert.is(e.format(), 's.toml:11: Sensor.samples: a GCounter takes no element type (remove type = "number")');

  e = errorOf(() => parseSchema(SENSOR_TOML.replace('kind = "one"', 'kind = "one"\ncolour = "red"'), "s.toml"));
  assert.is(e.line, 26);
  assert.match(e.message, 'unknown key "colour"');

  // syntax errors: the parser's line
  e = errorOf(() => parseSchema('[[entity]]\nname = "A"\nversions = [\n', "s.toml"));
  assert.is(e.line, 4);
  assert.match(e.message, "TOML syntax");
  e = errorOf(() => parseSchema('{\n  "entities": [\n    { "name": "A", }\n  ]\n}\n', "s.json"));
  assert.is(e.file, "s.json");
  assert.is(e.line, 3);
  assert.match(e.message, "JSON syntax");

  // JSON semantic errors find the field's line too
  e = errorOf(() => parseSchema(SENSOR_JSON.replace('"default": "celsius"', '"default": 5'), "s.json"));
  assert.is(e.format(), "s.json:23: Sensor.unit: the default must be a string, not 5");

  // TypeScript definitions are validated the same way (no file)
  e = errorOf(() => defineEntity({ name: "Thing", versions: [{ fields: { a: plain.string() } }, { add: { b: { type: plain.number() } } }] }));
  assert.is(e.format(), "Thing.b: added in version 2: needs a default for values stored by older versions");
  e = errorOf(() => defineEntity({ name: "lower", versions: [{ fields: { a: plain.string() } }] }));
  assert.match(e.message, "capital letter");
});

test("inferred types: live CRDTs and stored bytes", () => {
  type S = InferEntity<typeof Sensor>;
  type Stored = InferStored<typeof Sensor>;
  const live: S = createEntity(Sensor, { name: "t1", unit: "kelvin", calibration: Uint8Array.of(9) }, "node-1");
  live.reading.set(21.5);
  live.samples.increment();
  live.tags.add("outdoor");
  const r: number | undefined = live.reading.get();
  const u: string = live.unit;
  const stored: Stored = storeEntity(Sensor, live);
  const b: Uint8Array = stored.reading;
  // @ts-expect-error a register of numbers takes no string
  if (r === 0) live.reading.set("x");
  // @ts-expect-error no such field
  if (r === 0) void live.missing;
  // @ts-expect-error unit is a string
  if (r === 0) void ((live.unit as number) + 1);
  assert.is(u, "kelvin");
  assert.ok(b instanceof Uint8Array);
  const again = openEntity(Sensor, stored as unknown as Value, "node-1");
  assert.is(again.reading.get(), 21.5);
  assert.is(again.samples.value(), 1);
  assert.equal([...again.tags.value()].sort(), ["outdoor"]);
  assert.ok(again.reading instanceof LWWRegister && again.samples instanceof GCounter && again.tags instanceof ORSet);
  const site = createEntity(Site, { meta: { floor: 2 } }, "gw");
  const t: Text = site.notes;
  t.insert(0, "hello");
  assert.is(openEntity(Site, storeEntity(Site, site) as unknown as Value, "gw").notes.toString(), "hello");
});

test("CRDT defaults: deterministic bytes that any real write wins over", () => {
  const a = crdtInitialBytes({ kind: "crdt", crdt: "LWWRegister", of: "string" }, "celsius");
  const b = crdtInitialBytes({ kind: "crdt", crdt: "LWWRegister", of: "string" }, "celsius");
  assert.equal(a, b);
  const reg = LWWRegister.fromBytes<string>(a, "n1");
  assert.is(reg.get(), "celsius");
  reg.set("kelvin");
  const other = LWWRegister.fromBytes<string>(b, "n2");
  other.merge(reg);
  assert.is(other.get(), "kelvin");
  const m1 = migrationsOf(Sensor)[1]!({ name: "x", reading: a, samples: a });
  const m2 = migrationsOf(Sensor)[1]!({ name: "x", reading: a, samples: a });
  assert.equal(m1, m2);
});

test("over the air: v1 data read by v2 code gets the defaults, deterministically, written back", () => {
  const kvA = new MemoryKv();
  const kvB = new MemoryKv();
  for (const kv of [kvA, kvB]) {
    // the node runs v1 code and stores a sensor
    const v1 = defineEntities(new CrdtDb(kv), [SensorV1]);
    const s = createEntity(SensorV1, { name: "porch" }, "node-1", {});
    s.reading.set(7);
    s.samples.incrementBy(3);
    v1.save("Sensor", "s1", { name: s.name, reading: s.reading.toBytes(), samples: s.samples.toBytes() });
    assert.is(v1.storedVersion("Sensor", "s1"), 1);
  }
  // the same stored bytes on both (a fixed clock is not needed for this: copy A's bytes to B)
  kvB.put(envelopeKey("Sensor", "s1"), kvA.get(envelopeKey("Sensor", "s1"))!);
  // after the update the node runs v2 code over the same storage
  const results = [kvA, kvB].map((kv) => {
    const db = defineEntities(new CrdtDb(kv), defineSchema(Sensor, Site));
    const live = loadEntity(db, Sensor, "s1", "node-1")!;
    assert.is(live.name, "porch");
    assert.is(live.reading.get(), 7);
    assert.is(live.samples.value(), 3);
    assert.is(live.unit, "celsius");
    assert.equal([...live.tags.value()], ["indoor"]);
    assert.equal(live.calibration, Uint8Array.of(1, 2, 3));
    assert.is(db.storedVersion("Sensor", "s1"), 2); // written back
    live.tags.add("porch");
    return kv.get(envelopeKey("Sensor", "s1"))!;
  });
  assert.equal(results[0], results[1]); // two nodes migrating the same bytes store the same bytes
  // and saving a live entity back works at v2
  const db = defineEntities(new CrdtDb(kvA), [Sensor, Site]);
  const live = loadEntity(db, Sensor, "s1", "node-1")!;
  live.tags.add("porch");
  saveEntity(db, Sensor, "s1", live);
  assert.equal([...loadEntity(db, Sensor, "s1", "node-1")!.tags.value()].sort(), ["indoor", "porch"]);
});

test("a TypeScript definition with crdt helpers of every kind", () => {
  const All = defineEntity({
    name: "All",
    versions: [
      { fields: { a: crdt.mvRegister(plain.json()), b: crdt.pnCounter(), c: crdt.gSet(plain.number()), d: crdt.twoPSet(plain.string()), e: crdt.lwwMap(plain.boolean()) } },
      { add: { f: { type: crdt.pnCounter(), default: -4 }, g: { type: crdt.lwwMap(plain.number()), default: { x: 1 } }, h: { type: crdt.text(), default: "hi" }, i: { type: plain.json(), default: { k: [1, null] } } } },
    ],
  });
  const migrated = migrationsOf(All)[1]!({}) as { readonly [k: string]: Value };
  const live = openEntity(All, migrated, "r");
  assert.is(live.f.value(), -4);
  assert.is(live.g.get("x"), 1);
  assert.is(live.h.toString(), "hi");
  assert.equal(live.i, { k: [1, null] });
  live.e.set("on", true);
  live.b.decrement();
  assert.is(live.b.value(), -1);
});

test.run();
