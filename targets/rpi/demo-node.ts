// A sensor node simulated in Node, for the demo (scripts/start.ts) when the firmware's simulator
// (sim/esp32/sim-node.ts, the firmware inside XS) is not available, and for the gateway's tests.
// It is what a node runs, in Node: a SyncEngine over MqttSync (role "node", QoS 0 as a device),
// over a MemoryKv that stands for its flash (kept across powerCut/restart, as flash is).
//
// Its documents, as the firmware's:
//   readings/<id>   LWWMap: temp (°C), hum (%), battery (%), written every intervalMs
//   counters/<id>   GCounter: samples taken
//   fleet/config    LWWMap: the fleet's settings, written by the gateway (read here)
//
// Node only.

import { GCounter } from "../../src/core/counters.js";
import { LWWMap } from "../../src/core/maps.js";
import { MemoryKv } from "../../src/store/kv.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import type { SyncLogEntry } from "../../src/transport/sync-engine.js";

export interface DemoNodeOptions {
  readonly id: string;
  readonly brokerUrl: string;
  readonly fleet: string;
  readonly gateways: readonly string[];
  /** A sample every intervalMs (default 1000; 0: only when write() is called). */
  readonly intervalMs?: number;
  /** The node's flash (default a new MemoryKv): give the same one to simulate a reboot. */
  readonly kv?: MemoryKv;
  readonly log?: (entry: SyncLogEntry) => void;
  /** Faster protocol timings (tests). */
  readonly heartbeatMs?: number;
  readonly antiEntropyMs?: number;
}

export interface DemoNode {
  readonly id: string;
  readonly kv: MemoryKv;
  /** The current connection (a new one after restart()). */
  readonly sync: MqttSync;
  readonly readings: LWWMap;
  readonly config: LWWMap;
  /** Takes a sample now, or writes these values into readings. */
  write(values?: Record<string, number | string | boolean>): void;
  /** A clean stop: offline presence, engine closed. */
  stop(): Promise<void>;
  /** Power cut: the connection dropped without a word (the broker publishes the will); flash kept. */
  powerCut(): Promise<void>;
  /** Boots again from its flash and reconnects. */
  restart(): Promise<void>;
}

/** A deterministic-looking sensor: slow waves plus a little noise. */
function sample(id: string, n: number, t: number): { temp: number; hum: number; battery: number } {
  const phase = [...id].reduce((a, c) => a + c.charCodeAt(0), 0) % 17;
  const temp = 21 + 2.5 * Math.sin(t / 47_000 + phase) + (Math.random() - 0.5) * 0.2;
  const hum = 48 + 8 * Math.sin(t / 61_000 + phase / 2) + (Math.random() - 0.5) * 0.6;
  return { temp: Math.round(temp * 100) / 100, hum: Math.round(hum * 10) / 10, battery: Math.max(5, 100 - Math.floor(n / 120) - (phase % 7)) };
}

export async function startDemoNode(o: DemoNodeOptions): Promise<DemoNode> {
  const kv = o.kv ?? new MemoryKv();
  let sync!: MqttSync;
  let readings!: LWWMap;
  let samples!: GCounter;
  let config!: LWWMap;
  let timer: NodeJS.Timeout | undefined;
  let n = 0;

  const write = (values?: Record<string, number | string | boolean>): void => {
    const v = values ?? sample(o.id, n, Date.now());
    for (const [k, x] of Object.entries(v)) readings.set(k, x);
    sync.engine.changed("readings", o.id);
    if (values === undefined) {
      n++;
      samples.increment();
      sync.engine.changed("counters", o.id);
    }
  };

  const boot = (): void => {
    sync = new MqttSync({
      url: o.brokerUrl,
      fleet: o.fleet,
      replica: o.id,
      role: "node",
      kv,
      gateways: o.gateways,
      qos: 0,
      reconnectMs: 500,
      heartbeatMs: o.heartbeatMs,
      antiEntropyMs: o.antiEntropyMs,
      log: o.log,
    });
    readings = sync.engine.open("readings", o.id, LWWMap);
    samples = sync.engine.open("counters", o.id, GCounter);
    config = sync.engine.open("fleet", "config", LWWMap);
    if ((o.intervalMs ?? 1000) > 0) {
      timer = setInterval(() => write(), o.intervalMs ?? 1000);
      timer.unref();
    }
  };

  const halt = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };

  boot();
  await sync.ready(10_000);
  return {
    id: o.id,
    kv,
    get sync() {
      return sync;
    },
    get readings() {
      return readings;
    },
    get config() {
      return config;
    },
    write,
    stop: async () => {
      halt();
      await sync.close();
    },
    powerCut: async () => {
      halt();
      // the socket dropped without DISCONNECT (the broker publishes the will), then the engine stopped
      const client = sync.client;
      if (client.connected) {
        const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
        client.end(true);
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
      } else client.end(true);
      sync.peer.close();
    },
    restart: async () => {
      halt();
      boot();
      await sync.ready(10_000);
    },
  };
}
