// Drive Moddable's XS engine from Node through @agoric/xsnap's `xsnap-worker` binary.
//
// We never import @agoric/xsnap's JavaScript API: it imports @endo/init, which locks down
// (SES-hardens) the whole Node process. Instead we spawn the binary and speak its protocol,
// learned from node_modules/@agoric/xsnap/src/xsnap.js and
// xsnap-native/xsnap/sources/xsnap-worker.c:
//
//   Framing: netstrings (`<len>:<bytes>,`) on fd 3 (host → worker) and fd 4 (worker → host).
//   Host → worker, first byte of a netstring:
//     'e' + JS source  evaluate the source as a script (global `eval`), then run the job loop
//                      (promise jobs and setImmediate callbacks) until it is idle.
//     '?' + bytes      call `globalThis.handleCommand(ArrayBuffer)` in the worker, then run the
//                      job loop until idle.
//     '/' + bytes      the reply to the worker's pending `issueCommand` (only while one is pending).
//     'R'              "ready?" → answered by '.'.
//     'q'              quit (the worker exits 0).
//   Worker → host:
//     '?' + bytes      `issueCommand(ArrayBuffer)` inside the worker. The worker blocks, synchronously,
//                      until the host writes '/' + reply; `issueCommand` returns the reply as an ArrayBuffer.
//     '.' + meterJSON + '\x01' + bytes
//                      a crank ('e' or '?') finished. meterJSON is
//                      {"currentHeapCount":N,"compute":N,"allocate":N,"timestamps":[...]};
//                      bytes is the completion value if it is an ArrayBuffer (or its `.result`), else empty.
//     '!' + text       the crank threw: text is String(exception).
//   A crank = one 'e' or '?' command with everything its job loop runs. The whole test run of a
//   file is one crank (the runner is a promise chain drained by the job loop), except when a test
//   asks for live slots (see runTestBundle / liveSlots in meter.ts).
//
// The meter (what each '.' reply carries, exactly):
//   compute          XS's meter index for the crank: it is reset to 0 when the crank starts and
//                    counts executed bytecodes (plus extra units for string concatenation, BigInt
//                    arithmetic, regexp steps). It is deterministic: the same code in a fresh worker gives
//                    the same number on every run and every machine. Not time.
//   currentHeapCount the number of slots (the fixed-size 32-byte cells of XS's heap on a 64-bit host;
//                    16 bytes on an ESP32) in use when the reply is written: the live count at the last
//                    garbage collection plus every slot allocated since. Right after `gc()` it is the
//                    exact number of live slots. Chunks (string bodies, ArrayBuffer bytes, array item
//                    storage) are not slots and not counted.
//   allocate         bytes the machine has reserved from the OS (chunk + slot heaps), a high-water mark.
//
// Inside the worker, xsnap-worker defines these globals (xsBuildAgent in xsnap-worker.c):
//   issueCommand, handleCommand (ours to define), print (to the worker's stdout), gc, setImmediate,
//   performance.now, currentMeterLimit(), resetMeter(newLimit, newIndex) → previous index,
//   TextEncoder, TextDecoder, base64 helpers, harden.
// Missing: console, setTimeout/setInterval, queueMicrotask, structuredClone, crypto, URL, Intl, Buffer.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Readable, Writable } from "node:stream";

/** Meter data reported by xsnap-worker at the end of every crank. See the header comment. */
export interface XsMeter {
  compute: number;
  currentHeapCount: number;
  allocate: number;
  /** Bytes of chunks in use (XS's currentChunksSize; after gc(), the live ones), when the worker
   * reports it: the stock xsnap-worker does not; a build of it patched to add
   * "currentChunksSize" to its meter JSON does (XSNAP_WORKER points at it; see bench/esp32.ts). */
  chunks?: number;
}

export interface XsCrankResult {
  meter: XsMeter;
  /** The completion value's bytes if it was an ArrayBuffer, else empty. */
  reply: Uint8Array;
}

/** The worker threw from the evaluated script or from handleCommand (the message is String(exception)). */
export class XsException extends Error {
  override name = "XsException";
}
/** The worker process exited or was killed while we waited for it. */
export class XsExit extends Error {
  override name = "XsExit";
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}
/** A wait exceeded its deadline; the worker was killed. */
export class XsTimeout extends Error {
  override name = "XsTimeout";
}

// Exit codes of xsnap-worker (node_modules/@agoric/xsnap/api.js).
const EXIT_MESSAGES: Record<number, string> = {
  1: "bad argument usage",
  2: "I/O error",
  11: "not enough memory",
  12: "stack overflow",
  15: "unhandled exception",
  16: "property (key) name space exhausted",
  17: "too much computation (meter limit exceeded)",
};

/** Path of the xsnap-worker binary built by @agoric/xsnap at npm install. XSNAP_WORKER overrides it. */
export function xsnapWorkerPath(): string {
  if (process.env.XSNAP_WORKER) return process.env.XSNAP_WORKER;
  const platform = process.platform === "darwin" ? "mac" : "lin";
  return fileURLToPath(
    new URL(
      `../../node_modules/@agoric/xsnap/xsnap-native/xsnap/build/bin/${platform}/release/xsnap-worker`,
      import.meta.url,
    ),
  );
}

export interface XsWorkerOptions {
  /** Handles `issueCommand(bytes)` from the worker; the returned bytes are its return value.
   * Default: JSON in/out through `onMessage` (see `jsonCommandHandler`), or echo. */
  onCommand?: (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Lines the worker writes to stdout (its `print`). Default: kept in `stdout` only. */
  onPrint?: (line: string) => void;
  /** xsnap's `-l`: a crank that exceeds this compute makes the worker exit with code 17. Default: none. */
  meteringLimit?: number;
  /** Name shown in the process list. */
  name?: string;
  /** The xsnap-worker binary (default: xsnapWorkerPath(); the device's: device-worker.ts). */
  bin?: string;
  /** Run the worker in its own process group, so that a terminal's Ctrl-C (SIGINT to the
   * foreground group) reaches only the host, which then closes the worker itself. */
  detached?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function netstring(parts: Uint8Array[]): Buffer {
  const len = parts.reduce((n, p) => n + p.byteLength, 0);
  return Buffer.concat([Buffer.from(`${len}:`), ...parts, Buffer.from(",")]);
}

/** One running xsnap-worker process. Operations are serialized: one crank at a time. */
export class XsWorker {
  /** Everything the worker printed on stdout (`print`). */
  stdout = "";
  /** Everything the worker printed on stderr (XS diagnostics, crash reasons). */
  stderr = "";

  private readonly proc: ChildProcess;
  private readonly toWorker: Writable;
  private buf: Buffer = Buffer.alloc(0);
  private readonly messages: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private exitError: XsExit | undefined;
  private readonly exited: Promise<void>;
  private baton: Promise<unknown> = Promise.resolve();
  private readonly onCommand: (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

  constructor(opts: XsWorkerOptions = {}) {
    const bin = opts.bin ?? xsnapWorkerPath();
    if (!existsSync(bin)) throw new Error(`xsnap-worker not found at ${bin} (did @agoric/xsnap build at npm install?)`);
    const args = [opts.name ?? "lichen-xs"];
    if (opts.meteringLimit) args.push("-l", String(opts.meteringLimit));
    this.onCommand = opts.onCommand ?? ((r) => r);
    this.proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"], detached: opts.detached === true });
    const stdio = this.proc.stdio as unknown as [null, Readable, Readable, Writable, Readable];
    this.toWorker = stdio[3];
    // Writes after the worker died raise EPIPE on the stream: the exit is reported by the waits instead.
    this.toWorker.on("error", () => {});
    let pending = "";
    stdio[1].setEncoding("utf8");
    stdio[1].on("data", (s: string) => {
      this.stdout += s;
      if (!opts.onPrint) return;
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        opts.onPrint(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    stdio[2].setEncoding("utf8");
    stdio[2].on("data", (s: string) => (this.stderr += s));
    stdio[4].on("data", (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse();
    });
    this.exited = new Promise((resolve) => {
      this.proc.on("error", (err) => {
        this.exitError ??= new XsExit(`xsnap-worker failed to start: ${err.message}`, null, null);
        resolve();
        this.wake();
      });
      this.proc.on("close", (code, signal) => {
        const why = signal ? `killed by ${signal}` : `exited with code ${code}${code && EXIT_MESSAGES[code] ? ` (${EXIT_MESSAGES[code]})` : ""}`;
        const tail = this.stderr.trim() ? `; stderr: ${this.stderr.trim().slice(-2000)}` : "";
        this.exitError ??= new XsExit(`xsnap-worker ${why}${tail}`, code, signal);
        resolve();
        this.wake();
      });
    });
  }

  /** Start a worker and wait until it answers. */
  static async start(opts: XsWorkerOptions = {}, timeoutMs = 10_000): Promise<XsWorker> {
    const w = new XsWorker(opts);
    try {
      await w.serialize(async () => {
        w.write([enc.encode("R")]);
        await w.nextMessage(Date.now() + timeoutMs);
      });
    } catch (e) {
      w.kill();
      throw e;
    }
    return w;
  }

  /** Evaluate a script (not a module: bundle as an IIFE) and run the job loop until idle. */
  evaluate(code: string, timeoutMs = 60_000): Promise<XsCrankResult> {
    return this.serialize(() => this.crank([enc.encode("e"), enc.encode(code)], timeoutMs));
  }

  /** Call `globalThis.handleCommand(ArrayBuffer)` in the worker and run the job loop until idle. */
  command(bytes: Uint8Array, timeoutMs = 60_000): Promise<XsCrankResult> {
    return this.serialize(() => this.crank([enc.encode("?"), bytes], timeoutMs));
  }

  /** Ask the worker to quit and wait for its exit (kills it after `timeoutMs`). */
  async close(timeoutMs = 5_000): Promise<void> {
    if (!this.exitError) {
      this.write([enc.encode("q")]);
      this.toWorker.end();
    }
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const result = this.baton.then(op);
    this.baton = result.catch(() => {});
    return result;
  }

  private write(parts: Uint8Array[]): void {
    if (this.exitError) return; // the next wait reports the exit
    this.toWorker.write(netstring(parts));
  }

  private async crank(request: Uint8Array[], timeoutMs: number): Promise<XsCrankResult> {
    const deadline = Date.now() + timeoutMs;
    this.write(request);
    for (;;) {
      const msg = await this.nextMessage(deadline);
      const kind = msg[0];
      if (kind === 0x3f /* '?' issueCommand */) {
        let reply: Uint8Array;
        try {
          reply = await this.onCommand(msg.subarray(1));
        } catch (e) {
          // The worker is blocked in issueCommand: it must get an answer, or it waits forever.
          reply = enc.encode(JSON.stringify({ $error: String((e as Error)?.stack ?? e) }));
        }
        this.write([enc.encode("/"), reply]);
      } else if (kind === 0x2e /* '.' done */) {
        const sep = msg.indexOf(1, 1);
        const meterJson = sep >= 0 ? dec.decode(msg.subarray(1, sep)) : "{}";
        const m = JSON.parse(meterJson) as Partial<XsMeter> & { currentChunksSize?: number };
        const meter: XsMeter = { compute: m.compute ?? 0, currentHeapCount: m.currentHeapCount ?? 0, allocate: m.allocate ?? 0 };
        if (typeof m.currentChunksSize === "number") meter.chunks = m.currentChunksSize;
        return {
          meter,
          reply: new Uint8Array(msg.subarray(sep >= 0 ? sep + 1 : 1)),
        };
      } else if (kind === 0x21 /* '!' exception */) {
        throw new XsException(dec.decode(msg.subarray(1)) || "exception in xsnap-worker");
      } else {
        this.kill();
        throw new Error(`xsnap protocol error: unexpected message ${JSON.stringify(dec.decode(msg.subarray(0, 80)))}`);
      }
    }
  }

  private parse(): void {
    for (;;) {
      const colon = this.buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.buf.subarray(0, colon).toString("latin1"));
      if (!Number.isInteger(len)) {
        this.kill();
        this.exitError ??= new XsExit("xsnap protocol error: bad netstring length", null, null);
        this.wake();
        return;
      }
      if (this.buf.length < colon + 1 + len + 1) return;
      this.messages.push(Buffer.from(this.buf.subarray(colon + 1, colon + 1 + len)));
      this.buf = this.buf.subarray(colon + 1 + len + 1);
      this.wake();
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next message from the worker, or XsExit / XsTimeout. */
  private async nextMessage(deadline: number): Promise<Buffer> {
    for (;;) {
      const m = this.messages.shift();
      if (m) return m;
      if (this.exitError) {
        // Let stderr drain ('close' fires after the stdio streams end, so it already has).
        throw this.exitError;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.kill();
        throw new XsTimeout(`xsnap-worker timed out`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** Adapts a JSON callback to the byte-level command handler: the worker sends UTF-8 JSON and gets
 * back the callback's return value as UTF-8 JSON (`undefined` → `null`). A throwing callback
 * answers `{"$error": "..."}`. */
export function jsonCommandHandler(onMessage: (msg: unknown) => unknown): (request: Uint8Array) => Promise<Uint8Array> {
  return async (request) => {
    let answer: unknown;
    try {
      answer = await onMessage(JSON.parse(dec.decode(request)));
    } catch (e) {
      answer = { $error: String((e as Error)?.stack ?? e) };
    }
    return enc.encode(JSON.stringify(answer ?? null));
  };
}

export type RunInXsResult =
  | { ok: true; meter: XsMeter; stdout: string; stderr: string }
  | { ok: false; kind: "exception" | "exit" | "timeout"; error: string; stdout: string; stderr: string };

/** Run `code` (a script, e.g. an IIFE bundle) in a fresh worker. `onMessage` answers each
 * `issueCommand` (JSON both ways, see jsonCommandHandler). The worker is always closed. */
export async function runInXs(
  code: string,
  onMessage: (msg: unknown) => unknown = () => null,
  opts: { timeoutMs?: number; meteringLimit?: number; onPrint?: (line: string) => void } = {},
): Promise<RunInXsResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let worker: XsWorker | undefined;
  try {
    worker = await XsWorker.start({ onCommand: jsonCommandHandler(onMessage), meteringLimit: opts.meteringLimit, onPrint: opts.onPrint }, timeoutMs);
    const r = await worker.evaluate(code, timeoutMs);
    return { ok: true, meter: r.meter, stdout: worker.stdout, stderr: worker.stderr };
  } catch (e) {
    const kind = e instanceof XsTimeout ? "timeout" : e instanceof XsException ? "exception" : "exit";
    return { ok: false, kind, error: (e as Error).message, stdout: worker?.stdout ?? "", stderr: worker?.stderr ?? "" };
  } finally {
    await worker?.close().catch(() => worker?.kill());
  }
}

/** What `measureXs` reports. All numbers come from the XS meter, so they are deterministic. */
export interface XsMeasurement {
  /** Compute of the crank that evaluated `code`, minus the compute of a crank evaluating `void 0`
   * (the constant cost of an evaluate crank). */
  compute: number;
  /** Live slots after a full gc, before `code` ran. */
  liveSlotsBefore: number;
  /** Live slots after a full gc, after `code` ran. */
  liveSlotsAfter: number;
  /** Slots that `code` left reachable: liveSlotsAfter − liveSlotsBefore, minus the drift of the
   * measurement itself (each evaluate crank keeps one slot alive; measured, not assumed, with an
   * empty round of the same cranks just before). */
  liveSlots: number;
}

/** Measure a code fragment on a worker that already evaluated its setup (e.g. a bundle from
 * bundleForXs that put functions on globalThis). Cranks: an empty round (`gc()`, `void 0`,
 * `gc()`), then the measured one (`gc()`, `code`, `gc()`). Whatever `code` allocates and does not
 * keep reachable from a global is garbage by the last gc, so `liveSlots` counts only what it
 * retained. Warm up first (evaluate `code` once) if its first run creates caches. A fresh worker
 * with the same setup gives the same numbers on every run. */
export async function measureXs(worker: XsWorker, code: string, timeoutMs = 60_000): Promise<XsMeasurement> {
  const gc = async (): Promise<number> => (await worker.evaluate("gc()", timeoutMs)).meter.currentHeapCount;
  const e0 = await gc();
  const empty = await worker.evaluate("void 0", timeoutMs);
  const e1 = await gc();
  const before = await gc();
  const run = await worker.evaluate(code, timeoutMs);
  const after = await gc();
  // The empty round spans the same cranks as the measured one: (void 0, gc) vs (code, gc).
  const drift = e1 - e0;
  return {
    compute: run.meter.compute - empty.meter.compute,
    liveSlotsBefore: before,
    liveSlotsAfter: after,
    liveSlots: after - before - drift,
  };
}
