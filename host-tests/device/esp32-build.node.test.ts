// The firmware's Moddable build (scripts/build.ts, buildEsp32App) and its manifest
// (targets/esp32/manifest.json): what mcconfig will be given is coherent. Node only.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, findSpecifiers, isModdableSdkModule, type BuildResult } from "../../scripts/build.js";
import { runDeviceRules } from "../../scripts/check-device-rules.js";
import { CONFIG_KEYS, DEFAULT_FLEET } from "../../targets/esp32/config.js";
import { defaults as gatewayDefaults } from "../../targets/rpi/gateway-config.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUT = mkdtempSync(path.join(tmpdir(), "lichen-esp32-build-"));
const ESP32 = path.join(OUT, "esp32");

/** The SDK modules the firmware may import, each brought in by a manifest the app includes. */
const SDK_IMPORTS = ["mqtt", "timer", "time", "net", "mc/config", "embedded:storage/key-value", "embedded:io/i2c"];

let result: Promise<BuildResult> | undefined;
const built = (): Promise<BuildResult> => (result ??= build({ root: ROOT, moddableDir: path.join(OUT, "moddable"), esp32Dir: ESP32, manifest: "none", skipNode: true }));

interface AppManifest {
  include: string[];
  modules: Record<string, string>;
  preload: string[];
  config: Record<string, unknown>;
  platforms: {
    esp32: { creation: { static: number; chunk: { initial: number; incremental: number }; heap: { initial: number; incremental: number }; stack: number } };
    lin: { modules: Record<string, string>; preload: string[] };
  };
}

/** Firmware modules that stand in for SDK modules lin lacks (mapped there only). */
const LIN_STAND_INS = ["lichen/esp32/key-value-ram", "lichen/esp32/i2c-none"];

const appManifest = (): AppManifest => JSON.parse(readFileSync(path.join(ROOT, "targets/esp32/manifest.json"), "utf8")) as AppManifest;

test.after(() => rmSync(OUT, { recursive: true, force: true }));

test("the firmware's modules are built file by file under Moddable specifiers; the simulator is not among them", async () => {
  const r = await built();
  assert.equal(r.esp32Modules.map((m) => m.specifier).sort(), ["lichen/esp32/config", "lichen/esp32/documents", "lichen/esp32/i2c-none", "lichen/esp32/key-value-ram", "lichen/esp32/node-app", "lichen/esp32/sensor", "lichen/esp32/sensor-i2c", "main"]);
  assert.equal(readdirSync(ESP32).sort(), ["lichen", "main.js"]);
  assert.ok(!readdirSync(path.join(ESP32, "lichen")).includes("sim-node.js"));
});

test("every import of the firmware names a library module, a firmware module or an SDK module the app brings in", async () => {
  const r = await built();
  const library = new Set(r.modules.map((m) => m.specifier));
  const firmware = new Set(r.esp32Modules.map((m) => m.specifier));
  // and the library's manifest.json (the committed one, which the app includes) lists them all
  const committed = JSON.parse(readFileSync(path.join(ROOT, "manifest.json"), "utf8")) as { modules: Record<string, string>; preload: string[] };
  for (const m of r.esp32Modules) {
    const code = readFileSync(path.join(ESP32, m.file), "utf8");
    for (const ref of findSpecifiers(code, m.file)) {
      const s = ref.value;
      if (firmware.has(s)) continue;
      if (library.has(s)) {
        assert.ok(committed.modules[s] !== undefined && committed.preload.includes(s), `${m.file}: "${s}" is not in manifest.json (run npm run build)`);
        continue;
      }
      assert.ok(isModdableSdkModule(s) && SDK_IMPORTS.includes(s), `${m.file}: imports "${s}"`);
    }
  }
});

test("targets/esp32/manifest.json: the library's manifest, the built modules preloaded, every config key, the default ESP32 creation", async () => {
  const m = appManifest();
  assert.ok(m.include.includes("../../manifest.json"));
  assert.ok(m.include.includes("$(MODDABLE)/modules/io/manifest.json"), "embedded:io/i2c and the device global");
  assert.ok(m.include.includes("$(MODDABLE)/examples/manifest_net.json"), "net, Wi-Fi setup, SNTP");
  assert.is(m.modules.main, "../../build/esp32/main");
  // every firmware module but the simulator's stand-ins, preloaded; the stand-ins as
  // "embedded:storage/key-value" and "embedded:io/i2c" on lin only (the SDK has neither there)
  const r = await built();
  const expected = Object.fromEntries(
    r.esp32Modules.filter((x) => !LIN_STAND_INS.includes(x.specifier)).map((x) => [x.specifier, `../../build/esp32/${x.file.replace(/\.js$/, "")}`]),
  );
  assert.equal(m.modules, expected);
  assert.equal(m.preload.sort(), Object.keys(expected).sort());
  assert.equal(m.platforms.lin.modules, { "embedded:storage/key-value": "../../build/esp32/lichen/key-value-ram", "embedded:io/i2c": "../../build/esp32/lichen/i2c-none" });
  assert.equal(m.platforms.lin.preload, ["embedded:storage/key-value", "embedded:io/i2c"]);
  assert.equal(Object.keys(m.config).sort(), [...CONFIG_KEYS].sort());
  // defaults that meet: the fleet of lichen gateway; the gateway named on the command line
  assert.is(m.config.fleet, gatewayDefaults().fleet);
  assert.is(DEFAULT_FLEET, gatewayDefaults().fleet);
  assert.is(m.config.gateway, "");
  const c = m.platforms.esp32.creation;
  assert.is(c.static, 0);
  assert.equal(c.chunk, { initial: 78_848, incremental: 0 });
  assert.equal(c.heap, { initial: 4928, incremental: 0 });
});

test("the device rules skip the Node-only simulator (sim-node.ts), and flag device code that imports it", () => {
  const root = path.join(OUT, "rules");
  mkdirSync(path.join(root, "targets/esp32"), { recursive: true });
  writeFileSync(path.join(root, "targets/esp32/sim-node.ts"), 'import { spawn } from "node:child_process";\nexport const run = spawn;\n');
  writeFileSync(path.join(root, "targets/esp32/main.ts"), "export default function main(): number {\n  return 1;\n}\n");
  let r = runDeviceRules(root);
  assert.equal(r.modules, ["targets/esp32/main.ts"]);
  assert.equal(r.violations, []);
  writeFileSync(path.join(root, "targets/esp32/main.ts"), 'import { run } from "./sim-node.js";\nexport default function main(): unknown {\n  return run;\n}\n');
  r = runDeviceRules(root);
  assert.ok(r.violations.some((v) => v.rule === "node-only" && v.file === "targets/esp32/main.ts"), JSON.stringify(r.violations));
  // and the real tree: sim-node.ts is host code, main.ts and what it reaches are device code
  const real = runDeviceRules(ROOT);
  assert.ok(real.modules.includes("targets/esp32/main.ts") && real.modules.includes("targets/esp32/node-app.ts"));
  assert.ok(!real.modules.includes("targets/esp32/sim-node.ts"));
  assert.ok(!real.modules.some((m) => m.startsWith("sim/")), "the simulated node (sim/esp32/sim-node.ts) is host code");
});

test.run();
