// Runs ONE test file under Node, in its own process: `tsx host-tests/runner/node-child.ts <file>`.
//
// Why a child per file, with our own uvu stand-in: uvu prints a human summary and keeps no
// per-test results, so the file's `import ... from "uvu"` is resolved to host-tests/runner/uvu-shim.ts
// (the same runner the XS bundles use) by a module resolve hook, and every event goes to the parent
// as one line on stdout: MARK + JSON. A process per file isolates module state and lets the parent
// kill a file that hangs. An exception while importing the file is reported as a failed
// "(load)" test, never lost.
import { register } from "node:module";
import { writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { MODDABLE_SHIMS } from "../../sim/moddable/shims.js";
import { SERVICE_GLOBAL, startHostService, type HostService } from "./host-service.js";
import { MARK } from "./protocol.js";

/** A test's deadline under Node unless LICHEN_TEST_TIMEOUT_MS says otherwise. */
const DEFAULT_TEST_TIMEOUT_MS = 600_000;

const shimUrl = new URL("./uvu-shim.ts", import.meta.url).href;
const moddableShims = Object.fromEntries(Object.entries(MODDABLE_SHIMS).map(([name, path]) => [name, pathToFileURL(path).href]));
register("./resolve-hook.mjs", import.meta.url, { data: { shimUrl, moddableShims } });

// Imported after register() and by the same URL the hook returns, so the test file and this
// driver share one instance of the shim (one queue).
const { runQueued, describeError } = (await import(shimUrl)) as typeof import("./uvu-shim.js");

const send = (ev: object): void => {
  writeSync(1, `\n${MARK}${JSON.stringify(ev)}\n`);
};

const file = process.argv[2];
if (!file) {
  console.error("usage: node-child.ts <test file>");
  process.exit(2);
}

let current = "(load)";
// A rejection nobody handles, or an exception thrown from a callback, is a failure of its own,
// named after the test that was running when Node noticed it (maybe not the one that caused it).
process.on("unhandledRejection", (e) => {
  send({ kind: "result", name: "(unhandled rejection)", ok: false, error: `${describeError(e)}\nnoticed during: ${current}`, ms: 0 });
});
process.on("uncaughtException", (e) => {
  send({ kind: "result", name: "(uncaught exception)", ok: false, error: `${describeError(e)}\nnoticed during: ${current}`, ms: 0 });
});

// The file's host service (runner/host-service.ts), if it has one: in this process, for the test
// code to reach through globalThis (sim/xs/service-bridge.ts).
let service: HostService | undefined;
let loaded = false;
try {
  service = await startHostService(file, process.cwd());
  if (service !== undefined) (globalThis as Record<string, unknown>)[SERVICE_GLOBAL] = service;
  await import(pathToFileURL(resolve(file)).href);
  loaded = true;
} catch (e) {
  send({ kind: "result", name: "(load)", ok: false, error: describeError(e), ms: 0 });
}
if (loaded) {
  // A test's deadline guards against a hang; it is no measure of speed. Generous, since a 2-core
  // machine shared with other work can run many times slower than an idle one.
  const timeoutMs = Number(process.env.LICHEN_TEST_TIMEOUT_MS) || DEFAULT_TEST_TIMEOUT_MS;
  const r = await runQueued(
    (ev) => {
      if (ev.kind === "start") current = ev.name;
      send(ev);
    },
    { timeoutMs },
  );
  current = "(after the tests)";
  await service?.close().catch((e: unknown) => send({ kind: "result", name: "(host service close)", ok: false, error: describeError(e), ms: 0 }));
  // Node reports unhandled rejections after the microtask queue drains: give it one turn.
  await new Promise((resolve) => setImmediate(resolve));
  send({ kind: "done", ...r });
} else {
  await service?.close().catch(() => {});
  send({ kind: "done", passed: 0, failed: 1 });
}
// Exit when the event loop is empty, or in 1 s at the latest: a test that left a socket or a
// timer open must not hang the run. (Not process.exit() at once: on macOS, pipes are
// asynchronous and the tests' last console output could be lost.)
setTimeout(() => process.exit(0), 1000).unref();
