// The test side of an XS test bundle (xs-bundle.ts builds the entry: this module, then the test
// file, then a call to runXsFile). The prelude comes first: console and the host channel must be in
// place before the test file's modules run.
import "../../sim/xs/prelude.js";
import { hostSend } from "../../sim/xs/host-channel.js";
import { runQueued, type ShimEvent } from "./uvu-shim.js";

/** Run the queued suites of the bundled test file and report to the host: {kind:"start"} before
 * each test, {kind:"result", file, name, ok, error} after it, {kind:"done", passed, failed} at the end. */
export function runXsFile(file: string): void {
  runQueued((ev: ShimEvent) => hostSend({ ...ev, file })).then(
    (r) => hostSend({ kind: "done", ...r }),
    (e: unknown) => hostSend({ kind: "done", passed: 0, failed: 1, error: String(e) }),
  );
}
