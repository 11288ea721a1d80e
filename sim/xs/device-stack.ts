// Runs code in the device xsnap-worker (device-worker.ts) with the device's stack, and finds the
// fewest stack slots a scenario needs. A scenario: a bundle (the preload: module bodies, run with
// the preload's stack) and then steps, each a crank the host evaluates after lichenDeviceStack(n).
// Stack use is deterministic (the same code takes the same frames), so the fewest is exact.
import type { XsBundle } from "./bundle.js";
import { STACK_OVERFLOW_EXIT } from "./device-worker.js";
import { XsExit, XsWorker, type XsWorkerOptions } from "./worker.js";


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
