// npm run firmware (scripts/firmware.ts): what it says without the Moddable SDK, how it reads
// xsl's output, and, where the SDK is installed ($MODDABLE), the firmware linked by xsl for the
// ESP32 with no preload warning in lichen's modules (skipped, and said so, where it is not).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findModdableSdk, isLichenModule, LICHEN_BIN, parseArgs, parseXslOutput } from "../../scripts/firmware.js";
import { skipTest } from "../runner/skip.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = path.join(ROOT, "scripts", "firmware.ts");

function firmware(args: string[], env: NodeJS.ProcessEnv, timeout = 28_000): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], { cwd: ROOT, env, encoding: "utf8", timeout });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test("without $MODDABLE it says what to install and exits 2", () => {
  const env = { ...process.env };
  delete env.MODDABLE;
  const r = firmware(["--platform", "esp32"], env);
  assert.is(r.status, 2);
  assert.match(r.out, "$MODDABLE is not set");
  assert.match(r.out, "git clone https://github.com/Moddable-OpenSource/moddable");
  assert.match(r.out, "make");
});

test("--run starts the package's own lichen command", () => {
  const bin = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> }).bin.lichen!;
  assert.is(LICHEN_BIN, path.join(ROOT, bin));
  assert.ok(existsSync(LICHEN_BIN), LICHEN_BIN);
});

test("a $MODDABLE without its host tools is named; arguments are checked", () => {
  const empty = mkdtempSync(path.join(tmpdir(), "lichen-no-sdk-"));
  try {
    const c = findModdableSdk({ MODDABLE: empty });
    assert.ok(!c.ok && c.message.includes(empty) && c.message.includes("mcconfig"));
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  assert.throws(() => parseArgs(["--platform", "esp8266"]), /--platform/);
  assert.throws(() => parseArgs(["--platform", "lin", "--flash"]), /--flash/);
  assert.throws(() => parseArgs(["--platform", "esp32", "--run"]), /--run/);
  const a = parseArgs(["--platform", "lin", "--run", "--minutes", "10", "interval=2000", "fleet=greenhouse"]);
  assert.equal({ ...a, settings: [...a.settings] }, { platform: "lin", flash: false, run: true, minutes: 10, settings: [["interval", "2000"], ["fleet", "greenhouse"]] });
});

test("xsl's figures and its warnings, by module", () => {
  const log = [
    "# xsl modules",
    "### warning: lichen/core/codec: encodeCbor() encoder() x: no const",
    "### warning: wifi: default() timer: no const",
    "### 2104 instances, 1866 keys, 74 colors, 0 holes",
  ].join("\n");
  const r = parseXslOutput(log, "#define mxAliasCount 92\n#define mxHeapCount 10949\n#define mxStackCount 163\n");
  assert.equal({ ...r, warnings: r.warnings.map((w) => w.module) }, { instances: 2104, keys: 1866, heapSlots: 10949, aliases: 92, warnings: ["lichen/core/codec", "wifi"] });
  assert.equal(r.warnings.filter((w) => isLichenModule(w.module)).length, 1);
  assert.ok(isLichenModule("main") && !isLichenModule("mqtt"));
});

test("with the Moddable SDK: the firmware links for the ESP32 (xsc, xsl) with no preload warning in lichen's modules", () => {
  const sdk = findModdableSdk();
  if (!sdk.ok) skipTest("the Moddable SDK is not installed ($MODDABLE)");
  // the whole build (about 30 s, more on a loaded machine): give LICHEN_TEST_TIMEOUT_MS room for it
  const r = firmware(["--platform", "esp32"], process.env, 600_000);
  assert.is(r.status, 0, r.out.slice(-2000));
  assert.match(r.out, /firmware \(esp32\): xsl: \d+ instances/);
  assert.match(r.out, "preload warnings: 0 in lichen's modules");
});

test.run();
