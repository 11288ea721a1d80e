// Section: the stack the ESP32 firmware's scenario needs, inside the XS made like the device's
// (sim/xs/device-worker.ts: an xsnap-worker built with the ESP32 manifest's creation; after
// preload its stack is the device's, or as many slots as asked). The scenario is the firmware
// memory test's (sim/esp32/memory-scenario.ts): the node app on its stand-ins,
// started, then taking samples, each step a crank. The fewest slots with which it runs, found by
// bisection: stack use is deterministic, so the figure is exact.
import { deviceXsnapWorker } from "../sim/xs/device-worker.js";
import { fewestStackSlots } from "../sim/xs/device-stack.js";
import { firmwareScenario } from "../sim/esp32/firmware-stack.js";
import { moddableShimsPlugin } from "../sim/moddable/shims.js";
import type { ScenarioNetwork } from "../sim/esp32/memory-scenario.js";
import { met, num, type Section, type Target } from "./report.js";

/** The most slots tried: the stack the preload runs with. */
const MOST = 4096;

export async function esp32StackSection(): Promise<Section> {
  const title = "6b. ESP32 firmware inside XS: the stack (deterministic)";
  const device = deviceXsnapWorker();
  if (!device.ok) return { title, tables: [], notes: `Not measured: ${device.reason}.` };
  const stack = device.creation.stackSlots;
  const floor = await fewestStackSlots(device.path, { code: "void 0", map: "{}" }, ["void 0"], MOST);
  const rows: Array<Array<string | number>> = [["an empty crank (`void 0`)", num(floor ?? NaN), "0", num(stack), met(floor !== null && floor <= stack)]];
  const targets: Target[] = [];
  const describe: Record<ScenarioNetwork, string> = { "gateway-gone": "broker up, gateway gone", "no-broker": "no broker (reconnecting)" };
  for (const network of ["gateway-gone", "no-broker"] as const) {
    const scenario = await firmwareScenario(network, 100, [moddableShimsPlugin]);
    const fewest = await fewestStackSlots(device.path, scenario.bundle, scenario.steps, MOST, () => scenario.host());
    const ok = fewest !== null && fewest <= stack;
    rows.push([`firmware: started, 100 samples, ${describe[network]}`, fewest === null ? `> ${num(MOST)}` : num(fewest), fewest === null || floor === null ? "n/a" : num(fewest - floor), num(stack), met(ok)]);
    targets.push({ figure: `ESP32 firmware scenario (${describe[network]}): stack slots in the device XS`, target: `≤ ${num(stack)} (the ESP32 manifest's stack)`, actual: fewest === null ? `> ${num(MOST)}` : num(fewest), ok });
  }
  return {
    title,
    tables: [
      {
        title: "Fewest stack slots with which the firmware's scenario runs (xsnap's XS made like the ESP32's)",
        how: `sim/esp32/firmware-stack.ts and sim/xs/device-stack.ts: the scenario of sim/esp32/memory-scenario.ts bundled and loaded (the preload, with ${num(MOST)} slots), then \`lichenDeviceStack(n)\` and the steps (create, boot, 100 samples), each a crank, in a fresh device xsnap-worker per try; n found by bisection (one slot fewer aborts with a stack overflow). "above an empty crank": minus what an empty crank needs, the part the scenario itself takes. ${num(stack)}: targets/esp32/manifest.json's stack, which the device worker sets after preload by default. Deterministic: measured once.`,
        columns: ["scenario", "fewest stack slots", "above an empty crank", "the manifest's stack", "fits?"],
        rows,
      },
    ],
    targets,
    notes:
      "The deepest step is `boot()` (the app starts: flash opened, MQTT up), where mcsim overflowed too. In Moddable's simulator (mcsim, the SDK's own XS 8.2.3), the firmware runs with 384 slots and overflows with 352 (section 7, the toolchain's table); in xsnap's XS the same node app needs more. Not explained yet: xsnap's XS is Agoric's fork of another XS version, and the scenario's stand-ins run the app's timers from inside the step (`advance()`) where Moddable's run loop calls them on a fresh stack (run each on a stack of its own, they measured 576 and 525 when this scenario needed 595 and 571, so that is only part of it). Not `mxDebug`: an xsnap-worker built without it needed the same slots.",
  };
}
