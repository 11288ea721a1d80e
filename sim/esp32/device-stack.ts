// Runs code in the device xsnap-worker (device-worker.ts) with the device's stack, and finds the
// fewest stack slots a scenario needs. A scenario: a bundle (the preload: module bodies, run with
// the preload's stack) and then steps, each a crank the host evaluates after lichenDeviceStack(n).
// Stack use is deterministic (the same code takes the same frames), so the fewest is exact.
import { fileURLToPath } from "node:url";
import { FlashSim } from "../../src/store/flash-sim.js";
import { handleFlashOp } from "./flash-host.js";
import type { ScenarioNetwork } from "./memory-scenario.js";
import { moddableShimsPlugin } from "../moddable/shims.js";
import { bundleForXs, type XsBundle } from "../xs/bundle.js";
import { STACK_OVERFLOW_EXIT } from "../xs/device-worker.js";
import { jsonCommandHandler, XsExit, XsWorker, type XsWorkerOptions } from "../xs/worker.js";
export { STACK_OVERFLOW_EXIT };


export type StackRun = { ok: true; results: string[] } | { ok: false; overflow: boolean; error: string };

/** Loads `bundle`, sets the stack to `slots` (the device's when undefined), then runs `steps`. */
export async function runWithDeviceStack(
  bin: string,
  bundle: XsBundle,
  steps: readonly string[],
  slots: number | undefined,
  opts: Pick<XsWorkerOptions, "onCommand"> = {},
): Promise<StackRun> {
  const worker = await XsWorker.start({ ...opts, bin, name: "lichen-xs-device-stack" });
  try {
    await worker.evaluate(bundle.code);
    await worker.evaluate(slots === undefined ? "lichenDeviceStack()" : `lichenDeviceStack(${slots})`);
    const results: string[] = [];
    for (const step of steps) results.push(new TextDecoder().decode((await worker.evaluate(step)).reply));
    return { ok: true, results };
  } catch (e) {
    return { ok: false, overflow: e instanceof XsExit && e.code === STACK_OVERFLOW_EXIT, error: (e as Error).message };
  } finally {
    await worker.close().catch(() => worker.kill());
  }
}

/** The fewest stack slots (at most `most`) with which the scenario runs; null if it overflows even
 * with `most`. Fails on any error that is not a stack overflow. */
export async function fewestStackSlots(
  bin: string,
  bundle: XsBundle,
  steps: readonly string[],
  most: number,
  opts: Pick<XsWorkerOptions, "onCommand"> | (() => Pick<XsWorkerOptions, "onCommand">) = {},
): Promise<number | null> {
  const run = async (slots: number): Promise<boolean> => {
    const r = await runWithDeviceStack(bin, bundle, steps, slots, typeof opts === "function" ? opts() : opts);
    if (!r.ok && r.error.includes("lichenDeviceStack: cannot make the stack")) return false; // fewer than in use already
    if (!r.ok && !r.overflow) throw new Error(`the scenario failed with ${slots} slots, not by a stack overflow: ${r.error}`);
    return r.ok;
  };
  if (!(await run(most))) return null;
  let lo = 0; // overflows (or cannot be set)
  let hi = most; // runs
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await run(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---- the firmware's scenario ----

const SCENARIO = fileURLToPath(new URL("./memory-scenario.ts", import.meta.url));
const HOST_CHANNEL = fileURLToPath(new URL("../xs/host-channel.ts", import.meta.url));

/** A scenario of the firmware: the node app of esp32-memory.test.ts on its stand-ins (the flash on
 * the host), started, then taking samples. Each step is a crank; the flash is fresh per run. */
export interface FirmwareScenario {
  bundle: XsBundle;
  steps: readonly string[];
  /** A fresh flash on the host, for one run. */
  host(): Pick<XsWorkerOptions, "onCommand">;
}

export async function firmwareScenario(network: ScenarioNetwork, samples: number): Promise<FirmwareScenario> {
  const bundle = await bundleForXs(
    [
      `import { createScenario, remoteFlash } from ${JSON.stringify(SCENARIO)};`,
      `import { hostSend } from ${JSON.stringify(HOST_CHANNEL)};`,
      "let scenario;",
      "globalThis.firmware = {",
      "  create(network) { scenario = createScenario(remoteFlash((m) => hostSend(m)), network); },",
      "  boot() { scenario.boot(); },",
      "  samples(n) { scenario.samples(n); },",
      "};",
    ].join("\n"),
    { plugins: [moddableShimsPlugin] }, // the app's "mqtt", "timer": Moddable's modules, not npm's
  );
  return {
    bundle,
    steps: [`firmware.create(${JSON.stringify(network)})`, "firmware.boot()", `firmware.samples(${samples})`],
    host() {
      const flash = new FlashSim({ capacityBytes: 16_384 });
      return { onCommand: jsonCommandHandler((m) => handleFlashOp(flash, m as { op: string })) };
    },
  };
}
