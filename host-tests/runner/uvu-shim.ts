// A stand-in for `uvu` (its `test`/`suite` API) that reports every test's result as an event.
//
// Test files import { test, suite } from "uvu" as usual and stay runnable on their own with the
// real uvu (`npx tsx host-tests/core/harness.test.ts`). Under `npm test` that import resolves here,
// on both engines, so Node and XS run tests with the same semantics and report the same events:
// - XS: esbuild bundles each device test file with "uvu" → this file (run.ts);
// - Node: a module resolve hook maps "uvu" → this file in each test file's child process
//   (runner/node-child.ts).
// uvu itself cannot do this: its runner only prints text and keeps no per-test results.
//
// Semantics follow uvu 0.5: `.run()` queues a snapshot of the suite's tests and hooks and resets the
// suite; queued suites run one after the other, in order, when the driver calls `runQueued`.
// Hooks: before / after (once per suite), before.each / after.each (around every test; after.each
// also runs when the test failed). Differences, chosen for honesty in CI:
// - `test.skip(...)` reports a failure (a skipped test must not pass silently);
// - `test.only(...)` runs only the `.only` tests of that suite, and reports one extra failure;
// - tests registered but never `.run()`, and a file with no test at all, report a failure;
// - a test (with its each-hooks) that has not settled after `timeoutMs` fails, where setTimeout
//   exists (Node). XS has no timers: there the host's deadline on the whole file applies, and a
//   test that awaits a promise nobody can resolve is caught when the job loop goes idle (run.ts).

import { describeError } from "./describe-error.js";
import { skipReason } from "./skip.js";
import { setDeviceTurnSlots } from "../../sim/xs/device-turn.js";

export { describeError };

export type Crumbs = { __suite__: string; __test__: string };
export type Context = Record<string, any>;
export type Callback<T = Context> = (context: T & Crumbs) => Promise<void> | void;

export interface Hook<T> {
  (hook: Callback<T>): void;
  each(hook: Callback<T>): void;
}

export interface Test<T = Context> {
  (name: string, fn: Callback<T>): void;
  only(name: string, fn: Callback<T>): void;
  skip(name?: string, fn?: Callback<T>): void;
  before: Hook<T>;
  after: Hook<T>;
  run(): void;
}

export type ShimEvent =
  | { kind: "start"; name: string }
  | { kind: "result"; name: string; ok: boolean; error?: string; ms: number; skipped?: string; stackDepth?: number };

export interface RunOptions {
  /** Per-test deadline in ms where setTimeout exists. Default 30 000. */
  timeoutMs?: number;
  /** Called right before each test body and hook, from the frame that then calls it (so it sees
   * the harness's depth there); returns that depth in stack slots. XS's device worker passes
   * lichenDeviceStackHere: the code under test gets the device's stack above the harness. */
  grantStack?: (slots: number) => number;
  /** The slots grantStack grants. */
  stackSlots?: number;
  /** Tests (full name, "suite › test") granted other slots than stackSlots: stack-exceptions.ts. */
  stackExceptions?: Readonly<Record<string, number>>;
}

/** The slots granted to the test running now (fast-check's predicates get as many: xs-bundle.ts). */
let currentStackSlots = 0;
export const grantedStackSlots = (): number => currentStackSlots;

/** The running test's slots, for its body and for each turn of a simulated event loop it drives. */
function useStackSlots(slots: number): number {
  currentStackSlots = slots;
  setDeviceTurnSlots(slots);
  return slots;
}

type AnyCallback = Callback<any>;
interface Entry {
  name: string;
  fn: AnyCallback;
}
interface SuiteData {
  name: string;
  state: Context & Crumbs;
  tests: Entry[];
  only: Entry[];
  skips: string[];
  before: AnyCallback[];
  after: AnyCallback[];
  bEach: AnyCallback[];
  aEach: AnyCallback[];
}

const emptySuite = (name: string, state: Context & Crumbs): SuiteData => ({
  name,
  state,
  tests: [],
  only: [],
  skips: [],
  before: [],
  after: [],
  bEach: [],
  aEach: [],
});

// Module state: one test file per process / per XS worker, so this is per file.
const created: SuiteData[] = []; // every suite, to find tests never `.run()`
const queue: SuiteData[] = []; // snapshots made by `.run()`, in order

export function suite<T = Context>(name = "", context?: T): Test<T> {
  const state = (context ?? {}) as Context & Crumbs;
  state.__suite__ = name;
  state.__test__ = "";
  let data = emptySuite(name, state);
  created.push(data);
  const test = ((n: string, fn: AnyCallback) => void data.tests.push({ name: n, fn })) as Test<T>;
  const before = ((fn: AnyCallback) => void data.before.push(fn)) as Hook<T>;
  before.each = (fn) => void data.bEach.push(fn as AnyCallback);
  const after = ((fn: AnyCallback) => void data.after.push(fn)) as Hook<T>;
  after.each = (fn) => void data.aEach.push(fn as AnyCallback);
  test.before = before;
  test.after = after;
  test.only = (n, fn) => void data.only.push({ name: n, fn: fn as AnyCallback });
  test.skip = (n) => void data.skips.push(n ?? "(unnamed)");
  test.run = () => {
    queue.push(data);
    const i = created.indexOf(data);
    data = emptySuite(name, state);
    created[i] = data;
  };
  return test;
}

export const test: Test<Context> = suite();

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

function settle(value: unknown, timeoutMs: number, what: string): Promise<void> | void {
  if (!value || typeof (value as PromiseLike<unknown>).then !== "function") return;
  const p = Promise.resolve(value as PromiseLike<unknown>).then(() => {});
  if (typeof setTimeout !== "function") return p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function runSuite(s: SuiteData, report: (ev: ShimEvent) => void, timeoutMs: number, grant?: (slots: number) => number, stackSlots = 0, exceptions: Readonly<Record<string, number>> = {}): Promise<void> {
  let slots = useStackSlots(stackSlots);
  const prefix = s.name ? `${s.name} › ` : "";
  const fail = (name: string, error: string): void => report({ kind: "result", name: prefix + name, ok: false, error, ms: 0 });
  const state = s.state;
  for (const name of s.skips) fail(name, "test.skip: a skipped test counts as failed; remove .skip");
  const list = s.only.length ? s.only : s.tests;
  if (s.only.length) fail("(test.only)", `test.only ran ${s.only.length} of ${s.only.length + s.tests.length} tests; remove .only`);

  let beforeError: string | undefined;
  try {
    for (const h of s.before) {
      grant?.(slots);
      await settle(h(state), timeoutMs, "before hook");
    }
  } catch (e) {
    beforeError = `before hook failed: ${describeError(e)}`;
  }
  for (const t of list) {
    state.__test__ = t.name;
    if (beforeError) {
      fail(t.name, beforeError);
      continue;
    }
    report({ kind: "start", name: prefix + t.name });
    slots = useStackSlots(exceptions[prefix + t.name] ?? exceptions["*"] ?? stackSlots); // "*": every test of the file
    const t0 = now();
    let stackDepth: number | undefined;
    try {
      for (const h of s.bEach) {
        grant?.(slots);
        await settle(h(state), timeoutMs, "before.each hook");
      }
      stackDepth = grant?.(slots); // the harness's depth where the body is entered
      await settle(t.fn(state), timeoutMs, "test");
      for (const h of s.aEach) {
        grant?.(slots);
        await settle(h(state), timeoutMs, "after.each hook");
      }
      report({ kind: "result", name: prefix + t.name, ok: true, ms: now() - t0, stackDepth });
    } catch (e) {
      try {
        for (const h of s.aEach) await settle(h(state), timeoutMs, "after.each hook");
      } catch {
        // the test already failed; its own error is the one to report
      }
      const skipped = skipReason(e);
      // a skip is neither a pass nor a failure: ok is false so that nothing counts it as passed
      if (skipped !== undefined) report({ kind: "result", name: prefix + t.name, ok: false, skipped, ms: now() - t0 });
      else report({ kind: "result", name: prefix + t.name, ok: false, error: describeError(e), ms: now() - t0, stackDepth });
    }
  }
  state.__test__ = "";
  slots = useStackSlots(stackSlots);
  try {
    for (const h of s.after) {
      grant?.(slots);
      await settle(h(state), timeoutMs, "after hook");
    }
  } catch (e) {
    fail("(after hook)", describeError(e));
  }
}

/** Run every queued suite, reporting each test. Called once per file by the driver (Node child or
 * XS prelude) after the test file was imported. Never throws. */
export async function runQueued(report: (ev: ShimEvent) => void, opts: RunOptions = {}): Promise<{ passed: number; failed: number }> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let passed = 0;
  let failed = 0;
  const count = (ev: ShimEvent): void => {
    if (ev.kind === "result" && ev.skipped === undefined) ev.ok ? passed++ : failed++;
    report(ev);
  };
  let ran = 0;
  while (queue.length) {
    const s = queue.shift()!;
    ran += s.tests.length + s.only.length + s.skips.length;
    try {
      await runSuite(s, count, timeoutMs, opts.grantStack, opts.stackSlots, opts.stackExceptions);
    } catch (e) {
      count({ kind: "result", name: `${s.name || "(suite)"} › (runner)`, ok: false, error: describeError(e), ms: 0 });
    }
  }
  for (const s of created) {
    const n = s.tests.length + s.only.length + s.skips.length;
    if (n) count({ kind: "result", name: `${s.name ? s.name + " › " : ""}(not run)`, ok: false, error: `${n} test(s) registered but .run() was never called`, ms: 0 });
    ran += n;
  }
  if (ran === 0) count({ kind: "result", name: "(no tests)", ok: false, error: "the file registered no tests", ms: 0 });
  return { passed, failed };
}

/** uvu's `exec`, for code that calls it: runs the queue and prints one line per test. */
export async function exec(): Promise<void> {
  const { failed } = await runQueued((ev) => {
    if (ev.kind === "result") console.log(ev.skipped !== undefined ? `- ${ev.name}: skipped: ${ev.skipped}` : `${ev.ok ? "✓" : "✗"} ${ev.name}${ev.ok ? "" : `: ${ev.error}`}`);
  });
  if (failed && typeof process !== "undefined") process.exitCode = 1;
}
