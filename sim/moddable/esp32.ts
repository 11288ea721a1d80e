// The XS side of the ESP32 simulation (sim/esp32/sim-node.ts is the host side): the Moddable modules
// that the firmware's main module (targets/esp32/main.ts) imports, bundled with it by esbuild
// (ESP32_SIM_MODULES: an import of "mqtt", "timer", ... from the firmware or from a
// `*-moddable.ts` file resolves here), and the command loop the host drives.
//
// - "mqtt": Moddable's Client (mqtt.ts), each one a MQTT.js client on the host
//   (mqtt-bridge-node.ts); its events arrive with the host's ticks.
// - "timer" and "time": Moddable's Timer (set, repeat, clear) and Time.ticks (timer.ts), on a
//   clock that only the host moves: xsnap-worker has no timers. Each host command carries the
//   time. Date.now() reads the same clock.
// - "embedded:storage/key-value": ECMA-419 key-value storage over the host's FlashSim (one NVS
//   namespace per simulated node, persisted to a file by the host).
// - "net": Net.get("MAC") (a MAC address the host makes from the node's id), "IP".
// - "mc/config": the object the host sends at boot (the simulator's flags).
// - "embedded:io/i2c": absent in the simulation (constructing one throws).
// - trace(): to the host's log.
//
// Wire (JSON through issueCommand, worker → host): log {text}; the ops of mqtt.ts; flash-get
// {key} → {value}; flash-set {key, value};
// flash-delete {key}; flash-keys → {keys}. Payloads and values in hex. A reply {error} throws.
// Host → worker (handleCommand): boot {now, config, mac, stackSlots}; tick {now, events}; advance {to, step};
// status; stop; sample; flush. Replies: {next} (the next due time, or null), or the value asked for.

import { fromHex, toHex, bytesOf } from "./hex.js";
import Client, { deliverMqttEvents, setMqttLink, type MqttEvent } from "./mqtt.js";
import { nextDue, runDueTimers, Time, Timer, useClock } from "./timer.js";

export { Client, Time, Timer };

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

type IssueCommand = (request: ArrayBuffer) => ArrayBuffer;

interface SimGlobals {
  issueCommand?: IssueCommand;
  handleCommand?: (request: ArrayBuffer) => ArrayBuffer;
  trace?: (text: string) => void;
  /** The device xsnap-worker's (sim/xs/device-worker.ts): the device's stack above the caller. */
  lichenDeviceStackHere?: (slots?: number) => number;
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

interface SimApp {
  stop(): void;
  sample(): void;
  flush(): void;
  status(): unknown;
}

const sim = {
  now: 0,
  /** The stack slots each call into the app gets above the command loop (the host sends the device's). */
  stackSlots: 512,
  mac: "02:00:00:00:00:01",
  app: undefined as SimApp | undefined,
};

/** mc/config: filled at boot. */
export const config: Record<string, unknown> = {};

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
  runDueTimers((e) => trace(`exception in a timer callback: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
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
  useClock(() => sim.now);
  setMqttLink(host);
  // This command loop stands in for Moddable's event loop, which calls the app (a timer, a message)
  // from the bottom of its stack: in the device xsnap-worker, each call into the app below gets the
  // device's stack above this loop's frame (called from here, right before the call it grants).
  // The stock worker has no such limit.
  const grant = g.lichenDeviceStackHere ?? ((_slots: number): number => 0);
  g.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
    const msg = JSON.parse(new TextDecoder("utf-8").decode(new Uint8Array(request))) as Record<string, unknown>;
    let reply: unknown = null;
    switch (msg.op) {
      case "boot":
        setTime(msg.now);
        Object.assign(config, msg.config as object);
        if (typeof msg.mac === "string") sim.mac = msg.mac;
        if (typeof msg.stackSlots === "number") sim.stackSlots = msg.stackSlots;
        grant(sim.stackSlots);
        sim.app = main();
        grant(sim.stackSlots);
        runTimers();
        reply = { booted: sim.app !== undefined, next: nextDue() };
        break;
      case "tick":
        setTime(msg.now);
        grant(sim.stackSlots);
        deliverMqttEvents((msg.events as MqttEvent[] | undefined) ?? []);
        grant(sim.stackSlots);
        runTimers();
        reply = { next: nextDue() };
        break;
      case "advance": {
        const to = msg.to as number;
        const step = Math.max(1, (msg.step as number) ?? 1000);
        while (sim.now < to) {
          sim.now = Math.min(to, sim.now + step);
          grant(sim.stackSlots);
          runTimers();
        }
        reply = { next: nextDue() };
        break;
      }
      case "status":
        grant(sim.stackSlots);
        reply = sim.app?.status() ?? null;
        break;
      case "sample":
        grant(sim.stackSlots);
        sim.app?.sample();
        reply = { next: nextDue() };
        break;
      case "flush":
        grant(sim.stackSlots);
        sim.app?.flush();
        reply = { next: nextDue() };
        break;
      case "stop":
        grant(sim.stackSlots);
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
