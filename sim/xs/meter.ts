// The XS meter, for tests that run inside xsnap-worker (the device test files; see run.ts).
// Under Node every function here returns undefined, so a test can do
//   const n = await retainedSlots(() => map.set("k", 1));
//   if (n !== undefined) assert.is(n, 0);
//
// What is measured (see worker.ts for the meter itself):
// - compute: XS's meter index, a count of executed bytecodes (plus extra units for string
//   concatenation, BigInt and regexp work). Deterministic: the same code gives the same number on
//   every run. It is not time.
// - live slots: after a full `gc()`, XS's `currentHeapCount` is the exact number of live slots
//   (the 32-byte cells of objects, properties, closures, ...; 16 bytes each on an ESP32). String
//   and ArrayBuffer bodies live in chunks and are not counted.
//
// Benchmarks driving a worker from the host use `measureXs` in worker.ts instead (same meter).

import { hostRequest, insideXs } from "./host-channel.js";

interface MeterGlobals {
  currentMeterLimit?: () => number;
  resetMeter?: (newLimit: number, newIndex: number) => number;
}
const g = globalThis as MeterGlobals;

function rawCompute(fn: () => unknown): number {
  const limit = g.currentMeterLimit!(); // 0 unless the worker runs with a meter limit (-l)
  const before = g.resetMeter!(limit, 0); // returns the crank's meter so far, restarts it at 0
  fn();
  const used = g.resetMeter!(limit, 0);
  g.resetMeter!(limit, before + used); // give the crank its total back
  return used;
}

const noop = (): void => {};

/** Compute spent by the synchronous call `fn()`, minus the cost of calling an empty function the
 * same way. Deterministic. Only synchronous work is counted: if fn returns a promise, what runs
 * after its first await is not. undefined under Node. */
export function computeOf(fn: () => unknown): number | undefined {
  if (typeof g.resetMeter !== "function" || typeof g.currentMeterLimit !== "function") return undefined;
  const overhead = rawCompute(noop);
  return rawCompute(fn) - overhead;
}

/** The exact number of live slots after a full garbage collection. The host answers this between
 * cranks: it evaluates `gc()` and reads `currentHeapCount` from the crank's meter. The count
 * includes the test runner and this pending call; compare two counts, or use retainedSlots.
 * undefined under Node. */
export async function liveSlots(): Promise<number | undefined> {
  if (!insideXs()) return undefined;
  return (await hostRequest({ kind: "slots" })) as number;
}

/** Slots that `await fn()` leaves reachable: live slots after it, minus live slots before it,
 * minus the drift of the measurement itself (every evaluate crank keeps one slot; measured with an
 * empty round just before). Warm up first (call the operation once) if the first call creates
 * caches or shapes. fn's return value is dropped, so it is not counted. undefined under Node. */
export async function retainedSlots(fn: () => unknown): Promise<number | undefined> {
  if (!insideXs()) return undefined;
  const a = (await liveSlots())!;
  const b = (await liveSlots())!;
  await fn();
  const c = (await liveSlots())!;
  return c - b - (b - a);
}
