// Runs code in the device xsnap-worker (device-worker.ts) with the device's stack, and finds the
// fewest stack slots a scenario needs. A scenario: a bundle (the preload: module bodies, run with
// the preload's stack) and then steps, each a crank the host evaluates after the stack is set: by
// default lichenDeviceStack(n), n slots for the whole machine (xsnap's crank and XS's roots
// included); or a grant of the scenario's own (`grant`), such as n slots for each turn of its
// simulated run loop above the point where the loop calls it (device-turn.ts), the rest of the
// machine keeping the preload's stack. Stack use is deterministic (the same code takes the same
// frames), so the fewest is exact.
import type { XsBundle } from "./bundle.js";
import { STACK_OVERFLOW_EXIT } from "./device-worker.js";
import { XsExit, XsWorker, type XsWorkerOptions } from "./worker.js";


export type StackRun = { ok: true; results: string[] } | { ok: false; overflow: boolean; error: string };

/** The code that gives the scenario `slots` of stack (the whole machine's when undefined: the device's). */
export type StackGrant = (slots: number | undefined) => string;

/** The whole machine's stack: `slots`, or the device's. */
export const machineStack: StackGrant = (slots) => (slots === undefined ? "lichenDeviceStack()" : `lichenDeviceStack(${slots})`);

/** Loads `bundle`, sets the stack to `slots` (the device's when undefined), then runs `steps`. */
export async function runWithDeviceStack(
  bin: string,
  bundle: XsBundle,
  steps: readonly string[],
  slots: number | undefined,
  opts: Pick<XsWorkerOptions, "onCommand"> = {},
  grant: StackGrant = machineStack,
): Promise<StackRun> {
  const worker = await XsWorker.start({ ...opts, bin, name: "lichen-xs-device-stack" });
  try {
    await worker.evaluate(bundle.code);
    await worker.evaluate(grant(slots));
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
  grant: StackGrant = machineStack,
): Promise<number | null> {
  const run = async (slots: number): Promise<boolean> => {
    const r = await runWithDeviceStack(bin, bundle, steps, slots, typeof opts === "function" ? opts() : opts, grant);
    if (!r.ok && r.error.includes("lichenDeviceStack: cannot make the stack")) return false; // fewer than in use already
    if (!r.ok && r.error.includes("lichenDeviceStackHere: cannot grant")) return false; // more than the machine's stack holds
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
