// Host-side services of test files (Node only).
//
// A test file `x.test.ts` may come with `x.service.ts` beside it: a module exporting
// `start(): Promise<HostService>`. The runner starts it before the file's tests and closes it after:
// - in XS (run.ts), the worker reaches it with `hostSend({ kind: "service", op, ... })`
//   (sim/xs/host-channel.ts): the host answers with `await service.handle(msg)`, while the
//   worker waits (the Node event loop runs meanwhile: brokers, sockets, timers);
// - under Node (runner/node-child.ts), it is started in the test's own process and put on
//   `globalThis.__lichenHostService`, so the same test code reaches it in process.
// sim/xs/service-bridge.ts hides the difference from the test (and from shims).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export interface ServiceMessage {
  readonly op: string;
  readonly [key: string]: unknown;
}

export interface HostService {
  /** Answers one message from the test; JSON in, JSON out (a promise is awaited). */
  handle(msg: ServiceMessage): unknown;
  close(): Promise<void>;
}

export const SERVICE_GLOBAL = "__lichenHostService";

/** The service file of a test file (a path from `root`), if it exists. */
export function serviceFileOf(testFile: string, root: string): string | undefined {
  if (!testFile.endsWith(".test.ts")) return undefined;
  const p = join(root, testFile.slice(0, -".test.ts".length) + ".service.ts");
  return existsSync(p) ? p : undefined;
}

/** Starts the service of a test file, if it has one. */
export async function startHostService(testFile: string, root: string): Promise<HostService | undefined> {
  const file = serviceFileOf(testFile, root);
  if (file === undefined) return undefined;
  const mod = (await import(pathToFileURL(file).href)) as { start?: () => Promise<HostService> };
  if (typeof mod.start !== "function") throw new Error(`${file} must export start(): Promise<HostService>`);
  return mod.start();
}
