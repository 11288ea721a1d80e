// `lichen generate`: the generated modules compile (tsc), run, regenerate to the same bytes, and
// carry the over-the-air case: v1 data stored by v1 generated code, read by v2 generated code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { envelopeKey } from "../../src/store/keys.js";
import { MemoryKv } from "../../src/store/kv.js";
import { GENERATED_HEADER } from "../../src/schema/index.js";
import { runGenerate } from "../../targets/rpi/generate.js";
import { SENSOR_TOML } from "./fixtures.js";
import { LICHEN_CLI } from "../gateway/helpers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), "lichen-generate-"));
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

test.after(() => rmSync(DIR, { recursive: true, force: true }));

// v1: the Sensor entity before version 2 (and Site)
const V1_TOML = SENSOR_TOML.replace(/\[\[entity\.versions\]\]\nversion = 2\n[\s\S]*?\n\]\n/, "");

function gen(name: string, toml: string): string {
  const schema = join(DIR, `${name}.toml`);
  writeFileSync(schema, toml);
  const out = join(DIR, name);
  return out;
}

function typecheck(dir: string): void {
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "Bundler", lib: ["ES2022"], types: [], strict: true, noEmit: true, skipLibCheck: true, verbatimModuleSyntax: true, isolatedModules: true }, include: ["*.ts"] }),
  );
  const r = spawnSync(process.execPath, [TSC, "-p", join(dir, "tsconfig.json")], { encoding: "utf8" });
  assert.is(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
}

test("generates one module per entity and an index, compiling, deterministic", async () => {
  const out = gen("v2", SENSOR_TOML);
  const first = await runGenerate({ schema: join(DIR, "v2.toml"), out, runtime: join(ROOT, "src") });
  assert.equal(first.written.map((p) => p.slice(out.length + 1)), ["Sensor.ts", "Site.ts", "index.ts"]);
  const bytes = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f), "utf8")]));
  for (const f of ["Sensor.ts", "Site.ts", "index.ts"]) assert.ok(bytes[f]!.startsWith(`${GENERATED_HEADER}\n`), f);
  assert.match(bytes["Sensor.ts"]!, "export interface SensorV1 {");
  assert.match(bytes["Sensor.ts"]!, "export interface SensorV2 {");
  assert.match(bytes["Sensor.ts"]!, "export type Sensor = SensorV2;");
  assert.match(bytes["Sensor.ts"]!, "export function migrateSensorV1ToV2(value: SensorV1): SensorV2 {");
  assert.match(bytes["index.ts"]!, "export function openDb(kv: KvStore): CrdtDb {");
  // again: nothing written, same bytes
  const second = await runGenerate({ schema: join(DIR, "v2.toml"), out, runtime: join(ROOT, "src") });
  assert.equal(second.written, []);
  // into a fresh directory: byte for byte the same
  const again = join(DIR, "v2-again");
  await runGenerate({ schema: join(DIR, "v2.toml"), out: again, runtime: join(ROOT, "src") });
  for (const f of Object.keys(bytes)) assert.is(readFileSync(join(again, f), "utf8"), bytes[f], f);
  typecheck(out);
});

test("over the air with generated code: v1 data read by v2 code, default filled, written back", async () => {
  const v1dir = gen("v1", V1_TOML);
  await runGenerate({ schema: join(DIR, "v1.toml"), out: v1dir, runtime: join(ROOT, "src") });
  assert.not.match(readFileSync(join(v1dir, "Sensor.ts"), "utf8"), "SensorV2");
  typecheck(v1dir);
  const v2dir = join(DIR, "v2");
  await runGenerate({ schema: join(DIR, "v2.toml"), out: v2dir, runtime: join(ROOT, "src") });
  const v1 = await import(pathToFileURL(join(v1dir, "index.ts")).href);
  const v2 = await import(pathToFileURL(join(v2dir, "index.ts")).href);

  const stored: Uint8Array[] = [];
  for (let node = 0; node < 2; node++) {
    const kv = new MemoryKv();
    // before the update: v1 code
    const db1 = v1.openDb(kv);
    const live = v1.openSensor({ name: "porch" }, "node-1");
    live.reading.set(7);
    live.samples.incrementBy(2);
    db1.save("Sensor", "s1", v1.storeSensor(live));
    if (node === 1) kv.put(envelopeKey("Sensor", "s1"), stored[0]!); // the second node holds the same v1 bytes
    else stored.push(kv.get(envelopeKey("Sensor", "s1"))!);
    // after: v2 code over the same storage
    const db2 = v2.openDb(kv);
    assert.is(db2.storedVersion("Sensor", "s1"), 1);
    const value = db2.load("Sensor", "s1");
    assert.is(value.unit, "celsius");
    assert.equal(value.calibration, Uint8Array.of(1, 2, 3));
    const opened = v2.openSensor(value, "node-1");
    assert.is(opened.reading.get(), 7);
    assert.is(opened.samples.value(), 2);
    assert.equal([...opened.tags.value()], ["indoor"]);
    assert.is(db2.storedVersion("Sensor", "s1"), 2);
    stored.push(kv.get(envelopeKey("Sensor", "s1"))!);
  }
  assert.equal(stored[1], stored[2]); // deterministic: the same v1 bytes migrate to the same v2 bytes
});

test("lichen generate: a schema error prints file:line: field: message and exits 1", () => {
  const bad = join(DIR, "bad.toml");
  writeFileSync(bad, SENSOR_TOML.replace('default = "celsius"', "default = 20"));
  const r = spawnSync(process.execPath, [...LICHEN_CLI, "generate", "--schema", bad, "--out", join(DIR, "bad-out")], { encoding: "utf8" });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stderr.trim(), `lichen: ${bad}:17: Sensor.unit: the default must be a string, not 20`);
  const ok = spawnSync(process.execPath, [...LICHEN_CLI, "generate", "--schema", join(DIR, "v2.toml"), "--out", join(DIR, "cli-out")], { encoding: "utf8" });
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, "wrote 3 of 3 files");
  const check = spawnSync(process.execPath, [...LICHEN_CLI, "generate", "--schema", join(DIR, "v2.toml"), "--out", join(DIR, "cli-out"), "--check"], { encoding: "utf8" });
  assert.is(check.status, 0, check.stderr);
});

test.run();
