// `npm test`: every check and test of lichen, on both engines, with one machine-readable last line.
//
//   tsx host-tests/run.ts [--node-only | --xs-only] [filter ...]
//
// Steps (each counts its own passes and failures into the total):
//   a. typecheck: `tsc -p tsconfig.json` (1 test);
//   b. device rules: `tsx scripts/check-device-rules.ts` (1 test);
//   c. Node: every host-tests/**/*.test.ts, one child process per file (runner/node-child.ts);
//   d. XS: the device test files (DEVICE_TEST_DIRS, except *.node.test.ts), each bundled by
//      esbuild into an IIFE and run in a fresh xsnap-worker (xs/bundle.ts, xs/worker.ts,
//      xs/prelude.ts); a file `x.test.ts` with an `x.service.ts` beside it gets that host-side
//      service for its run, on both engines (runner/host-service.ts);
//   e. integration tests are ordinary test files (they run in step c).
// With --node-only, --xs-only or a filter, steps a and b are skipped (a note says so): those
// runs are for iterating on some tests. A filter is a substring of the file's path from the repo
// root; several filters match any of them.
//
// Output: one line per test (`node ✓ file › test`, `xs   ✗ file › test: error`), the lines of a
// file together, console output of the tests indented under them; then every failure again with
// its full error; then, if a test was skipped (host-tests/runner/skip.ts: a tool it needs is missing),
// `N skipped (reasons)`; then, as the very last line, `N passed, N failed`, which counts no skipped
// test. Exit code 1 if anything failed or nothing ran.
//
// Environment: LICHEN_SEED (property tests, both engines), LICHEN_TEST_TIMEOUT_MS (per test
// under Node, default 600 000), LICHEN_FILE_TIMEOUT_MS (per file, both engines, default 900 000),
// LICHEN_JOBS (files run at once, default: CPU count + 1).
// The deadlines guard against hangs and measure nothing: they are generous because a busy 2-core
// machine (CI beside other work) runs several times slower than an idle one, and no test may fail
// for being slow.

import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { startHostService, type HostService, type ServiceMessage } from "./runner/host-service.js";
import { MARK, type RunnerEvent } from "./runner/protocol.js";
import { STACK_EXCEPTIONS } from "./runner/stack-exceptions.js";
import { bundleTestFileForXs, grantedStackSlots, xsStackMapper, type XsBundle } from "./runner/xs-bundle.js";
import { deviceXsnapWorker } from "../sim/xs/device-worker.js";
import { STACK_OVERFLOW_EXIT } from "../sim/xs/device-worker.js";
import { XsException, XsExit, XsTimeout, XsWorker, jsonCommandHandler } from "../sim/xs/worker.js";

/** Test files under these directories test code that ships to the device: they also run in XS,
 * so they may import only what bundles for XS (no Node built-ins, no Node-only packages). A file
 * there named `*.node.test.ts` (e.g. the SQLite backend's tests) runs under Node only. */
const DEVICE_TEST_DIRS = ["host-tests/core/", "host-tests/store/", "host-tests/transport/", "host-tests/device/"] as const;
const NODE_ONLY_SUFFIX = ".node.test.ts";
/** Files that take minutes (an npm install that compiles a native module): started first, so that
 * the other files run beside them instead of after them. Their results still print in order. */
const LONG_RUNNING = ["host-tests/package/"] as const;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NODE_CHILD = fileURLToPath(new URL("./runner/node-child.ts", import.meta.url));
const FILE_TIMEOUT_MS = Number(process.env.LICHEN_FILE_TIMEOUT_MS) || 900_000;
const JOBS = Number(process.env.LICHEN_JOBS) || availableParallelism() + 1;

type Engine = "node" | "xs" | "check";

interface Outcome {
  engine: Engine;
  file: string;
  name: string;
  ok: boolean;
  error?: string;
  /** Why the test did not run (a tool it needs is missing): neither passed nor failed. */
  skipped?: string;
}

/** What one file (or one check) produced: its outcomes and its printable lines, in order. */
interface Report {
  outcomes: Outcome[];
  lines: string[];
}

const label = (engine: Engine): string => engine.padEnd(5);
const firstLine = (s: string): string => s.split("\n")[0]!;

function resultLine(o: Outcome): string {
  const where = o.file ? `${o.file} › ${o.name}` : o.name;
  if (o.skipped !== undefined) return `${label(o.engine)} - ${where}: skipped: ${o.skipped}`;
  return `${label(o.engine)} ${o.ok ? "✓" : "✗"} ${where}${o.ok ? "" : `: ${firstLine(o.error ?? "failed")}`}`;
}

const logLine = (text: string): string =>
  text
    .split("\n")
    .map((l) => `        │ ${l}`)
    .join("\n");

// ---------------------------------------------------------------------------------------------
// Small process and concurrency helpers.

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(cmd: string, args: string[], timeoutMs: number, onStdout?: (chunk: string) => void): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
      onStdout?.(s);
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", (e) => (stderr += String(e)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function limiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= max) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

const tail = (s: string, n = 40): string => s.trim().split("\n").slice(-n).join("\n");
const withTail = (why: string, stderr: string): string => (stderr.trim() ? `${why}\n${tail(stderr)}` : why);

// ---------------------------------------------------------------------------------------------
// a, b: checks run as commands.

async function checkCommand(name: string, cmd: string, args: string[]): Promise<Report> {
  const r = await run(cmd, args, FILE_TIMEOUT_MS);
  const ok = r.code === 0 && !r.timedOut;
  const output = tail(`${r.stdout}\n${r.stderr}`, 60);
  const why = r.timedOut ? "timed out" : `exit code ${r.code ?? r.signal}`;
  const o: Outcome = { engine: "check", file: "", name, ok, error: ok ? undefined : `${why}\n${output}` };
  const lines = [resultLine(o)];
  if (!ok && output) lines.push(logLine(output));
  return { outcomes: [o], lines };
}

// ---------------------------------------------------------------------------------------------
// c: one test file under Node, in a child process.

async function runNodeFile(file: string): Promise<Report> {
  const rep: Report = { outcomes: [], lines: [] };
  let done = false;
  let current: string | undefined;
  const onEvent = (ev: RunnerEvent): void => {
    if (ev.kind === "start") current = ev.name;
    else if (ev.kind === "result") {
      const o: Outcome = { engine: "node", file, name: ev.name, ok: ev.ok, error: ev.error, skipped: ev.skipped };
      rep.outcomes.push(o);
      rep.lines.push(resultLine(o));
      if (current === ev.name) current = undefined;
    } else if (ev.kind === "done") done = true;
  };
  // Events and the tests' console output share the child's stdout, in order. An event is MARK +
  // JSON up to the end of the line; the child starts it on a fresh line, but text a test wrote
  // without a newline may precede the marker on the same line.
  let pending = "";
  const onStdout = (chunk: string): void => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const at = line.indexOf(MARK);
      const text = at >= 0 ? line.slice(0, at) : line;
      if (text) rep.lines.push(logLine(text));
      if (at >= 0) {
        try {
          onEvent(JSON.parse(line.slice(at + MARK.length)) as RunnerEvent);
        } catch {
          rep.lines.push(logLine(`(unreadable event) ${line}`));
        }
      }
    }
  };
  const r = await run(process.execPath, ["--import", "tsx", NODE_CHILD, file], FILE_TIMEOUT_MS, onStdout);
  if (pending) rep.lines.push(logLine(pending));
  if (!done) {
    const why = r.timedOut ? `timed out after ${FILE_TIMEOUT_MS} ms (LICHEN_FILE_TIMEOUT_MS)` : `the test process exited (code ${r.code ?? r.signal}) before the run finished`;
    const o: Outcome = { engine: "node", file, name: current ?? "(file)", ok: false, error: withTail(why, r.stderr) };
    rep.outcomes.push(o);
    rep.lines.push(resultLine(o));
  }
  // stderr of a finished run (warnings, a test's console.error): shown, not judged.
  if (done && r.stderr.trim()) rep.lines.push(logLine(r.stderr.trimEnd()));
  return rep;
}

// ---------------------------------------------------------------------------------------------
// d: one device test file inside XS.

async function runXsFile(file: string): Promise<Report> {
  const rep: Report = { outcomes: [], lines: [] };
  let mapStack = (text: string): string => text;
  const add = (name: string, ok: boolean, error?: string, skipped?: string): void => {
    const o: Outcome = { engine: "xs", file, name, ok, error: error === undefined ? undefined : mapStack(error), skipped };
    rep.outcomes.push(o);
    rep.lines.push(resultLine(o));
  };
  let bundle: XsBundle;
  try {
    bundle = await bundleTestFileForXs(file);
  } catch (e) {
    add("(bundle)", false, `esbuild could not bundle the file for XS:\n${(e as Error).message}`);
    return rep;
  }
  mapStack = xsStackMapper(bundle);
  // Device test files run in the XS made like the ESP32's, its stack included (sim/xs/device-worker.ts).
  const device = deviceXsnapWorker();
  if (!device.ok) {
    add("(device xsnap-worker)", false, undefined, device.reason);
    return rep;
  }
  // The file's host service (runner/host-service.ts), if it has one: the worker reaches it with
  // {kind: "service", op, ...}; it waits while the service works (the answer may be a promise).
  let service: HostService | undefined;
  try {
    service = await startHostService(file, ROOT);
  } catch (e) {
    add("(host service)", false, `the host service did not start:\n${(e as Error).stack ?? String(e)}`);
    return rep;
  }
  const deadline = Date.now() + FILE_TIMEOUT_MS;
  const left = (): number => Math.max(1, deadline - Date.now());
  let done = false;
  let started = false;
  let current: string | undefined;
  let slotRequests = 0;
  const depths = new Set<number>(); // the harness's stack depths where test bodies were entered
  const onMessage = (msg: unknown): unknown => {
    const ev = msg as RunnerEvent;
    if (ev.kind === "service") {
      if (service === undefined) throw new Error(`${file} has no host service (${file.replace(/\.test\.ts$/, ".service.ts")})`);
      return service.handle(ev as unknown as ServiceMessage);
    }
    if (ev.kind === "log") {
      // XS reports a promise rejected with no handler by calling console.error (our console shim)
      // with "UnhandledPromiseRejectionWarning:", and goes on: a failure, as under Node.
      if (ev.text.startsWith("UnhandledPromiseRejectionWarning:")) add("(unhandled rejection)", false, `${ev.text.slice(33).trim()}\nnoticed during: ${current ?? "(between tests)"}`);
      else rep.lines.push(logLine(mapStack(ev.text)));
    } else if (ev.kind === "start") {
      started = true;
      current = ev.name;
    } else if (ev.kind === "result") {
      started = true;
      if (ev.stackDepth !== undefined) depths.add(ev.stackDepth);
      add(ev.name, ev.ok, ev.error, ev.skipped);
      if (current === ev.name) current = undefined;
    } else if (ev.kind === "slots") slotRequests++;
    else if (ev.kind === "done") {
      done = true;
      if (ev.error !== undefined) add("(run)", false, ev.error);
    }
    return null;
  };
  let worker: XsWorker | undefined;
  try {
    worker = await XsWorker.start({ name: `lichen-xs ${file}`, bin: device.path, onCommand: jsonCommandHandler(onMessage) }, left());
    await worker.evaluate(bundle.code, left());
    // A test awaiting liveSlots() (xs/meter.ts) leaves the job loop idle: the crank ends. Answer
    // between cranks: a full gc, whose crank reports the live slot count, then resume the test.
    while (!done && slotRequests > 0) {
      slotRequests--;
      const gc = await worker.evaluate("gc()", left());
      await worker.command(new TextEncoder().encode(JSON.stringify({ value: gc.meter.currentHeapCount })), left());
    }
    if (!done) {
      add(current ?? "(run)", false, "the test run stalled: a test awaits a promise that nothing will settle (the job loop went idle; XS has no setTimeout)");
    }
  } catch (e) {
    const name = !started ? "(load)" : (current ?? "(run)");
    const what =
      e instanceof XsException
        ? "uncaught exception"
        : e instanceof XsTimeout
          ? `timed out after ${FILE_TIMEOUT_MS} ms (LICHEN_FILE_TIMEOUT_MS)`
          : e instanceof XsExit && e.code === STACK_OVERFLOW_EXIT
            ? `stack overflow: more than the ${grantedStackSlots()} slots granted above the test harness (the device's: ${device.creation.stackSlots})`
            : "worker died";
    add(name, false, `${what}: ${(e as Error).message}`);
  } finally {
    await worker?.close().catch(() => worker?.kill());
    await service?.close().catch((e: unknown) => add("(host service close)", false, String((e as Error)?.stack ?? e)));
  }
  for (const [name, e] of Object.entries(STACK_EXCEPTIONS[file] ?? {})) {
    rep.lines.push(logLine(`stack: "${name}" is granted ${e.slots} slots, more than the device's ${device.creation.stackSlots}: ${e.why} (runner/stack-exceptions.ts)`));
  }
  if (depths.size > 0) {
    const ds = [...depths].sort((a, b) => a - b);
    rep.lines.push(logLine(`stack: test bodies entered at a harness depth of ${ds.join(", ")} slots; each granted ${grantedStackSlots()} above it${grantedStackSlots() === device.creation.stackSlots ? " (the device's)" : `, not the device's ${device.creation.stackSlots} (LICHEN_DEVICE_STACK)`}`));
  }
  // What the worker printed itself (xsnap's `print`, XS diagnostics), after the results. Without
  // a console, XS reports an unhandled rejection there as "Unhandled exception ...": a failure.
  // The rest is shown, not judged.
  const blocks = `${worker?.stdout ?? ""}\n${worker?.stderr ?? ""}`.split(/\n(?=\S)/).filter((b) => b.trim());
  for (const b of blocks) {
    if (/^(UnhandledPromiseRejectionWarning|Unhandled exception)/.test(b)) add("(unhandled rejection)", false, b.trim());
    else if (done) rep.lines.push(logLine(mapStack(b.trimEnd())));
  }
  return rep;
}

// ---------------------------------------------------------------------------------------------

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith(".test.ts")) out.push(relative(ROOT, p).split(sep).join("/"));
  }
  return out.sort();
}

function usage(): never {
  console.log("usage: tsx host-tests/run.ts [--node-only | --xs-only] [file filter ...]");
  process.exit(2);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((a) => a.startsWith("--")));
  const filters = args.filter((a) => !a.startsWith("--"));
  for (const f of flags) if (!["--node-only", "--xs-only", "--help"].includes(f)) usage();
  if (flags.has("--help") || (flags.has("--node-only") && flags.has("--xs-only"))) usage();
  const full = flags.size === 0 && filters.length === 0;
  const wanted = (f: string): boolean => filters.length === 0 || filters.some((s) => f.includes(s));

  const all = findTests(join(ROOT, "host-tests")).filter(wanted);
  const nodeFiles = flags.has("--xs-only") ? [] : all;
  const xsFiles = flags.has("--node-only") ? [] : all.filter((f) => DEVICE_TEST_DIRS.some((d) => f.startsWith(d)) && !f.endsWith(NODE_ONLY_SUFFIX));

  // Everything starts at once (bounded by JOBS) and is printed in a fixed order as it completes.
  const limit = limiter(JOBS);
  const steps: Array<{ title: string; reports: Array<Promise<Report>> }> = [];
  const notes: string[] = [];
  if (full) {
    steps.push({ title: "typecheck", reports: [limit(() => checkCommand("typecheck (tsc -p tsconfig.json)", join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"]))] });
    steps.push({ title: "device rules", reports: [limit(() => checkCommand("device rules (scripts/check-device-rules.ts)", process.execPath, ["--import", "tsx", "scripts/check-device-rules.ts"]))] });
  } else notes.push("note: typecheck and device rules skipped (an engine flag or a filter was given)");
  if (!flags.has("--xs-only")) {
    const long = (f: string): boolean => LONG_RUNNING.some((d) => f.startsWith(d));
    const started = new Map([...nodeFiles.filter(long), ...nodeFiles.filter((f) => !long(f))].map((f) => [f, limit(() => runNodeFile(f))]));
    steps.push({ title: `node: ${nodeFiles.length} file(s)`, reports: nodeFiles.map((f) => started.get(f)!) });
  }
  if (!flags.has("--node-only")) steps.push({ title: `xs: ${xsFiles.length} device file(s) (${DEVICE_TEST_DIRS.join(", ")})`, reports: xsFiles.map((f) => limit(() => runXsFile(f))) });

  for (const n of notes) console.log(n);
  const outcomes: Outcome[] = [];
  for (const step of steps) {
    console.log(`── ${step.title}`);
    for (const p of step.reports) {
      const rep = await p;
      for (const l of rep.lines) console.log(l);
      outcomes.push(...rep.outcomes);
    }
  }

  const skipped = outcomes.filter((o) => o.skipped !== undefined);
  const failed = outcomes.filter((o) => !o.ok && o.skipped === undefined);
  const passed = outcomes.filter((o) => o.ok).length;
  if (failed.length) {
    console.log(`\n── ${failed.length} failure(s)`);
    for (const o of failed) {
      console.log(`\n${label(o.engine)} ✗ ${o.file ? `${o.file} › ` : ""}${o.name}`);
      console.log((o.error ?? "failed").replace(/^/gm, "    "));
    }
    console.log("");
  }
  if (outcomes.length === 0) console.log("no tests ran");
  // skipped tests count as neither: said here, before the last line, with their reasons above
  if (skipped.length) console.log(`${skipped.length} skipped (${[...new Set(skipped.map((o) => o.skipped))].join("; ")})`);
  console.log(`${passed} passed, ${failed.length} failed`);
  return failed.length > 0 || outcomes.length === 0 ? 1 : 0;
}

process.exitCode = await main();
