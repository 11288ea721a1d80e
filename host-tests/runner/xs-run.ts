// The test side of an XS test bundle (xs-bundle.ts builds the entry: this module, then the test
// file, then a call to runXsFile). The prelude comes first: console and the host channel must be in
// place before the test file's modules run.
import "../../sim/xs/prelude.js";
import { hostSend } from "../../sim/xs/host-channel.js";
import { runQueued, type ShimEvent } from "./uvu-shim.js";

/** The device xsnap-worker's global (sim/xs/device-worker.ts): the device's stack above the caller. */
declare const lichenDeviceStackHere: ((slots?: number) => number) | undefined;
/** The stack granted above the harness: the manifest's, or LICHEN_DEVICE_STACK's (xs-bundle.ts). */
declare const __LICHEN_DEVICE_STACK__: number;
/** This file's tests that need more than the device's stack, with the slots they get (stack-exceptions.ts). */
declare const __LICHEN_STACK_EXCEPTIONS__: Record<string, number>;

/** Run the queued suites of the bundled test file and report to the host: {kind:"start"} before
 * each test, {kind:"result", file, name, ok, error, stackDepth} after it, {kind:"done", passed,
 * failed} at the end. The file runs in the device worker: each test body and hook is entered with
 * the device's stack (the manifest's slots) above the harness's frames. */
export function runXsFile(file: string): void {
  if (typeof lichenDeviceStackHere !== "function") {
    hostSend({ kind: "done", passed: 0, failed: 1, error: "not the device xsnap-worker: lichenDeviceStackHere is missing (sim/xs/device-worker.ts)" });
    return;
  }
  runQueued((ev: ShimEvent) => hostSend({ ...ev, file }), { grantStack: lichenDeviceStackHere, stackSlots: __LICHEN_DEVICE_STACK__, stackExceptions: __LICHEN_STACK_EXCEPTIONS__ }).then(
    (r) => hostSend({ kind: "done", ...r }),
    (e: unknown) => hostSend({ kind: "done", passed: 0, failed: 1, error: String(e) }),
  );
}
