// The XS side of the ESP32 simulation (targets/esp32/sim-node.ts is the host side): stand-ins for the
// Moddable modules that the firmware's main module (targets/esp32/main.ts) imports, bundled with
// it by esbuild (ESP32_SIM_MODULES: an import of "mqtt", "timer", ... from the firmware or from a
// `*-moddable.ts` file resolves here), and the command loop the host drives.
//
// - "mqtt": Moddable's Client, each one a MQTT.js client on the host (same API as
//   moddable-mqtt-shim.ts: onReady, onMessage(topic, ArrayBuffer), onClose once; publish and
//   subscribe throw before onReady and after the end; QoS 0; no reconnection).
// - "timer" and "time": Moddable's Timer (set, repeat, clear) and Time.ticks, on a clock that
//   only the host moves: xsnap-worker has no timers. Each host command carries the time; due
//   timers run in order of their due time. Date.now() reads the same clock.
// - "embedded:storage/key-value": ECMA-419 key-value storage over the host's FlashSim (one NVS
//   namespace per simulated node, persisted to a file by the host).
// - "net": Net.get("MAC") (a MAC address the host makes from the node's id), "IP".
// - "mc/config": the object the host sends at boot (the simulator's flags).
// - "embedded:io/i2c": absent in the simulation (constructing one throws).
// - trace(): to the host's log.
//
// Wire (JSON through issueCommand, worker → host): log {text}; mqtt-connect {cid, host, port, id,
// user, password, will, timeout}; mqtt-publish {cid, topic, payload, retain}; mqtt-subscribe
// {cid, topic}; mqtt-close {cid}; flash-get {key} → {value}; flash-set {key, value};
// flash-delete {key}; flash-keys → {keys}. Payloads and values in hex. A reply {error} throws.
// Host → worker (handleCommand): boot {now, config, mac}; tick {now, events}; advance {to, step};
// status; stop; sample; flush. Replies: {next} (the next due time, or null), or the value asked for.

/** The Moddable specifiers this module stands in for, each with the export that replaces it. */
export const ESP32_SIM_MODULES: Readonly<Record<string, string>> = Object.freeze({
  mqtt: "Client",
  timer: "Timer",
  time: "Time",
  net: "Net",
  "mc/config": "config",
  "embedded:storage/key-value": "KeyValue",
  "embedded:io/i2c": "I2C",
});

import { fromHex, toHex } from "../../src/core/hex.js";

type IssueCommand = (request: ArrayBuffer) => ArrayBuffer;

interface SimGlobals {
  issueCommand?: IssueCommand;
  handleCommand?: (request: ArrayBuffer) => ArrayBuffer;
  trace?: (text: string) => void;
}

function bytesOf(data: ArrayBuffer | ArrayBufferView | string): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === "string") return new TextEncoder().encode(data);
  throw new TypeError("expected an ArrayBuffer or a string");
}

function host(msg: object): Record<string, unknown> {
  const g = globalThis as SimGlobals;
  if (g.issueCommand === undefined) throw new Error("the ESP32 simulation runs inside xsnap-worker");
  const bytes = new TextEncoder().encode(JSON.stringify(msg));
  const reply = g.issueCommand(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const text = new TextDecoder("utf-8").decode(new Uint8Array(reply));
  const answer = (text ? JSON.parse(text) : {}) as Record<string, unknown> | null;
  if (answer !== null && typeof answer.error === "string") throw new Error(answer.error);
  return answer ?? {};
}

interface TimerEntry {
  at: number;
  repeat: number;
  fn: (id: number) => void;
}

interface HostEvent {
  cid: number;
  type: "ready" | "message" | "close";
  topic?: string;
  payload?: string;
}

interface SimApp {
  stop(): void;
  sample(): void;
  flush(): void;
  status(): unknown;
}

const sim = {
  now: 0,
  mac: "02:00:00:00:00:01",
  nextTimer: 1,
  timers: new Map<number, TimerEntry>(),
  nextCid: 1,
  clients: new Map<number, Client>(),
  app: undefined as SimApp | undefined,
};

/** mc/config: filled at boot. */
export const config: Record<string, unknown> = {};

/** Moddable's MQTT Client, over a MQTT.js client on the host. */
export class Client {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
  private readonly cid: number;
  private phase: "connecting" | "ready" | "closed" = "connecting";

  constructor(dictionary: { host: string; port?: number; id?: string; user?: string; password?: string | ArrayBuffer; will?: { topic: string; message: string | ArrayBuffer; retain?: boolean }; timeout?: number }) {
    if (!dictionary.host) throw new Error("parameter host is required");
    this.cid = sim.nextCid++;
    sim.clients.set(this.cid, this);
    const will = dictionary.will === undefined ? undefined : { topic: dictionary.will.topic, message: toHex(bytesOf(dictionary.will.message)), retain: dictionary.will.retain === true };
    const password = dictionary.password instanceof ArrayBuffer ? new TextDecoder("utf-8").decode(new Uint8Array(dictionary.password)) : dictionary.password;
    host({ op: "mqtt-connect", cid: this.cid, host: dictionary.host, port: dictionary.port ?? 1883, id: dictionary.id ?? "", user: dictionary.user, password, will, timeout: dictionary.timeout ?? 0 });
  }

  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean; quality?: number }): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    if (!(data instanceof ArrayBuffer) && typeof data !== "string") throw new TypeError("publish: data is a string or an ArrayBuffer");
    host({ op: "mqtt-publish", cid: this.cid, topic, payload: toHex(bytesOf(data)), retain: flags?.retain === true });
  }

  subscribe(topic: string): void {
    if (this.phase !== "ready") throw new Error("connection closed");
    host({ op: "mqtt-subscribe", cid: this.cid, topic });
  }

  close(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    sim.clients.delete(this.cid);
    host({ op: "mqtt-close", cid: this.cid });
  }

  /** @internal an event from the host. */
  deliver(ev: HostEvent): void {
    if (this.phase === "closed") return;
    if (ev.type === "ready") {
      this.phase = "ready";
      this.onReady?.();
    } else if (ev.type === "message") {
      if (this.phase === "ready") this.onMessage?.(ev.topic!, fromHex(ev.payload!).buffer as ArrayBuffer);
    } else {
      this.phase = "closed";
      sim.clients.delete(this.cid);
      this.onClose?.();
    }
  }
}

/** Moddable's Timer: set(callback, delay, repeat), repeat(callback, interval), clear(id). */
export const Timer = Object.freeze({
  set(callback: (id: number) => void, ms = 0, repeat = 0): number {
    const id = sim.nextTimer++;
    sim.timers.set(id, { at: sim.now + Math.max(0, ms), repeat: Math.max(0, repeat), fn: callback });
    return id;
  },
  repeat(callback: (id: number) => void, interval: number): number {
    return Timer.set(callback, interval, interval);
  },
  clear(id: unknown): void {
    if (typeof id === "number") sim.timers.delete(id);
  },
});

/** Moddable's Time: ticks (ms, monotonic). */
export const Time = Object.freeze({
  get ticks(): number {
    return sim.now;
  },
});

export const Net = Object.freeze({
  get(what: string): string | undefined {
    if (what === "MAC") return sim.mac;
    if (what === "IP") return "127.0.0.1";
    return undefined;
  },
});

class Storage {
  constructor(private readonly path: string) {}

  read(key: string): ArrayBuffer | undefined {
    const r = host({ op: "flash-get", path: this.path, key });
    return typeof r.value === "string" ? (fromHex(r.value).buffer as ArrayBuffer) : undefined;
  }

  write(key: string, value: ArrayBuffer | ArrayBufferView): void {
    host({ op: "flash-set", path: this.path, key, value: toHex(bytesOf(value)) });
  }

  delete(key: string): void {
    host({ op: "flash-delete", path: this.path, key });
  }

  close(): void {}

  [Symbol.iterator](): Iterator<string> {
    return ((host({ op: "flash-keys", path: this.path }).keys as string[] | undefined) ?? [])[Symbol.iterator]();
  }
}

/** ECMA-419 key-value storage (Moddable's embedded:storage/key-value), format "buffer" only. */
export const KeyValue = Object.freeze({
  open(options: { path: string; mode?: string; format?: string }): Storage {
    if (options.format !== undefined && options.format !== "buffer") throw new Error("this simulation stores buffers only");
    return new Storage(options.path);
  },
});

/** The simulation has no I2C bus. */
export class I2C {
  constructor() {
    throw new Error("no I2C bus in the simulation: use sensor=sim");
  }
}

function runTimers(): void {
  for (let guard = 0; guard < 100_000; guard++) {
    let id = 0;
    let entry: TimerEntry | undefined;
    for (const [k, t] of sim.timers) if (t.at <= sim.now && (entry === undefined || t.at < entry.at || (t.at === entry.at && k < id))) {
      id = k;
      entry = t;
    }
    if (entry === undefined) return;
    if (entry.repeat > 0) entry.at = sim.now + entry.repeat;
    else sim.timers.delete(id);
    try {
      entry.fn(id);
    } catch (e) {
      trace(`exception in a timer callback: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  }
  throw new Error("timers keep firing without time passing");
}

function nextDue(): number | null {
  let at = Infinity;
  for (const t of sim.timers.values()) at = Math.min(at, t.at);
  return at === Infinity ? null : at;
}

function setTime(now: unknown): void {
  if (typeof now === "number" && now > sim.now) sim.now = now;
}

function trace(text: string): void {
  host({ op: "log", text });
}

/**
 * Installs the command loop: the host boots `main` (the firmware's default export) and drives
 * time. Nothing runs until the host's first command.
 */
export function installEsp32Sim(main: () => SimApp | undefined): void {
  const g = globalThis as SimGlobals;
  g.trace = trace;
  // before the intrinsics are frozen (device-realm.ts): the simulated clock is the only one
  Date.now = () => sim.now;
  g.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
    const msg = JSON.parse(new TextDecoder("utf-8").decode(new Uint8Array(request))) as Record<string, unknown>;
    let reply: unknown = null;
    switch (msg.op) {
      case "boot":
        setTime(msg.now);
        Object.assign(config, msg.config as object);
        if (typeof msg.mac === "string") sim.mac = msg.mac;
        sim.app = main();
        runTimers();
        reply = { booted: sim.app !== undefined, next: nextDue() };
        break;
      case "tick":
        setTime(msg.now);
        for (const ev of (msg.events as HostEvent[] | undefined) ?? []) sim.clients.get(ev.cid)?.deliver(ev);
        runTimers();
        reply = { next: nextDue() };
        break;
      case "advance": {
        const to = msg.to as number;
        const step = Math.max(1, (msg.step as number) ?? 1000);
        while (sim.now < to) {
          sim.now = Math.min(to, sim.now + step);
          runTimers();
        }
        reply = { next: nextDue() };
        break;
      }
      case "status":
        reply = sim.app?.status() ?? null;
        break;
      case "sample":
        sim.app?.sample();
        reply = { next: nextDue() };
        break;
      case "flush":
        sim.app?.flush();
        reply = { next: nextDue() };
        break;
      case "stop":
        sim.app?.stop();
        sim.app = undefined;
        reply = { next: nextDue() };
        break;
      default:
        throw new Error(`unknown command ${JSON.stringify(msg.op)}`);
    }
    const bytes = new TextEncoder().encode(JSON.stringify(reply));
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
}
