// Property tests through fast-check, with seeds that are always printed and always replayable.
//
//   import { fc, property, checkProperty } from "../prop.js";
//   test("merge commutes", () => {
//     property("merge commutes", [arbState, arbState], (a, b) => { assert.equal(merge(a, b), merge(b, a)); });
//   });
//   test("async", async () => {
//     await checkProperty("async thing", fc.asyncProperty(fc.nat(), async (n) => { ... }));
//   });
//
// Seeds:
// - Node: a fresh random seed per property, unless LICHEN_SEED is set;
// - XS: seed 42 unless LICHEN_SEED was set when run.ts built the bundle (it is passed in through
//   the esbuild define __LICHEN_SEED__), and fewer runs (XS is slower): opts.xsRuns, default
//   min(numRuns, 25).
// Every call prints `property "<name>": seed=N runs=R (engine)`. A failure throws an Error with
// the seed, fast-check's counterexample (after shrinking) and the replay command
// `LICHEN_SEED=N npm test`.
//
// fast-check 4 builds objects with a null prototype by default (fc.record, fc.object,
// fc.dictionary, ...), which uvu's assert.equal finds unequal to `{}` literals: pass
// `{ noNullPrototype: true }` to those arbitraries.

import fc from "fast-check";
import { ENGINE } from "./engine.js";
import { describeError } from "./runner/describe-error.js";

export { fc };

declare const __LICHEN_SEED__: number | undefined;

export interface PropOptions {
  /** Runs under Node. Default 100 (fast-check's default). */
  numRuns?: number;
  /** Runs under XS. Default min(numRuns, 25). */
  xsRuns?: number;
  /** A fixed seed for this property (prefer LICHEN_SEED when replaying). */
  seed?: number;
  /** Extra fast-check parameters (e.g. endOnFailure, maxSkipsPerRun). */
  fcParams?: Omit<fc.Parameters<unknown>, "seed" | "numRuns">;
}

function envSeed(): number | undefined {
  if (typeof __LICHEN_SEED__ !== "undefined" && __LICHEN_SEED__ !== null) return __LICHEN_SEED__;
  const raw = typeof process !== "undefined" ? process.env?.LICHEN_SEED : undefined;
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`LICHEN_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

function plan(name: string, opts: PropOptions): { seed: number; numRuns: number } {
  const seed = opts.seed ?? envSeed() ?? (ENGINE === "xs" ? 42 : Math.floor(Math.random() * 0x7fffffff));
  const nodeRuns = opts.numRuns ?? 100;
  const numRuns = ENGINE === "xs" ? (opts.xsRuns ?? Math.min(nodeRuns, 25)) : nodeRuns;
  console.log(`property "${name}": seed=${seed} runs=${numRuns} (${ENGINE})`);
  return { seed, numRuns };
}

function verdict(name: string, seed: number, details: fc.RunDetails<unknown>): void {
  if (!details.failed) return;
  const report = fc.defaultReportMessage(details) ?? "(no report)";
  const cause = details.errorInstance ? `\nthe predicate threw: ${describeError(details.errorInstance)}` : "";
  const flag = ENGINE === "xs" ? "--xs-only " : "";
  const err = new Error(
    `property "${name}" failed on ${ENGINE} with seed=${seed}\n` +
      `${report}${cause}\n` +
      `replay: LICHEN_SEED=${seed} npm test -- ${flag}<file filter>`,
  );
  // The predicate's own error already says where it failed: no second location.
  if (cause) Object.defineProperty(err, "stack", { value: err.message, configurable: true, writable: true });
  throw err;
}

/** Check a fast-check property (from fc.property or fc.asyncProperty) with a printed seed.
 * Returns a promise for an async property: await it. */
export function checkProperty<Ts>(name: string, prop: fc.IProperty<Ts>, opts?: PropOptions): void;
export function checkProperty<Ts>(name: string, prop: fc.IAsyncProperty<Ts>, opts?: PropOptions): Promise<void>;
export function checkProperty<Ts>(
  name: string,
  prop: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  opts: PropOptions = {},
): void | Promise<void> {
  const { seed, numRuns } = plan(name, opts);
  const params = { ...(opts.fcParams as fc.Parameters<Ts> | undefined), seed, numRuns };
  if (prop.isAsync()) {
    return fc.check(prop as fc.IAsyncProperty<Ts>, params).then((d) => verdict(name, seed, d as fc.RunDetails<unknown>));
  }
  verdict(name, seed, fc.check(prop as fc.IProperty<Ts>, params) as fc.RunDetails<unknown>);
}

/** Shorthand for a synchronous property: `property(name, [arbA, arbB], (a, b) => ..., opts)`.
 * The predicate fails by returning false or by throwing (e.g. a uvu assertion). */
export function property<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => boolean | void,
  opts?: PropOptions,
): void {
  const prop = (fc.property as unknown as (...args: unknown[]) => fc.IProperty<Ts>)(...arbitraries, predicate);
  checkProperty(name, prop, opts);
}
