// The XS made like the ESP32's (sim/xs/device-worker.ts): an xsnap-worker built from the
// sources in node_modules with the creation of targets/esp32/manifest.json. Once preload is over
// (lichenDeviceStack()), its stack is the device's: a recursion that fits runs, one that needs more
// aborts with a stack overflow, as XS aborts on the ESP32. The firmware's scenario is measured in
// it: the fewest stack slots it needs, exact (stack use is deterministic). Where the worker cannot
// be built (no C compiler), every test here is reported as skipped.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { skipTest } from "../runner/skip.js";
import { buildDeviceXsnapWorker, deviceCreation, deviceXsnapWorker } from "../../sim/xs/device-worker.js";
import { fewestStackSlots, runWithDeviceStack } from "../../sim/xs/device-stack.js";
import { firmwareScenario } from "../../sim/esp32/firmware-stack.js";
import { moddableShimsPlugin } from "../../sim/moddable/shims.js";
import { jsonCommandHandler, XsExit, XsWorker } from "../../sim/xs/worker.js";
import { STACK_OVERFLOW_EXIT } from "../../sim/xs/device-worker.js";
import { bundleTestFileForXs } from "../runner/xs-bundle.js";
import type { RunnerEvent } from "../runner/protocol.js";

function deviceBin(): string {
  const w = deviceXsnapWorker();
  if (!w.ok) skipTest(w.reason);
  return w.path;
}

/** Runs a runner fixture in the device worker: what it reported, and how the worker ended. */
async function runFixture(fixture: string): Promise<{ events: RunnerEvent[]; exit: unknown; results: Extract<RunnerEvent, { kind: "result" }>[] }> {
  const events: RunnerEvent[] = [];
  const bundle = await bundleTestFileForXs(`host-tests/runner/fixtures/${fixture}`);
  const worker = await XsWorker.start({ bin: deviceBin(), onCommand: jsonCommandHandler((m) => void events.push(m as RunnerEvent)) });
  let exit: unknown;
  try {
    await worker.evaluate(bundle.code);
  } catch (e) {
    exit = e;
  } finally {
    await worker.close().catch(() => worker.kill());
  }
  const results = events.filter((e): e is Extract<RunnerEvent, { kind: "result" }> => e.kind === "result");
  return { events, exit, results };
}

const RECURSION = { code: "function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }", map: "{}" };

test("the device xsnap-worker is built under node_modules/.cache with the manifest's stack", async () => {
  const bin = deviceBin();
  assert.match(bin, /node_modules\/\.cache\/lichen-xsnap-device\/[0-9a-f]{16}\/xsnap\/build\/bin\/(lin|mac)\/release\/xsnap-worker$/);
  const slots = deviceCreation().stackSlots;
  assert.is(slots, 512, "targets/esp32/manifest.json: platforms.esp32.creation.stack");
  const r = await runWithDeviceStack(bin, RECURSION, [`if (lichenDeviceStack() !== ${slots}) throw new Error('not the device stack')`], undefined);
  assert.ok(r.ok, r.ok ? "" : r.error);
  const stock = await XsWorker.start({});
  try {
    await stock.evaluate("if (typeof lichenDeviceStack !== 'undefined') throw new Error('the stock worker has it')");
  } finally {
    await stock.close().catch(() => stock.kill());
  }
});

test("a recursion that fits the device's stack runs; one that needs more aborts with a stack overflow", async () => {
  const bin = deviceBin();
  const shallow = await runWithDeviceStack(bin, RECURSION, ["depth(10)"], undefined);
  assert.ok(shallow.ok, shallow.ok ? "" : shallow.error);
  const deep = await runWithDeviceStack(bin, RECURSION, ["depth(100)"], undefined);
  assert.is(deep.ok, false, "depth(100) must not fit in 512 slots");
  if (!deep.ok) {
    assert.ok(deep.overflow, `expected a stack overflow (exit 12), got: ${deep.error}`);
    assert.match(deep.error, /stack overflow/);
  }
  // The same recursion runs with the preload's stack in the same worker, and in the stock worker:
  // what aborts it is the device's stack.
  const preload = await XsWorker.start({ bin });
  const stock = await XsWorker.start({});
  try {
    for (const w of [preload, stock]) {
      await w.evaluate(RECURSION.code);
      await w.evaluate("if (depth(100) !== 100) throw new Error('depth')");
    }
  } finally {
    await preload.close().catch(() => preload.kill());
    await stock.close().catch(() => stock.kill());
  }
});

test("the firmware's scenario (boot, 100 samples, gateway gone): the fewest stack slots it needs, exact", async () => {
  const bin = deviceBin();
  const scenario = await firmwareScenario("gateway-gone", 100, [moddableShimsPlugin]);
  const fewest = await fewestStackSlots(bin, scenario.bundle, scenario.steps, 4096, () => scenario.host());
  assert.ok(fewest !== null, "the scenario runs with 4,096 slots");
  const runs = await runWithDeviceStack(bin, scenario.bundle, scenario.steps, fewest!, scenario.host());
  assert.ok(runs.ok, runs.ok ? "" : runs.error);
  const short = await runWithDeviceStack(bin, scenario.bundle, scenario.steps, fewest! - 1, scenario.host());
  assert.ok(!short.ok && short.overflow, "one slot fewer overflows");
  const floor = await fewestStackSlots(bin, { code: "void 0", map: "{}" }, ["void 0"], 4096);
  const device = deviceCreation().stackSlots;
  console.log(`firmware scenario: ${fewest} stack slots for the whole machine in xsnap's XS, its crank and XS's roots included (an empty crank: ${floor}); the ESP32 manifest gives ${device}`);
});

test("the firmware's scenario, each turn of its run loop on a stack of its own: the fewest slots above the loop, exact", async () => {
  const bin = deviceBin();
  const scenario = await firmwareScenario("gateway-gone", 100, [moddableShimsPlugin]);
  const grant = (n: number | undefined): string => scenario.grantTurns(n ?? deviceCreation().stackSlots);
  const fewest = await fewestStackSlots(bin, scenario.bundle, scenario.steps, 2048, () => scenario.host(), grant);
  assert.ok(fewest !== null, "the scenario's turns run with 2,048 slots each");
  const runs = await runWithDeviceStack(bin, scenario.bundle, scenario.steps, fewest!, scenario.host(), grant);
  assert.ok(runs.ok, runs.ok ? "" : runs.error);
  const short = await runWithDeviceStack(bin, scenario.bundle, scenario.steps, fewest! - 1, scenario.host(), grant);
  assert.ok(!short.ok && short.overflow, "one slot fewer for each turn overflows");
  // the turns nest under the steps and xsnap's crank in the whole machine's measure, which counts them too
  const machine = await fewestStackSlots(bin, scenario.bundle, scenario.steps, 4096, () => scenario.host());
  assert.ok(machine !== null && fewest! < machine, `a turn (${fewest}) needs fewer slots than the whole machine (${machine})`);
  console.log(`firmware scenario: ${fewest} stack slots for its deepest turn above the run loop in xsnap's XS; the ESP32 manifest gives ${deviceCreation().stackSlots}`);
});

test("the runner grants a test body the device's stack above the harness: a body needing more overflows", async () => {
  const { events, exit, results } = await runFixture("deep-body.ts");
  assert.is(results.length, 1, JSON.stringify(events));
  assert.ok(results[0]!.ok, results[0]!.error);
  const depth = results[0]!.stackDepth;
  assert.ok(typeof depth === "number" && depth > 0, "the harness's depth at the body is reported");
  assert.equal(
    events.filter((e) => e.kind === "start").map((e) => (e as { name: string }).name),
    ["a body about 300 slots deep fits the device's 512", "a body about 600 slots deep does not"],
  );
  assert.ok(exit instanceof XsExit && exit.code === STACK_OVERFLOW_EXIT, `expected a stack overflow (exit ${STACK_OVERFLOW_EXIT}), got ${String(exit)}`);
  console.log(`runner: test bodies entered at a harness depth of ${depth} slots, granted ${deviceCreation().stackSlots} above it`);
});

test("each turn of a simulated event loop gets the device's stack above the loop, and the body's limit is back after it", async () => {
  const { events, exit, results } = await runFixture("deep-turn.ts");
  assert.is(results.length, 1, JSON.stringify(events));
  assert.ok(results[0]!.ok, results[0]!.error);
  assert.equal(
    events.filter((e) => e.kind === "start").map((e) => (e as { name: string }).name),
    ["a turn entered about 250 slots deep runs about 400 slots more: above the loop, not the body", "after a turn entered deep, the body's limit is back: about 600 slots overflow it"],
  );
  assert.ok(exit instanceof XsExit && exit.code === STACK_OVERFLOW_EXIT, `expected a stack overflow (exit ${STACK_OVERFLOW_EXIT}), got ${String(exit)}`);
});

test("without make or a C compiler the build says why, and leaves nothing in its cache", () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "lichen-xsnap-device-"));
  try {
    const w = buildDeviceXsnapWorker({ cacheDir, env: { ...process.env, PATH: join(cacheDir, "no-tools") } });
    assert.is(w.ok, false);
    if (!w.ok) assert.match(w.reason, /building the device xsnap-worker failed/);
    assert.equal(readdirSync(cacheDir), [], "no half-built worker is left where the next run would take it");
    assert.ok(existsSync(cacheDir));
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();
