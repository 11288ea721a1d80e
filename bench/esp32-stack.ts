// Section: the stack the ESP32 firmware's scenario needs, inside the XS made like the device's
// (sim/xs/device-worker.ts: an xsnap-worker built with the ESP32 manifest's creation). The scenario
// is the firmware memory test's (sim/esp32/memory-scenario.ts): the node app on its stand-ins,
// started, then taking samples. On the device, Moddable's run loop calls each of the app's
// callbacks (its start, each timer, each MQTT message) on a stack of its own: the target is the
// fewest slots each such turn needs above the point where the loop calls it (sim/xs/device-turn.ts,
// as the device tests grant it), not counting the xsnap harness the steps run in. Beside it, for
// comparison with Moddable's simulator, the whole machine's stack: xsnap's crank and XS's roots
// included, the turns run nested in the steps. Both found by bisection: stack use is
// deterministic, so the figures are exact.
import { deviceXsnapWorker } from "../sim/xs/device-worker.js";
import { fewestStackSlots } from "../sim/xs/device-stack.js";
import { firmwareScenario } from "../sim/esp32/firmware-stack.js";
import { moddableShimsPlugin } from "../sim/moddable/shims.js";
import type { ScenarioNetwork } from "../sim/esp32/memory-scenario.js";
import { met, num, type Section, type Target } from "./report.js";

/** The most slots tried for the whole machine: the stack the preload runs with. */
const MOST = 4096;
/** The most slots tried for a turn: half the machine's, so that a grant fits above the steps under it. */
const MOST_TURN = MOST / 2;
/** XS's roots and intrinsics, kept at the top of the machine's stack (`mxStackIndexCount` in xsnap's
 * XS, counted by compiling its headers; Moddable's XS keeps them the same way). */
const XS_ROOT_SLOTS = 156;

export async function esp32StackSection(): Promise<Section> {
  const title = "6b. ESP32 firmware inside XS: the stack (deterministic)";
  const device = deviceXsnapWorker();
  if (!device.ok) return { title, tables: [], notes: `Not measured: ${device.reason}.` };
  const stack = device.creation.stackSlots;
  const floor = await fewestStackSlots(device.path, { code: "void 0", map: "{}" }, ["void 0"], MOST);
  const turnRows: Array<Array<string | number>> = [];
  const machineRows: Array<Array<string | number>> = [["an empty crank (`void 0`)", num(floor ?? NaN), "0"]];
  const targets: Target[] = [];
  const describe: Record<ScenarioNetwork, string> = { "gateway-gone": "broker up, gateway gone", "no-broker": "no broker (reconnecting)" };
  for (const network of ["gateway-gone", "no-broker"] as const) {
    const scenario = await firmwareScenario(network, 100, [moddableShimsPlugin]);
    const name = `firmware: started, 100 samples, ${describe[network]}`;
    // the fewest for the first k steps, k = 1..all: the deepest turn is in the step where the figure reaches its last
    const upTo: Array<number | null> = [];
    for (let k = 1; k <= scenario.steps.length; k++) {
      upTo.push(await fewestStackSlots(device.path, scenario.bundle, scenario.steps.slice(0, k), MOST_TURN, () => scenario.host(), (n) => scenario.grantTurns(n ?? stack)));
    }
    const turn = upTo[upTo.length - 1];
    const deepest = turn === null ? "n/a" : `\`${scenario.steps[upTo.indexOf(turn)]}\``;
    const ok = turn !== null && turn <= stack;
    const shown = turn === null ? `> ${num(MOST_TURN)}` : num(turn);
    turnRows.push([name, shown, deepest, turn === null ? "n/a" : num(turn + XS_ROOT_SLOTS), num(stack), met(ok)]);
    targets.push({ figure: `ESP32 firmware scenario (${describe[network]}): stack slots a turn of the run loop needs, in the device XS`, target: `≤ ${num(stack)} (the ESP32 manifest's stack)`, actual: shown, ok });
    const machine = await fewestStackSlots(device.path, scenario.bundle, scenario.steps, MOST, () => scenario.host());
    machineRows.push([name, machine === null ? `> ${num(MOST)}` : num(machine), machine === null || floor === null ? "n/a" : num(machine - floor)]);
  }
  return {
    title,
    tables: [
      {
        title: "Fewest stack slots each turn of the firmware's run loop needs (xsnap's XS made like the ESP32's)",
        how: `sim/esp32/firmware-stack.ts, sim/xs/device-stack.ts and sim/xs/device-turn.ts: the scenario of sim/esp32/memory-scenario.ts bundled and loaded (the preload, with ${num(MOST)} slots), then its steps (create, boot, 100 samples), each a crank, in a fresh device xsnap-worker per try. Every call the device's run loop would make (creating and starting the app, each timer callback, each MQTT message) is a turn: \`lichenDeviceStackHere(n)\` sets the stack's limit n slots above the point where the loop calls it, and puts the machine's back after it. n, the same for every turn, found by bisection (one slot fewer aborts with a stack overflow in the deepest turn); "its deepest turn in the step": the first step with which the scenario's first steps need as many. Counted: the turn's frames, from the called function's own (its arguments included) up. Not counted: what sits under the call, xsnap's crank and the stand-ins' loop here, XS's roots everywhere. ${num(stack)}: targets/esp32/manifest.json's stack, which the device tests grant each turn the same way. "with XS's roots": plus the ${num(XS_ROOT_SLOTS)} slots of roots and intrinsics XS keeps at the top of the same stack (\`mxStackIndexCount\` in xsnap's XS, counted from its headers, not in this run): on the ESP32 the manifest's stack holds them too, and the run loop's own call. Deterministic: measured once.`,
        columns: ["scenario", "fewest slots for a turn", "its deepest turn in the step", "with XS's roots", "the manifest's stack", "fits?"],
        rows: turnRows,
      },
      {
        title: "For comparison: the whole machine's stack (xsnap's crank and XS's roots included, the turns nested in the steps)",
        how: `The same scenario, the stack set with \`lichenDeviceStack(n)\` for the whole machine, the turns run inside the steps (as on no device: they nest under the stand-ins' loop and xsnap's crank); n found by bisection. "above an empty crank": minus what an empty crank needs (xsnap's crank and XS's roots), the part the scenario takes. This is what Moddable's simulator was measured with (section 7): mcsim's 384 slots (runs) and 352 (overflows) are its whole machine's stack, roots and run loop included, in Moddable's own XS 8.2.3.`,
        columns: ["scenario", "fewest stack slots", "above an empty crank"],
        rows: machineRows,
      },
    ],
    targets,
    notes:
      "In Moddable's simulator the whole firmware runs with 384 slots, XS's roots included: its turns fit in about 384 − 156 = 228 slots there, fewer than xsnap's XS takes for the same turns here; xsnap's XS is Agoric's fork of another XS version, and its frames of the same code are larger (not `mxDebug`: an xsnap-worker built without it needed the same slots).",
  };
}
