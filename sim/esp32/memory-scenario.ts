// The memory scenario of the ESP32 firmware, shared by its XS test (esp32-memory.test.ts) and
// the benchmark (bench/esp32.ts): the node app (targets/esp32/node-app.ts) on stand-ins that keep
// nothing of their own worth counting, deterministic from run to run.
//
// - Time: a manual clock and Moddable-style Timer (set/clear), moved by advance(); the wall clock
//   starts at 2025-06-01T08:00Z.
// - Flash: a FlashDriver whose every call goes to the host (`call`), where a FlashSim keeps the
//   bytes: on the device NVS is flash, not RAM, so the stored bytes must not be counted in XS.
// - MQTT: a Client class that connects at once and drops what the node publishes
//   ("gateway-gone": the gateway's presence says online, then offline: nothing the node sends is
//   ever acknowledged), or whose connections all fail after 3 s ("no-broker": the node never
//   reaches anyone and keeps reconnecting with backoff).
// - Sensor: SimulatedSensor, seed 1; interval 10 s; threshold temperature:30.
//
// - Turns: what the device's run loop calls (the app's start, each timer, each MQTT message) runs
//   as a turn (sim/xs/device-turn.ts): in the device XS, with a stack of its own above the loop.
//
// Then samples(n) takes n samples while no gateway is reachable: each is a counter increment, two
// readings written (when they changed) and alarm changes, none acknowledged.
import { LichenError } from "../../src/core/errors.js";
import { fromHex, toHex } from "../../src/core/hex.js";
import type { FlashDriver } from "../../src/store/flash-driver.js";
import { encodePresence, presenceTopic } from "../../src/transport/mqtt-topics.js";
import type { ModdableClient, ModdableClientConstructor, ModdableTimer } from "../../src/transport/mqtt-moddable.js";
import { parseNodeConfig } from "../../targets/esp32/config.js";
import { createNodeApp, type NodeApp } from "../../targets/esp32/node-app.js";
import { SimulatedSensor } from "../../targets/esp32/sensor.js";
import { deviceTurn } from "../xs/device-turn.js";

export const SCENARIO_START_MS = Date.UTC(2025, 5, 1, 8);
export const SCENARIO_NODE = "a4cf12b3c4d5";
export const SCENARIO_FLEET = "demo";
export const SCENARIO_GATEWAY = "gw1";

export type ScenarioNetwork = "gateway-gone" | "no-broker";

/** A synchronous call to the host: the flash operations below, JSON in and out. */
export type HostCall = (msg: { op: string; [key: string]: unknown }) => unknown;

/** A FlashDriver kept on the host: ops flash-get {key} → {value: hex | null}, flash-set {key, value}, flash-delete {key}, flash-keys → {keys}; a reply {error} is a STORAGE error. */
export function remoteFlash(call: HostCall): FlashDriver {
  const ask = (msg: { op: string; [key: string]: unknown }): Record<string, unknown> => {
    const r = (call(msg) ?? {}) as Record<string, unknown>;
    if (typeof r.error === "string") throw new LichenError("STORAGE", r.error);
    return r;
  };
  return {
    maxKeyLength: 15,
    maxValueBytes: 4000,
    get(key) {
      const v = ask({ op: "flash-get", key }).value;
      return typeof v === "string" ? fromHex(v) : undefined;
    },
    set(key, value) {
      ask({ op: "flash-set", key, value: toHex(value) });
    },
    delete(key) {
      ask({ op: "flash-delete", key });
    },
    keys() {
      return (ask({ op: "flash-keys" }).keys as string[] | undefined) ?? [];
    },
  };
}

/** A manual clock with Moddable's Timer API (set, clear), moved by advance(). A class, like the rest of
 * the stand-ins: what the scenario adds to the measured slots should be its data, not closures. */
class ManualTime implements ModdableTimer {
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  constructor(public now: number) {}

  set(fn: () => void, ms = 0): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + Math.max(0, ms), fn });
    return id;
  }

  clear(id: unknown): void {
    if (typeof id === "number") this.timers.delete(id);
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let id = 0;
      let at = Infinity;
      for (const [k, t] of this.timers) if (t.at <= end && (t.at < at || (t.at === at && k < id))) {
        id = k;
        at = t.at;
      }
      if (id === 0) break;
      const t = this.timers.get(id)!;
      this.timers.delete(id);
      this.now = Math.max(this.now, at);
      deviceTurn(t.fn); // Moddable's run loop calls each timer on a stack of its own
    }
    this.now = end;
  }
}

interface ScenarioWorld {
  readonly time: ManualTime;
  readonly network: ScenarioNetwork;
  readonly stats: ScenarioStats;
  current: FakeClient | undefined;
}

/** Moddable's MQTT Client: connected at once, publishing into the void ("gateway-gone"), or failing after 3 s ("no-broker"). */
class FakeClient implements ModdableClient {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;

  constructor(private readonly world: ScenarioWorld) {
    world.stats.connects++;
    world.current = this;
    if (world.network === "no-broker") world.time.set(() => this.onClose?.(), 3000);
    else world.time.set(() => this.onReady?.(), 1);
  }

  publish(): void {
    this.world.stats.published++;
  }

  subscribe(): void {}

  close(): void {}

  inject(topic: string, bytes: Uint8Array): void {
    const data = bytes.slice().buffer as ArrayBuffer;
    deviceTurn(() => this.onMessage?.(topic, data)); // a message, too, comes from the run loop
  }
}

export interface ScenarioStats {
  /** Clients the node created (connection attempts). */
  connects: number;
  /** Messages the node published (and nobody received). */
  published: number;
  logLines: number;
}

export interface Scenario {
  readonly app: NodeApp;
  readonly stats: ScenarioStats;
  /** Starts the node; with "gateway-gone", the gateway shows up and leaves. */
  boot(): void;
  /** n sample intervals pass: n samples, none acknowledged. */
  samples(n: number): void;
}

export function createScenario(flash: FlashDriver, network: ScenarioNetwork = "gateway-gone"): Scenario {
  const time = new ManualTime(SCENARIO_START_MS);
  const world: ScenarioWorld = { time, network, stats: { connects: 0, published: 0, logLines: 0 }, current: undefined };
  const config = parseNodeConfig({ id: SCENARIO_NODE, broker: "192.168.1.2", fleet: SCENARIO_FLEET, gateway: SCENARIO_GATEWAY, seed: 1 });
  const app = createNodeApp({
    config,
    flash,
    // called with `new` by the binding: returning an object makes it the instance
    Client: function Client() {
      return new FakeClient(world);
    } as unknown as ModdableClientConstructor,
    timer: time,
    sensor: new SimulatedSensor(config.seed),
    now: () => time.now,
    wallClock: () => time.now,
    log: () => {
      world.stats.logLines++;
    },
  });

  const presence = (state: "online" | "offline"): void =>
    world.current!.inject(presenceTopic(SCENARIO_FLEET, SCENARIO_GATEWAY), encodePresence({ state, role: "gateway", ts: time.now, hb: 30_000 }));

  return {
    app,
    stats: world.stats,
    boot(): void {
      deviceTurn(() => app.start());
      time.advance(10); // the connection is up
      if (network !== "gateway-gone") return;
      presence("online"); // the node sends its digest, into the void
      time.advance(300);
      presence("offline");
    },
    samples(n: number): void {
      time.advance(n * config.intervalMs);
    },
  };
}
