// The firmware's memory budget, measured inside XS: the node app (targets/esp32/node-app.ts)
// holding 1,000 unacknowledged changes (1,000 samples taken while no gateway is reachable) keeps
// at most half of the ESP32's default creation in live slots: 2,464 of 4,928. The scenario and
// its stand-ins are in esp32-memory-scenario.ts; the flash is on the host (esp32-memory.service.ts)
// since on the device it is NVS, not RAM. Live slots are XS's exact count after gc(), compared
// before the app exists and after the samples (the app and everything it keeps, stand-ins
// included). Deterministic. Under Node the same scenario runs and its outcome is checked; the
// slot count is XS's only. bench/esp32.ts reports the figures in bench/RESULTS.md.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ENGINE } from "../engine.js";
import { hostSend, insideXs } from "../../sim/xs/host-channel.js";
import { liveSlots } from "../../sim/xs/meter.js";
import { createScenario, remoteFlash, SCENARIO_GATEWAY, type HostCall, type ScenarioNetwork } from "../../sim/esp32/memory-scenario.js";

/** Half of Moddable's default ESP32 creation (heap.initial 4,928 slots). */
const SLOT_BUDGET = 2464;

const call: HostCall = (msg) => {
  if (insideXs()) return hostSend({ kind: "service", ...msg });
  const service = (globalThis as { __lichenHostService?: { handle(m: unknown): unknown } }).__lichenHostService;
  if (service === undefined) throw new Error("run this file with host-tests/run.ts (it needs esp32-memory.service.ts)");
  return service.handle(msg);
};

async function measure(network: ScenarioNetwork, samples: number): Promise<{ slots: number | undefined; scenario: ReturnType<typeof createScenario> }> {
  call({ op: "flash-reset" });
  const flash = remoteFlash(call);
  const a = await liveSlots();
  const b = await liveSlots();
  const scenario = createScenario(flash, network);
  scenario.boot();
  scenario.samples(samples);
  const c = await liveSlots();
  // every liveSlots() round keeps one slot or so of its own: measured between a and b
  const slots = a === undefined ? undefined : c! - b! - (b! - a);
  return { slots, scenario };
}

test(`the node app holding 1,000 unacknowledged changes keeps at most ${SLOT_BUDGET} live slots (${ENGINE})`, async () => {
  const { slots, scenario } = await measure("gateway-gone", 1000);
  const s = scenario.app.status();
  assert.is(s.counted, 1001, "the boot's sample and 1,000 more");
  assert.ok(!s.gateways.some((g) => g.id === SCENARIO_GATEWAY && g.online), "the gateway is gone");
  assert.ok(s.pendingOps < 100, "the flash keeps up (coalesced)");
  const readings = s.readings as Record<string, number>;
  assert.ok(typeof readings.temperature === "number" && typeof readings.humidity === "number");
  const stats = call({ op: "flash-stats" }) as { writes: number; usedBytes: number };
  // samples 10 s apart, DEVICE_COALESCING (5 s): one batch per sample, a few NVS writes each
  assert.ok(stats.writes > 0 && stats.writes < 1001 * 5, `flash writes: ${stats.writes}`);
  if (slots !== undefined) {
    console.log(`live slots kept by the node app after 1,000 unacknowledged samples: ${slots} (${slots * 16} bytes on an ESP32); flash ${stats.writes} writes, ${stats.usedBytes} bytes used`);
    assert.ok(slots <= SLOT_BUDGET, `${slots} live slots, over the budget of ${SLOT_BUDGET}`);
  }
  scenario.app.stop();
});

test(`with no broker at all, 300 samples later (and 60 connection attempts) the node app still keeps at most ${SLOT_BUDGET} live slots (${ENGINE})`, async () => {
  const { slots, scenario } = await measure("no-broker", 300);
  const s = scenario.app.status();
  assert.ok(!s.connected);
  assert.is(s.counted, 301);
  assert.ok(scenario.stats.connects > 10, `it kept trying to connect (${scenario.stats.connects})`);
  if (slots !== undefined) {
    console.log(`live slots kept by the node app after 300 samples without a broker: ${slots}`);
    assert.ok(slots <= SLOT_BUDGET, `${slots} live slots, over the budget of ${SLOT_BUDGET}`);
  }
  scenario.app.stop();
});

test.run();
