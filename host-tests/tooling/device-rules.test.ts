import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PATIENCE_MS } from "../patience.js";
import {
  RULES,
  checkDeviceRules,
  checkSource,
  runDeviceRules,
  type RuleId,
  type Violation,
} from "../../scripts/check-device-rules.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/check-device-rules.ts", import.meta.url));

function check(code: string, fileName = "src/core/sample.ts"): Violation[] {
  return checkSource(code, fileName);
}

function describe(vs: Violation[]): string {
  return vs.length === 0 ? "(none)" : vs.map((v) => `${v.line}:${v.column} ${v.rule} ${v.message}`).join("\n");
}

/** Asserts that exactly `rule` fires at `line` (1-based, in the TypeScript source), among possibly others. */
function assertFires(code: string, rule: RuleId, line: number, fileName?: string): Violation {
  const vs = check(code, fileName);
  const hit = vs.find((v) => v.rule === rule && v.line === line);
  assert.ok(hit, `expected ${rule} at line ${line}, got:\n${describe(vs)}`);
  return hit as Violation;
}

function assertClean(code: string, fileName?: string): void {
  const vs = check(code, fileName);
  assert.equal(vs.length, 0, `expected no violations, got:\n${describe(vs)}`);
}

// --- rule 1: mutable module state -------------------------------------------

test("module-scope let fires (plain and exported)", () => {
  assertFires("let count = 0;\nexport function get() { return count; }\n", "module-state", 1);
  const v = assertFires("export const a = 1;\nexport let b = 2;\n", "module-state", 2);
  assert.match(v.message, /`let` declaration of b/);
});

test("module-scope var fires, also inside a top-level block and as a TS enum", () => {
  assertFires("var x = 1;\nexport { x };\n", "module-state", 1);
  assertFires("if (true) {\n  var y = 1;\n}\n", "module-state", 2);
  const v = assertFires("export enum Color { Red, Green }\n", "module-state", 1);
  assert.match(v.message, /enum/);
});

test("module-scope assignments and updates fire", () => {
  assertFires("export const table = { a: 1 };\ntable.a = 2;\n", "module-state", 2);
  assertFires("export const list: number[] = [];\nlist[0] = 1;\n", "module-state", 2);
  assertFires("let n = 0;\nn++;\n", "module-state", 2);
  assertFires("export const o = { a: 1 } as { a?: number };\ndelete o.a;\n", "module-state", 2);
  assertFires("export const t = { a: 1 };\n(() => { t.a = 3; })();\n", "module-state", 2);
});

// --- rule 2: instances created at load time ---------------------------------

test("top-level new Map() fires", () => {
  const v = assertFires("export const registry = new Map<string, number>();\n", "module-instance", 1);
  assert.is(v.column, 25);
  assert.match(v.message, /Map/);
});

test("Object.freeze(new Set()) fires", () => {
  assertFires("export const EMPTY = Object.freeze(new Set<string>());\n", "module-instance", 1);
});

test("new Uint8Array(4) nested in an object literal fires", () => {
  assertFires("export const CONFIG = Object.freeze({\n  name: \"x\",\n  nested: { buf: new Uint8Array(4) },\n});\n", "module-instance", 3);
});

test("static class field new Map() and static blocks fire", () => {
  assertFires("export class Cache {\n  static m = new Map();\n}\n", "module-instance", 2);
  assertFires("export class Cache {\n  static {\n    const s = new WeakMap();\n    void s;\n  }\n}\n", "module-instance", 3);
});

test("new Date(), Float64Array.from, ArrayBuffer, DataView at module scope fire", () => {
  assertFires("export const started = new Date();\n", "module-instance", 1);
  assertFires("export const xs = [Float64Array.from([1, 2])];\n", "module-instance", 1);
  assertFires("const buf = new ArrayBuffer(8);\nexport const view = new DataView(buf);\n", "module-instance", 2);
  assertFires("export const m = (() => new Map())();\n", "module-instance", 1);
});

// --- rule 3: dynamic code ---------------------------------------------------

test("eval, new Function, Function(), WebAssembly fire anywhere", () => {
  assertFires("export function run(s: string) {\n  return eval(s);\n}\n", "dynamic-code", 2);
  assertFires("export function make() {\n  return new Function(\"a\", \"return a\");\n}\n", "dynamic-code", 2);
  assertFires("export function make() {\n  return Function(\"return 1\");\n}\n", "dynamic-code", 2);
  assertFires("export function w() {\n  return typeof WebAssembly.compile;\n}\n", "dynamic-code", 2);
});

// --- rule 4: Node-only things -----------------------------------------------

test("Buffer.from usage fires", () => {
  const v = assertFires("export function enc(s: string) {\n  return Buffer.from(s);\n}\n", "node-only", 2);
  assert.match(v.message, /Buffer/);
  assert.is(v.column, 10);
});

test("process.env fires", () => {
  assertFires("export function env() {\n  return process.env.HOME;\n}\n", "node-only", 2);
  assertFires("export const g = () => globalThis.process;\n", "node-only", 1);
});

test("import fs from \"node:fs\" fires, even unused; bare builtins and unknown packages too", () => {
  assertFires("import fs from \"node:fs\";\nexport const x = 1;\n", "node-only", 1);
  assertFires("import { join } from \"path\";\nexport const j = () => join(\"a\");\n", "node-only", 1);
  assertFires("import { readFile } from \"fs/promises\";\nexport const r = readFile;\n", "node-only", 1);
  const v = assertFires("import mqtt from \"mqtt\";\nexport const m = mqtt;\n", "node-only", 1);
  assert.match(v.message, /allow-list/);
  assertFires("export * from \"node:events\";\n", "node-only", 1);
});

test("setTimeout and other host globals fire", () => {
  assertFires("export function later(f: () => void) {\n  setTimeout(f, 10);\n}\n", "node-only", 2);
  assertFires("export const q = (f: () => void) => queueMicrotask(f);\n", "node-only", 1);
  assertFires("export const c = (x: unknown) => structuredClone(x);\n", "node-only", 1);
  assertFires("export const u = (s: string) => new URL(s);\n", "node-only", 1);
});

test("bigint literal and BigInt() fire", () => {
  const v = assertFires("export function big() {\n  return 10n;\n}\n", "bigint", 2);
  assert.match(v.message, /10n/);
  assertFires("export const b = (x: number) => BigInt(x);\n", "bigint", 1);
  assertFires("export const r = (v: DataView) => v.getBigUint64(0);\n", "bigint", 1);
});

test("a relative import naming a Node-only module fires", () => {
  assertFires("import { open } from \"../store/sqlite.js\";\nexport const o = () => open();\n", "node-only", 1);
  assertFires("import \"./mqtt-node.js\";\n", "node-only", 1);
});

// --- rule 5: calls at load time ---------------------------------------------

test("module-scope call to an imported function fires, and the opt-out works only with a reason", () => {
  const v = assertFires("import { open } from \"./flash.js\";\nexport const h = open(\"x\");\n", "top-level-call", 2);
  assert.match(v.message, /module-scope call to imported open: must not touch devices/);
  assertFires("import * as timer from \"./timer.js\";\ntimer.start();\n", "top-level-call", 2);
  assertFires("import { Client } from \"./client.js\";\nexport const c = new Client();\n", "top-level-call", 2);
  assertClean("import { open } from \"./flash.js\";\n// device-rules: allow-top-level-call opens nothing, only builds a descriptor\nexport const h = open(\"x\");\n");
  const noReason = assertFires("import { open } from \"./flash.js\";\n// device-rules: allow-top-level-call\nexport const h = open(\"x\");\n", "top-level-call", 3);
  assert.match(noReason.message, /needs a reason/);
});

test("module-scope calls to impure builtins fire; pure builtins and local functions do not", () => {
  assertFires("export const t0 = Date.now();\n", "top-level-call", 1);
  assertFires("export const r = Math.random();\n", "top-level-call", 1);
  assertFires("export const d = new TextDecoder();\n", "top-level-call", 1);
  assertClean(
    "function table(n: number): readonly number[] {\n" +
      "  const t: number[] = [];\n" +
      "  for (let i = 0; i < n; i++) t.push(i * 2);\n" +
      "  return Object.freeze(t);\n" +
      "}\n" +
      "export const TABLE = table(4);\n" +
      "export const MAX = Math.max(1, 2);\n" +
      "export const KEYS = Object.freeze(Object.keys({ a: 1 }).map((k) => k.toUpperCase()));\n" +
      "export const TAG = Symbol.for(\"lichen\");\n" +
      "export const IS = Array.isArray(TABLE);\n",
  );
});

test("TextDecoder labels other than utf-8 fire", () => {
  assertFires("export const dec = (b: Uint8Array) => new TextDecoder(\"utf8\").decode(b);\n", "text-decoder", 1);
  assertClean("export const dec = (b: Uint8Array) => new TextDecoder(\"utf-8\").decode(b);\n");
});

// --- what must not fire ------------------------------------------------------

test("const frozen objects and top-level Object.freeze({a: 1}) are fine", () => {
  assertClean(
    "export const LIMITS = Object.freeze({ frame: 4000, key: 15 });\n" +
      "export const KINDS = Object.freeze([\"a\", \"b\"] as const);\n" +
      "Object.freeze({ a: 1 });\n" +
      "export const PLAIN = { a: 1 } as const;\n",
  );
});

test("new Map() inside a function, arrow, method or getter is fine", () => {
  assertClean(
    "export function make() { return new Map<string, number>(); }\n" +
      "export const make2 = () => ({ m: new Set(), d: new Date(0), b: new Uint8Array(4) });\n" +
      "export const obj = Object.freeze({ get fresh() { return new WeakMap(); } });\n" +
      "export class Store {\n" +
      "  private readonly m = new Map<string, number>();\n" +
      "  static create() { return new Store(); }\n" +
      "  keys() { return new Set(this.m.keys()); }\n" +
      "}\n",
  );
});

test("class X { m = new Map() } instance field is fine", () => {
  assertClean("export class X {\n  m = new Map();\n}\n");
});

test("a local binding named process (or setTimeout, Buffer) shadows the global", () => {
  assertClean(
    "export function f() {\n" +
      "  const process = { env: { HOME: \"/\" } };\n" +
      "  return process.env.HOME;\n" +
      "}\n" +
      "export function g(setTimeout: (f: () => void, ms: number) => void) {\n" +
      "  setTimeout(() => {}, 1);\n" +
      "}\n" +
      "export function h() {\n" +
      "  try { return 1; } catch (Buffer) { return Buffer; }\n" +
      "}\n",
  );
  // ...but only inside that scope.
  assertFires(
    "export function f() {\n  const process = 1;\n  return process;\n}\nexport const e = () => process.env;\n",
    "node-only",
    5,
  );
});

test("type-only imports and typeof feature tests are fine; a package is not", () => {
  assertFires("import { Encoder } from \"cbor-x\";\nexport const make = () => new Encoder();\n", "node-only", 1);
  assertClean(
    "import type { Db } from \"../store/sqlite.js\";\n" +
      "export const make = (db?: Db) => (db ? 1 : null);\n" +
      "export const onNode = typeof process !== \"undefined\";\n",
  );
});

// --- what only the real toolchain shows: preloaded regexps, stripped names, frozen intrinsics ---

test("module-regexp: a RegExp made at load time fires; one made inside a function does not", () => {
  assertFires("export const ID = /^[a-z]+$/;\n", "module-regexp", 1);
  assertFires("const ID = new RegExp(\"^[a-z]+$\");\nexport const ok = (s: string) => ID.test(s);\n", "module-regexp", 1);
  assertFires("export const ID = RegExp(\"x\");\n", "module-regexp", 1);
  assertFires("export class K {\n  static re = /x/;\n}\n", "module-regexp", 2);
  assertClean("export function ok(s: string): boolean {\n  return /^[a-z]+$/.test(s) && new RegExp(\"y\").test(s);\n}\n");
});

test("builtin-name: .name of a built-in function, or of any constructor, fires", () => {
  assertFires("export function tag(): string {\n  return Uint8Array.name;\n}\n", "builtin-name", 2);
  assertFires("export const kind = (x: object) => x.constructor.name;\n", "builtin-name", 1);
  assertFires("export const m = () => globalThis.Map.name;\n", "builtin-name", 1);
  assertClean("export const who = (p: { name: string }) => p.name;\nexport function f() {\n  return f.name;\n}\n");
});

test("frozen-override: assigning this.name (or message, constructor, toString) in a subclass fires", () => {
  const hit = assertFires("export class E extends Error {\n  constructor(m: string) {\n    super(m);\n    this.name = \"E\";\n  }\n}\n", "frozen-override", 4);
  assert.match(hit.message, /Object\.defineProperty/);
  assertFires("export class E extends Error {\n  f() {\n    const g = () => {\n      this.message = \"x\";\n    };\n    g();\n  }\n}\n", "frozen-override", 4);
  assertClean(
    "export class E extends Error {\n  constructor(m: string) {\n    super(m);\n    Object.defineProperty(this, \"name\", { value: \"E\" });\n  }\n}\n" +
      "export class P {\n  name = \"\";\n  rename(n: string) {\n    this.name = n;\n  }\n}\n",
  );
});

test("locations point into the TypeScript source", () => {
  const code =
    "interface Point {\n" +
    "  x: number;\n" +
    "}\n" +
    "type P = Point;\n" +
    "export const p: P = { x: 1 };\n" +
    "export const registry: Map<string, P> = new Map();\n";
  const vs = check(code);
  assert.equal(
    vs.map((v) => [v.file, v.line, v.column, v.rule]),
    [["src/core/sample.ts", 6, 41, "module-instance"]],
  );
});

// --- the rules as a set ------------------------------------------------------

test("syntax: a module that does not transpile fires; import: a computed dynamic import() fires", () => {
  const v = assertFires("export const x = ;\n", "syntax", 1);
  assert.match(v.message, /does not transpile/);
  const d = assertFires("export const load = (name: string) => import(name);\n", "import", 1);
  assert.match(d.message, /computed specifier/);
  assertFires("import x from \"/abs/x.js\";\nexport const y = x;\n", "import", 1);
});

/** One module that fires each rule (a rule added without one fails the test below). */
const FIRES: Readonly<Record<RuleId, string>> = {
  "module-state": "export let a = 1;\n",
  "module-instance": "export const m = new Map();\n",
  "dynamic-code": "export const e = (s: string) => eval(s);\n",
  "node-only": "export const b = () => Buffer.alloc(1);\n",
  bigint: "export const n = () => 1n;\n",
  "top-level-call": "export const t = Date.now();\n",
  "text-decoder": "export const d = () => new TextDecoder(\"latin1\");\n",
  "module-regexp": "export const r = /x/;\n",
  "builtin-name": "export const k = () => Map.name;\n",
  "frozen-override": "export class E extends Error {\n  f() {\n    this.name = \"E\";\n  }\n}\n",
  import: "export const i = (s: string) => import(s);\n",
  syntax: "export const = 1;\n",
};

test("every rule module has an id, a description and a module that fires it", () => {
  const ids = RULES.map((r) => r.id);
  assert.equal([...new Set(ids)].sort(), Object.keys(FIRES).sort(), "one rule module per rule id");
  for (const rule of RULES) {
    assert.ok(rule.description.length > 20, `${rule.id} has a description`);
    const hit = check(FIRES[rule.id]).find((v) => v.rule === rule.id);
    assert.ok(hit, `${rule.id} fires on its example, got:\n${describe(check(FIRES[rule.id]))}`);
  }
});

// --- the device code of a tree ------------------------------------------------

function makeTree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "device-rules-"));
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return root;
}

test("checkDeviceRules flags a device module that imports a sqlite.ts file", () => {
  const root = makeTree({
    "src/core/index.ts": "export { add } from \"./math.js\";\nexport * from \"../../lib/shared.js\";\n",
    "src/core/math.ts": "export function add(a: number, b: number): number { return a + b; }\n",
    "lib/shared.ts": "export let shared = 0;\n",
    "src/store/state.ts": "import { open } from \"./sqlite.js\";\nexport const load = () => open();\n",
    "src/store/sqlite.ts": "import { readFileSync } from \"node:fs\";\nexport const open = () => readFileSync(\"x\");\nexport let db = Buffer.alloc(1);\n",
    "src/transport/mqtt-node.ts": "import mqtt from \"mqtt\";\nexport const connect = () => mqtt.connect(process.env.URL ?? \"\");\n",
    "host-tests/anything.ts": "export let notDevice = Buffer.alloc(1);\n",
  });
  try {
    const { modules, violations } = runDeviceRules(root);
    assert.equal(modules, ["lib/shared.ts", "src/core/index.ts", "src/core/math.ts", "src/store/state.ts"]);
    const summary = violations.map((v) => `${v.file}:${v.line} ${v.rule}`);
    assert.equal(summary, ["lib/shared.ts:1 module-state", "src/store/state.ts:1 node-only"]);
    const sqlite = violations.find((v) => v.file === "src/store/state.ts");
    assert.match(sqlite?.message ?? "", /Node-only module "\.\/sqlite\.js" \(src\/store\/sqlite\.ts\)/);
    assert.equal(checkDeviceRules(root), violations);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("checkDeviceRules follows imports into directories and reports unresolved ones", () => {
  const root = makeTree({
    "src/transport/session.ts": "import { x } from \"./frames\";\nimport { y } from \"./missing.js\";\nexport const s = () => x + y;\n",
    "src/transport/frames/index.ts": "import { z } from \"./db-node.js\";\nexport const x = z;\n",
    "src/transport/frames/db-node.ts": "export const z = 1;\n",
    "targets/esp32/main.ts": "import Preference from \"preference\";\nimport { s } from \"../../src/transport/session.js\";\nexport const run = () => s() + Preference.get(\"a\", \"b\");\n",
    "src/core/bad-preference.ts": "import Preference from \"preference\";\nexport const p = Preference;\n",
  });
  try {
    const summary = checkDeviceRules(root).map((v) => `${v.file}:${v.line} ${v.rule}`);
    assert.equal(summary, [
      "src/core/bad-preference.ts:1 node-only",
      "src/transport/frames/index.ts:1 node-only",
      "src/transport/session.ts:2 import",
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the CLI prints a summary and exits 0 when clean, 1 with violations", () => {
  const clean = makeTree({ "src/core/a.ts": "export const A = Object.freeze({ a: 1 });\n" });
  const dirty = makeTree({ "src/core/a.ts": "export let a = 1;\n" });
  try {
    const run = (root: string) =>
      spawnSync(process.execPath, ["--import", "tsx", SCRIPT, "--root", root], { encoding: "utf8", timeout: PATIENCE_MS });
    const ok = run(clean);
    assert.is(ok.status, 0, ok.stderr);
    assert.is(ok.stdout.trim(), "device-rules: 1 module checked, 0 violations");
    const bad = run(dirty);
    assert.is(bad.status, 1, bad.stderr);
    const lines = bad.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^src\/core\/a\.ts:1:12: module-state: /);
    assert.is(lines[lines.length - 1], "device-rules: 1 module checked, 1 violation");
    const listed = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, "--rules"], { encoding: "utf8", timeout: PATIENCE_MS });
    assert.is(listed.status, 0, listed.stderr);
    assert.equal(listed.stdout.trim().split("\n").map((l) => l.split(":")[0]), RULES.map((r) => r.id));
  } finally {
    rmSync(clean, { recursive: true, force: true });
    rmSync(dirty, { recursive: true, force: true });
  }
});

test.run();
