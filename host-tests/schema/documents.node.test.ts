// Synced documents in a schema: the firmware's documents.toml and the version-2 fixture generate
// exactly the checked-in documents.ts (so the firmware and the gateway run generated code), the
// document forms are validated, and a document module is one file importing the core alone.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SchemaError, generate } from "../../src/schema/index.js";
import { parseSchema } from "../../src/schema/schema-file.js";
import { runGenerate } from "../../targets/rpi/generate.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const errorOf = (fn: () => unknown): SchemaError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error("expected a SchemaError");
};

test("the checked-in documents.ts are what lichen generate writes from their schemas", async () => {
  for (const [schema, out, runtime] of [
    ["targets/esp32/documents.toml", "targets/esp32", "../../src"],
    ["host-tests/transport/documents-v2/documents.toml", "host-tests/transport/documents-v2", "../../../src"],
  ] as const) {
    // --check: writes nothing, throws if a file would change
    const r = await runGenerate({ schema: join(ROOT, schema), out: join(ROOT, out), runtime, check: true });
    assert.equal(r.written, [], `${out}/documents.ts is out of date: run lichen generate --schema ${schema} --out ${out} --runtime ${runtime}`);
    assert.equal(r.unchanged, [join(ROOT, out, "documents.ts")]);
  }
  const fw = parseSchema(readFileSync(join(ROOT, "targets/esp32/documents.toml"), "utf8"), "documents.toml");
  assert.equal(
    fw.entities.map((e) => [e.name, e.table, e.document, e.version]),
    [
      ["Alarms", "alarms", { crdt: "ORSet", of: "string" }, 1],
      ["Events", "events", { crdt: "PNCounter" }, 1],
      ["FleetConfig", "fleet", { crdt: "LWWMap" }, 1],
      ["Readings", "readings", { crdt: "LWWMap" }, 1],
    ],
  );
  // the firmware's module imports the core alone (the device build maps it to the library's modules)
  const [file] = generate(fw, { runtime: "../../src" });
  assert.is(file!.path, "documents.ts");
  const imports = file!.contents.split("\n").filter((l) => l.startsWith("import "));
  assert.equal(imports, [
    'import { LWWMap, ORSet, PNCounter } from "../../src/core/index.js";',
    'import type { Value } from "../../src/core/index.js";',
    'import type { SyncEngine } from "../../src/transport/sync-engine.js";',
  ]);
});

test("document forms: errors name the line and the field", () => {
  const doc = (extra: string, fields = '{ name = "t", type = "number" }') => `[[entity]]\nname = "R"\ntable = "r"\n${extra}\n\n[[entity.versions]]\nversion = 1\nfields = [\n  ${fields},\n]\n`;
  const cases: Array<[string, string]> = [
    [doc('document = "LWWMapp"'), 's.toml:4: R: unknown document "LWWMapp"'],
    [doc('document = "LWWMap"\ntype = "number"'), "s.toml:5: R: an LWWMap document's fields give its types: no type at the entity level"],
    [doc('document = "LWWMap"', '{ name = "t", type = "number", crdt = "GCounter" }'), "s.toml:9: R.t: a GCounter takes no element type"],
    [doc('document = "LWWMap"', '{ name = "t", crdt = "GCounter" }'), "s.toml:9: R.t: a field of an LWWMap document is one of its keys: a plain value, not a CRDT"],
    [doc('document = "LWWMap"', '{ name = "a", type = "number", key = "x" },\n  { name = "b", type = "number", key = "x" }'), 's.toml:10: R.b: the key "x" is declared twice'],
    [doc('document = "ORSet"'), "s.toml:4: R: a document of ORSet needs its element type: type = one of string, number, boolean, bytes, json"],
    [doc('document = "PNCounter"'), "s.toml:8: R: a PNCounter document has no fields (only an LWWMap document's keys are fields)"],
    [doc('type = "string"'), "s.toml:4: R: type at the entity level is a document's element type: give document = ... too"],
    [doc("", '{ name = "t", type = "number", key = "k" }'), 's.toml:9: R.t: unknown key "key" in a field'],
  ];
  for (const [text, start] of cases) {
    const e = errorOf(() => parseSchema(text, "s.toml"));
    assert.ok(e.format().startsWith(start), `${e.format()}\n  expected to start with\n${start}`);
  }
  // a counter or a set needs no versions at all
  const s = parseSchema('[[entity]]\nname = "E"\ndocument = "GCounter"\n', "s.toml");
  assert.equal(s.entities[0], { name: "E", document: { crdt: "GCounter" }, version: 1, fields: [], relations: [] });
});

test.run();
