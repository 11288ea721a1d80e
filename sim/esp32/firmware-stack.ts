// The firmware's scenario for the device xsnap-worker's stack (sim/xs/device-stack.ts measures it):
// the node app of esp32-memory.test.ts on its stand-ins, the flash on the host. Creating the app is
// a turn too (on the device, main's body runs from the start).
import type { Plugin } from "esbuild";
import { fileURLToPath } from "node:url";
import { FlashSim } from "../../src/store/flash-sim.js";
import { bundleForXs, type XsBundle } from "../xs/bundle.js";
import { jsonCommandHandler, type XsWorkerOptions } from "../xs/worker.js";
import { handleFlashOp } from "./flash-host.js";
import type { ScenarioNetwork } from "./memory-scenario.js";

const SCENARIO = fileURLToPath(new URL("./memory-scenario.ts", import.meta.url));
const HOST_CHANNEL = fileURLToPath(new URL("../xs/host-channel.ts", import.meta.url));
const DEVICE_TURN = fileURLToPath(new URL("../xs/device-turn.ts", import.meta.url));

/** A scenario of the firmware: the node app of esp32-memory.test.ts on its stand-ins (the flash on
 * the host), started, then taking samples. Each step is a crank; the flash is fresh per run. */
export interface FirmwareScenario {
  bundle: XsBundle;
  steps: readonly string[];
  /** The code that grants each turn of the scenario (the app's start, each timer, each MQTT message,
   * as the device's run loop calls them) `slots` above the point where the loop calls it. */
  grantTurns(slots: number): string;
  /** A fresh flash on the host, for one run. */
  host(): Pick<XsWorkerOptions, "onCommand">;
}

export async function firmwareScenario(network: ScenarioNetwork, samples: number, plugins: Plugin[]): Promise<FirmwareScenario> {
  const bundle = await bundleForXs(
    [
      `import { createScenario, remoteFlash } from ${JSON.stringify(SCENARIO)};`,
      `import { hostSend } from ${JSON.stringify(HOST_CHANNEL)};`,
      `import { deviceTurn, setDeviceTurnSlots } from ${JSON.stringify(DEVICE_TURN)};`,
      "let scenario;",
      "globalThis.firmware = {",
      "  create(network) { deviceTurn(() => { scenario = createScenario(remoteFlash((m) => hostSend(m)), network); }); },",
      "  turnSlots(n) { setDeviceTurnSlots(n); },",
      "  boot() { scenario.boot(); },",
      "  samples(n) { scenario.samples(n); },",
      "};",
    ].join("\n"),
    { plugins }, // moddableShimsPlugin: the app's "mqtt", "timer" are Moddable's modules, not npm's
  );
  return {
    bundle,
    steps: [`firmware.create(${JSON.stringify(network)})`, "firmware.boot()", `firmware.samples(${samples})`],
    grantTurns: (slots) => `firmware.turnSlots(${slots})`,
    host() {
      const flash = new FlashSim({ capacityBytes: 16_384 });
      return { onCommand: jsonCommandHandler((m) => handleFlashOp(flash, m as { op: string })) };
    },
  };
}
