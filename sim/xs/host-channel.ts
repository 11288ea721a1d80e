// The channel from code running inside xsnap-worker to the host process (run.ts / worker.ts).
//
// Worker → host: `hostSend(msg)` JSON-encodes msg into an ArrayBuffer and calls xsnap-worker's
// `issueCommand`, which blocks until the host answers; the answer is JSON too.
//
// Host → worker, in a later crank: some questions can only be answered between cranks (the live
// slot count is only reported at the end of a crank, see worker.ts). `hostRequest(msg)` sends msg
// and returns a promise; the test that awaits it leaves the job loop idle, the crank ends, the host
// does its work (e.g. evaluates `gc()`), then sends `{ value }` with the '?' command, which calls
// `globalThis.handleCommand` (installed by `installHandleCommand`) and resolves the oldest waiting
// request. The job loop then continues the test run in that new crank.
//
// Nothing here runs at import time, so Node can import modules that import this one.

type IssueCommand = (request: ArrayBuffer) => ArrayBuffer;

interface XsGlobals {
  issueCommand?: IssueCommand;
  handleCommand?: (request: ArrayBuffer) => ArrayBuffer;
  __lichenWaiting?: Array<(value: unknown) => void>;
}

const g = globalThis as XsGlobals;

export function insideXs(): boolean {
  return typeof g.issueCommand === "function";
}

/** Send a JSON message to the host and return its JSON answer. Throws outside xsnap-worker, or if
 * the host's handler threw (the host answers `{ $error }`). */
export function hostSend(msg: object): unknown {
  if (!g.issueCommand) throw new Error("hostSend: not running inside xsnap-worker");
  const bytes = new TextEncoder().encode(JSON.stringify(msg));
  const reply = g.issueCommand(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const text = new TextDecoder("utf-8").decode(new Uint8Array(reply));
  const answer: unknown = text ? JSON.parse(text) : null;
  if (answer !== null && typeof answer === "object" && "$error" in answer) {
    throw new Error(`host handler failed: ${String((answer as { $error: unknown }).$error)}`);
  }
  return answer;
}

/** Send msg (it must carry a `kind` the host answers between cranks) and wait for the answer. */
export function hostRequest(msg: { kind: string }): Promise<unknown> {
  const waiting = (g.__lichenWaiting ??= []);
  return new Promise((resolve) => {
    waiting.push(resolve);
    hostSend(msg);
  });
}

/** Install `globalThis.handleCommand`, which xsnap-worker calls for the host's '?' command. */
export function installHandleCommand(): void {
  g.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
    const msg = JSON.parse(new TextDecoder("utf-8").decode(new Uint8Array(request))) as { value?: unknown };
    const resolve = (g.__lichenWaiting ??= []).shift();
    if (!resolve) throw new Error("handleCommand: no request is waiting for the host");
    resolve(msg.value);
    return new ArrayBuffer(0);
  };
}
