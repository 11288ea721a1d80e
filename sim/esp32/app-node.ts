// The firmware's node app (targets/esp32/node-app.ts), run in this Node process: the same code,
// data model and sync as on the ESP32 and in the simulated ESP32 (sim-node.ts, inside XS), wired
// to stand-ins that run under Node. For `npm start -- --sim node` and the gateway's tests, where
// many nodes in one process are cheaper than one xsnap-worker each.
//
// - Moddable's MQTT Client: the one stand-in (sim/moddable/mqtt.ts), its host side a
//   MqttBridge (MQTT.js) of this node's own;
// - Moddable's Timer: Node's timers (sim/moddable/timer-node.ts);
// - the flash: a FlashSim (NVS's limits), kept across powerCut()/restart() as flash is;
// - the sensor: the firmware's SimulatedSensor (seeded by the id), or the readings given to write().
//
// Node only.
import { FlashSim } from "../../src/store/flash-sim.js";
import type { LWWMap } from "../../src/core/maps.js";
import type { ModdableClientConstructor } from "../../src/transport/mqtt-moddable.js";
import type { SyncEngine } from "../../src/transport/sync-engine.js";
import { parseNodeConfig } from "../../targets/esp32/config.js";
import { createNodeApp, type NodeApp, type NodeStatus } from "../../targets/esp32/node-app.js";
import { SimulatedSensor, type Reading, type Sensor } from "../../targets/esp32/sensor.js";
import { MqttBridge } from "../moddable/mqtt-bridge-node.js";
import { mqttStandIn } from "../moddable/mqtt.js";
import { nodeTimer, type NodeTimer } from "../moddable/timer-node.js";

export interface AppNodeOptions {
  /** The node's replica id, also its MQTT client id. */
  readonly id: string;
  /** mqtt://host:port */
  readonly brokerUrl: string;
  readonly fleet: string;
  readonly gateways: readonly string[];
  /** ms between samples (the firmware's `interval`; default 10 s). */
  readonly intervalMs?: number;
  /** More mc/config keys (targets/esp32/config.ts): thresholds, heartbeat, antiEntropy, reconnect, ... */
  readonly config?: Readonly<Record<string, string | number>>;
  /** The firmware's log lines. */
  readonly log?: (line: string) => void;
  /** Bytes of NVS for the namespace (default 16 KiB, as the simulated ESP32's). */
  readonly flashBytes?: number;
}

export interface AppNode {
  readonly id: string;
  /** The firmware's app of the current boot. */
  readonly app: NodeApp;
  /** Its sync engine. */
  readonly engine: SyncEngine;
  /** fleet/config, as this node holds it (written by the gateway). */
  readonly config: LWWMap;
  /** readings/<id>: the latest value per sensor. */
  readonly readings: LWWMap<number>;
  /** The node's flash: it survives powerCut() and restart(). */
  readonly flash: FlashSim;
  /** Takes one sample now, of these readings (the sensor's own, without), and writes it to flash
   * at once, so that it goes out now instead of with the next coalesced batch. */
  write(readings?: Readonly<Record<string, number>>): void;
  status(): NodeStatus;
  /** Resolves once the MQTT session is up (rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** A clean stop: pending writes to flash, offline presence, the session closed. */
  stop(): Promise<void>;
  /** Power lost: the connection drops without a word (the broker publishes the will); the flash keeps what was written. */
  powerCut(): Promise<void>;
  /** Boots again from its flash. */
  restart(): Promise<void>;
}

/** The firmware's sensor, or the readings a test or a tool gives for the next sample. */
class HostSensor implements Sensor {
  next: Reading[] | undefined;
  constructor(private readonly simulated: Sensor) {}

  read(): Reading[] {
    const given = this.next;
    this.next = undefined;
    return given ?? this.simulated.read();
  }
}

class HostedApp implements AppNode {
  readonly id: string;
  readonly flash: FlashSim;
  private readonly opts: AppNodeOptions;
  private readonly log: (line: string) => void;
  private current: { app: NodeApp; bridge: MqttBridge; timer: NodeTimer; sensor: HostSensor } | undefined;

  constructor(opts: AppNodeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.log = opts.log ?? (() => {});
    this.flash = new FlashSim({ capacityBytes: opts.flashBytes ?? 16_384 });
  }

  private get booted(): NonNullable<HostedApp["current"]> {
    if (this.current === undefined) throw new Error(`node ${this.id} is not running`);
    return this.current;
  }

  get app(): NodeApp {
    return this.booted.app;
  }

  get engine(): SyncEngine {
    return this.booted.app.engine!;
  }

  get config(): LWWMap {
    return this.engine.get("fleet/config") as LWWMap;
  }

  get readings(): LWWMap<number> {
    return this.engine.get(`readings/${this.id}`) as LWWMap<number>;
  }

  boot(): void {
    const url = new URL(this.opts.brokerUrl);
    if (url.protocol !== "mqtt:") throw new Error(`brokerUrl: mqtt://host:port, not ${this.opts.brokerUrl}`);
    const cfg = parseNodeConfig({
      id: this.id,
      broker: url.hostname,
      brokerPort: url.port === "" ? 1883 : Number(url.port),
      fleet: this.opts.fleet,
      gateway: this.opts.gateways.join(","),
      ...(this.opts.intervalMs === undefined ? {} : { interval: this.opts.intervalMs }),
      sensor: "sim",
      ...this.opts.config,
    });
    this.flash.reboot();
    const onError = (e: unknown): void => this.log(`sim: ${this.id}: exception in the firmware: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const timer = nodeTimer(onError);
    // the bridge's events reach the clients at once, as a device's socket callbacks would
    let standIn: ReturnType<typeof mqttStandIn> | undefined;
    const bridge = new MqttBridge((ev) => {
      try {
        standIn?.deliver([ev]);
      } catch (e) {
        onError(e);
      }
    });
    standIn = mqttStandIn((msg) => void bridge.handle(msg));
    const sensor = new HostSensor(new SimulatedSensor(cfg.seed));
    const app = createNodeApp({
      config: cfg,
      flash: this.flash,
      Client: standIn.Client as unknown as ModdableClientConstructor,
      timer,
      sensor,
      now: () => performance.now(),
      wallClock: () => Date.now(),
      log: this.log,
    });
    this.current = { app, bridge, timer, sensor };
    app.start();
  }

  write(readings?: Readonly<Record<string, number>>): void {
    const { app, sensor } = this.booted;
    if (readings !== undefined) sensor.next = Object.entries(readings).map(([name, value]) => ({ name, value }));
    app.sample();
    app.flush();
  }

  status(): NodeStatus {
    return this.booted.app.status();
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.booted.app.status().connected) {
      if (Date.now() > deadline) throw new Error(`node ${this.id}: not connected to the broker after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    const c = this.current;
    if (c === undefined) return;
    this.current = undefined;
    c.app.stop();
    c.timer.clearAll();
    // the goodbye (offline presence) goes out before the connections end
    await c.bridge.settled();
    c.bridge.cut();
  }

  async powerCut(): Promise<void> {
    const c = this.current;
    if (c === undefined) return;
    this.current = undefined;
    c.timer.clearAll();
    c.bridge.cut(); // no DISCONNECT: the broker publishes the will
    this.flash.cutAfter(0);
    this.log(`sim: ${this.id}: power cut`);
  }

  async restart(): Promise<void> {
    if (this.current !== undefined) await this.powerCut();
    this.boot();
    await this.ready();
  }
}

/** Boots the firmware's node app in this process and waits for its MQTT session. */
export async function startAppNode(options: AppNodeOptions): Promise<AppNode> {
  const node = new HostedApp(options);
  node.boot();
  await node.ready();
  return node;
}
