// crdt-kit's own crdt-schema.toml (crdt-kit/crdt-schema.toml, copied from crdt-kit with its
// license) read as it is by parseSchema and `lichen generate`: [config] output, table, Rust types
// and defaults, relation; the generated code compiles and migrates a v1 Task to v2; what lichen
// cannot honour is a SchemaError naming the file, the line and the field.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryKv } from "../../src/store/kv.js";
import { parseRustType, rustDefault, SchemaError, wrappedTs } from "../../src/schema/index.js";
import { parseSchema } from "../../src/schema/schema-file.js";
import { runGenerate } from "../../targets/rpi/generate.js";
import { LICHEN_CLI } from "../gateway/helpers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./crdt-kit/crdt-schema.toml", import.meta.url));
const KIT = readFileSync(FIXTURE, "utf8");
const DIR = mkdtempSync(join(tmpdir(), "lichen-crdt-kit-"));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

test.after(() => rmSync(DIR, { recursive: true, force: true }));

const errorOf = (fn: () => unknown): SchemaError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SchemaError) return e;
    throw e;
  }
  throw new Error("expected a SchemaError");
};

test("crdt-kit's example schema: tables, Rust types, defaults, relation, [config] output", () => {
  const s = parseSchema(KIT, "crdt-schema.toml");
  assert.is(s.output, "src/persistence");
  assert.equal(s.entities.map((e) => [e.name, e.table, e.version]), [
    ["Project", "projects", 1],
    ["Task", "tasks", 2],
  ]);
  const project = s.entities[0]!;
  assert.equal(project.fields.map((f) => [f.name, f.type]), [
    ["name", { kind: "crdt", crdt: "LWWRegister", of: "string" }],
    ["members", { kind: "crdt", crdt: "ORSet", of: "string" }],
  ]);
  const task = s.entities[1]!;
  // version 2 repeats version 1's fields: only the new ones are added, each with its default
  assert.equal(task.fields.map((f) => `${f.name}@${f.since}`), ["title@1", "done@1", "priority@2", "tags@2", "project_id@2"]);
  const by = Object.fromEntries(task.fields.map((f) => [f.name, f]));
  assert.equal(by.title!.type, { kind: "plain", plain: "string", rust: "String" });
  assert.equal(by.done!.type, { kind: "plain", plain: "boolean", rust: "bool" });
  assert.equal(by.priority!.type, { kind: "plain", plain: "number", wrap: ["option"], rust: "u8" });
  assert.is(by.priority!.default, null);
  assert.equal(by.tags!.type, { kind: "plain", plain: "string", wrap: ["vec"], rust: "String" });
  assert.equal(by.tags!.default, []);
  assert.is(by.project_id!.default, "");
  assert.is(by.project_id!.relation, "Project");
});

test("Rust types and defaults: their TypeScript counterparts and values", () => {
  const ts = (t: string): string => {
    const r = parseRustType(t)!;
    return wrappedTs({ string: "string", number: "number", boolean: "boolean", bytes: "Uint8Array", json: "Value" }[r.plain], r.wrap);
  };
  assert.is(ts("String"), "string");
  for (const n of ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64"]) assert.is(ts(n), "number", n);
  assert.is(ts("bool"), "boolean");
  assert.is(ts("Option<u8>"), "number | null");
  assert.is(ts("Vec<String>"), "string[]");
  assert.is(ts("Vec<Option<f32>>"), "(number | null)[]");
  assert.is(ts("Option<Vec<String>>"), "string[] | null");
  for (const bad of ["HashMap<String, String>", "u128", "usize", "char", "Option<>", "string"]) assert.is(parseRustType(bad), undefined, bad);

  const d = (expr: string, type: string) => rustDefault(expr, parseRustType(type)!, { entity: "T", field: "f" });
  assert.is(d("None", "Option<u8>"), null);
  assert.is(d("Some(3)", "Option<u8>"), 3);
  assert.is(d("String::new()", "String"), "");
  assert.is(d('"to do"', "String"), "to do");
  assert.is(d('"a\\"b".to_string()', "String"), 'a"b');
  assert.is(d('String::from("x")', "String"), "x");
  assert.equal(d("Vec::new()", "Vec<String>"), []);
  assert.equal(d('vec!["a", "b, c"]', "Vec<String>"), ["a", "b, c"]);
  assert.is(d("1_000u32", "u32"), 1000);
  assert.is(d("-1.5", "f32"), -1.5);
  assert.is(d("2.5e3f64", "f64"), 2500);
  assert.is(d("true", "bool"), true);
  assert.is(d("Default::default()", "u64"), 0);
  assert.is(d("Default::default()", "Option<String>"), null);
  assert.equal(d("Default::default()", "Vec<u8>"), []);
  for (const [expr, type, msg] of [
    ["300", "u8", "out of range for u8"],
    ["-1", "u64", "out of range for u64"],
    ["9007199254740993", "u64", "an integer lichen keeps exactly"],
    ["1.5", "i32", "an integer lichen keeps exactly"],
    ["5u16", "u8", "is a u16, not a u8"],
    ['Some("x")', "Option<u8>", "is not a number of type u8"],
    ["3", "Option<u8>", "is not a value of an Option"],
    ["HashSet::new()", "Vec<String>", "is not a value of a Vec"],
    ["name", "String", "is not a String"],
    ["yes", "bool", "is not a bool"],
  ] as const) {
    const e = errorOf(() => d(expr, type));
    assert.match(e.message, msg, `${expr} as ${type}`);
    assert.is(e.path.attribute, "default");
  }
});

test("what lichen cannot honour: a SchemaError with the file, the line and the field", () => {
  const cases: Array<[string, string, RegExp]> = [
    [KIT.replace('type = "Option<u8>"', 'type = "HashMap<String, u8>"'), "crdt-schema.toml:49: Task.priority: unsupported type `HashMap<String, u8>`", /crdt-kit's types are String, bool/],
    [KIT.replace('default = "None"', 'default = "7"'), "crdt-schema.toml:49: Task.priority: the default `7` is not a value of an Option", /lichen reads None/],
    [KIT.replace('{ name = "done", type = "bool" },\n    { name = "priority"', '{ name = "priority"'), "crdt-schema.toml:45: Task.done: version 2 drops field done", /only add fields/],
    [KIT.replace('crdt = "ORSet"', 'crdt = "Rga"'), "crdt-schema.toml:28: Project.members: unsupported CRDT `Rga`", /GCounter, PNCounter/],
    [KIT.replace('relation = "Project"', 'relation = "Team"'), "crdt-schema.toml:51: Task.project_id: relation to Team: no such entity", /./],
    [KIT.replace('table = "tasks"', 'table = "projects"'), "crdt-schema.toml:35: Task: entities Project and Task share the table projects", /./],
    [KIT.replace("snapshot_threshold = 100", "snapshot_threshold = 0"), "crdt-schema.toml:13: schema: [config.events] snapshot_threshold must be > 0", /./],
    [KIT.replace('output = "src/persistence"\n', ""), "crdt-schema.toml:1: schema: [config] output: the directory to generate into (a non-empty string)", /./],
    [KIT.replace('table = "tasks"\n', ""), "crdt-schema.toml:34: Task: table: the entity's storage namespace (a non-empty string)", /./],
  ];
  for (const [text, start, more] of cases) {
    const e = errorOf(() => parseSchema(text, "crdt-schema.toml"));
    assert.ok(e.format().startsWith(start), `${e.format()}\n  expected to start with\n${start}`);
    assert.match(e.message, more);
  }
  // the type of an existing field changes
  const e = errorOf(() => parseSchema(KIT.replace('{ name = "done", type = "bool" },\n    { name = "priority"', '{ name = "done", type = "u8" },\n    { name = "priority"'), "k.toml"));
  assert.is(e.format(), "k.toml:48: Task.done: version 2 changes the type of done (bool → u8): lichen's migrations only add fields");
});

test("lichen generate on crdt-kit's schema: into [config] output, compiling, a v1 Task read as v2", async () => {
  const crate = join(DIR, "crate");
  cpSync(join(ROOT, "host-tests/schema/crdt-kit"), crate, { recursive: true });
  const r = await runGenerate({ schema: join(crate, "crdt-schema.toml"), runtime: join(ROOT, "src") });
  const out = join(crate, "src/persistence");
  assert.is(r.out, out);
  assert.equal(r.written.map((p) => p.slice(out.length + 1)), ["Project.ts", "Task.ts", "index.ts"]);
  const task = readFileSync(join(out, "Task.ts"), "utf8");
  assert.match(task, 'export const taskType = "tasks";');
  assert.match(task, "  readonly priority: number | null;");
  assert.match(task, "  readonly tags: string[];");
  assert.match(task, "/** Rust: Option<u8> */");
  assert.match(task, "/** Rust: String. the id of a Project */");
  assert.match(task, 'priority: Object.prototype.hasOwnProperty.call(v, "priority") ? v.priority! : null,');
  writeFileSync(
    join(out, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", lib: ["ES2022"], types: [], strict: true, noEmit: true, skipLibCheck: true, verbatimModuleSyntax: true, isolatedModules: true }, include: ["*.ts"] }),
  );
  const tsc = spawnSync(process.execPath, [TSC, "-p", join(out, "tsconfig.json")], { encoding: "utf8" });
  assert.is(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);

  // a Task stored by version-1 code, read by the generated version-2 code: the defaults filled
  const gen = await import(pathToFileURL(join(out, "index.ts")).href);
  const kv = new MemoryKv();
  const { CrdtDb } = await import("../../src/store/crdt-db.js");
  new CrdtDb(kv).define({ type: "tasks", version: 1 }).save("tasks", "t1", { title: "water the plants", done: false });
  const db = gen.openDb(kv);
  assert.equal(db.load("tasks", "t1"), { done: false, priority: null, project_id: "", tags: [], title: "water the plants" });
  assert.is(db.storedVersion("tasks", "t1"), 2);

  // the command line: no --out, the schema's output
  rmSync(out, { recursive: true, force: true });
  const cli = spawnSync(process.execPath, [...LICHEN_CLI, "generate", "--schema", join(crate, "crdt-schema.toml")], { encoding: "utf8" });
  assert.is(cli.status, 0, cli.stderr);
  assert.is(cli.stdout.trim(), `wrote 3 of 3 files in ${out}`);
  assert.ok(existsSync(join(out, "Task.ts")));
  const bad = join(crate, "bad.toml");
  writeFileSync(bad, KIT.replace('type = "Vec<String>"', 'type = "Vec<char>"'));
  const err = spawnSync(process.execPath, [...LICHEN_CLI, "generate", "--schema", bad], { encoding: "utf8" });
  assert.is(err.status, 1);
  assert.match(err.stderr, `lichen: ${bad}:50: Task.tags: unsupported type \`Vec<char>\``);
});

test.run();
