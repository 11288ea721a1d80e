// The test side of a test file's host service (runner/host-service.ts), the same on both engines:
// in XS, messages go to the host through `hostSend` (the worker waits for the answer, which may
// take a while: the host awaits it); under Node, to the service started in this process by
// runner/node-child.ts. Nothing here runs at import time.
import { hostSend, insideXs } from "./host-channel.js";

interface InProcessService {
  handle(msg: { op: string; [key: string]: unknown }): unknown;
}

function inProcess(): InProcessService {
  const s = (globalThis as { __lichenHostService?: InProcessService }).__lichenHostService;
  if (s === undefined) throw new Error("no host service: run this test file with host-tests/run.ts, which starts the .service.ts beside it");
  return s;
}

let failure: unknown;

/** Sends a message and does not wait for the answer (in XS the host answers at once anyway).
 * Under Node, an error is thrown by the next `serviceRequest`. */
export function serviceSend(msg: { op: string; [key: string]: unknown }): void {
  if (insideXs()) {
    hostSend({ kind: "service", ...msg });
    return;
  }
  try {
    const r = inProcess().handle(msg);
    if (r instanceof Promise) r.catch((e: unknown) => (failure ??= e));
  } catch (e) {
    failure ??= e;
  }
}

/** Sends a message and resolves with the service's answer. */
export async function serviceRequest(msg: { op: string; [key: string]: unknown }): Promise<unknown> {
  if (insideXs()) return hostSend({ kind: "service", ...msg });
  if (failure !== undefined) {
    const e = failure;
    failure = undefined;
    throw e;
  }
  return await inProcess().handle(msg);
}
