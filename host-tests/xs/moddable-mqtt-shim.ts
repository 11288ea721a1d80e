// A stand-in for the Moddable SDK's "mqtt" module (its Client), for tests of device code that
// imports it (src/transport/mqtt-moddable.ts). The real one needs Moddable's sockets; this one
// forwards every call to a real MQTT.js client on the host, through the test file's host service
// (service-bridge.ts; the service implements the ops below, e.g. host-tests/device/mqtt-moddable.service.ts).
//
// Where it is used instead of "mqtt": the XS bundles (bundle.ts) and the Node test processes
// (runner/resolve-hook.mjs), for imports from `*-moddable.ts` files (see moddable-shims.ts).
//
// The Moddable API kept (modules/network/mqtt/mqtt.js of the SDK): `new Client({ host, port, id,
// user, password, will: { topic, message, retain }, timeout })`; `onReady`, `onMessage(topic,
// ArrayBuffer)`, `onClose` (once, when the connection is lost; not after close()); `publish(topic,
// string | ArrayBuffer, { retain })` and `subscribe(topic)` throw before onReady and after the
// end; QoS 0 only; no reconnection.
//
// Time: there is no event loop to wait in (XS has no timers): the test drives everything with
// `pump(ms)`, which delivers the host's events (CONNACK, messages, closes) to the clients and runs
// the callbacks of the `Timer` stand-in below (Moddable's Timer.set/Timer.clear) when due. Time
// is Date.now() on both engines.
//
// Wire ops (JSON; payloads in hex): connect {cid, host, port, id, user, password, will, timeout},
// publish {cid, topic, payload, retain}, subscribe {cid, topic}, close {cid},
// poll {waitMs} → {events: [{cid, type: "ready" | "message" | "close", topic?, payload?}]}.
import { fromHex, toHex } from "../../src/core/hex.js";
import { serviceRequest, serviceSend } from "./service-bridge.js";

function bytesOf(data: ArrayBuffer | string): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof data === "string") return new TextEncoder().encode(data);
  throw new TypeError("publish: data is a string or an ArrayBuffer (Moddable's client takes no views)");
}

interface ShimState {
  nextCid: number;
  clients: Map<number, Client>;
  nextTimer: number;
  timers: Map<number, { at: number; fn: () => void }>;
}

const state: ShimState = { nextCid: 1, clients: new Map(), nextTimer: 1, timers: new Map() };

export interface ClientDictionary {
  host: string;
  port?: number;
  id?: string;
  user?: string;
  password?: string | ArrayBuffer;
  will?: { topic: string; message: string | ArrayBuffer; retain?: boolean };
  timeout?: number;
}

/** Moddable's MQTT Client, over a host MQTT.js client. */
export default class Client {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
  private readonly cid: number;
  private phase: "connecting" | "ready" | "closed" = "connecting";

  constructor(dictionary: ClientDictionary) {
    if (!dictionary.host) throw new Error("parameter host is required");
    this.cid = state.nextCid++;
    state.clients.set(this.cid, this);
    const will = dictionary.will === undefined ? undefined : { topic: dictionary.will.topic, message: toHex(bytesOf(dictionary.will.message)), retain: dictionary.will.retain === true };
    const password = dictionary.password instanceof ArrayBuffer ? new TextDecoder("utf-8").decode(new Uint8Array(dictionary.password)) : dictionary.password;
    serviceSend({ op: "connect", cid: this.cid, host: dictionary.host, port: dictionary.port ?? 1883, id: dictionary.id ?? "", user: dictionary.user, password, will, timeout: dictionary.timeout ?? 0 });
  }

  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean; quality?: number }): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    if (flags?.quality) throw new Error("this shim, like the devices' use of Moddable's client, speaks QoS 0 only");
    serviceSend({ op: "publish", cid: this.cid, topic, payload: toHex(bytesOf(data)), retain: flags?.retain === true });
  }

  subscribe(topic: string): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    serviceSend({ op: "subscribe", cid: this.cid, topic });
  }

  close(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    state.clients.delete(this.cid);
    serviceSend({ op: "close", cid: this.cid });
  }

  /** @internal an event from the host. */
  deliver(ev: HostEvent): void {
    if (this.phase === "closed") return;
    if (ev.type === "ready") {
      this.phase = "ready";
      this.onReady?.();
    } else if (ev.type === "message") {
      if (this.phase === "ready") this.onMessage?.(ev.topic!, fromHex(ev.payload!).buffer as ArrayBuffer);
    } else if (ev.type === "close") {
      this.phase = "closed";
      state.clients.delete(this.cid);
      this.onClose?.();
    }
  }
}

interface HostEvent {
  cid: number;
  type: "ready" | "message" | "close";
  topic?: string;
  payload?: string;
}

/** Moddable's Timer (set/clear), run by pump(). */
export const Timer = Object.freeze({
  set(callback: () => void, ms = 0): number {
    const id = state.nextTimer++;
    state.timers.set(id, { at: Date.now() + Math.max(0, ms), fn: callback });
    return id;
  },
  clear(id: unknown): void {
    if (typeof id === "number") state.timers.delete(id);
  },
});

function runDueTimers(): void {
  for (;;) {
    const now = Date.now();
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const t of state.timers) if (t[1].at <= now && (next === undefined || t[1].at < next[1].at || (t[1].at === next[1].at && t[0] < next[0]))) next = t;
    if (next === undefined) return;
    state.timers.delete(next[0]);
    next[1].fn();
  }
}

function nextDue(): number {
  let at = Infinity;
  for (const t of state.timers.values()) at = Math.min(at, t.at);
  return at;
}

/** Runs the device side for `ms`: the host's events are delivered, due timers run. */
export async function pump(ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    runDueTimers();
    const now = Date.now();
    if (now >= end) return;
    const waitMs = Math.max(0, Math.min(end, nextDue()) - now, 0);
    const r = (await serviceRequest({ op: "poll", waitMs: Math.min(waitMs, 100) })) as { events: HostEvent[] };
    for (const ev of r.events) state.clients.get(ev.cid)?.deliver(ev);
  }
}

/** Pumps until `cond` holds; throws after `timeoutMs`. */
export async function pumpUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pump(20);
  }
}
