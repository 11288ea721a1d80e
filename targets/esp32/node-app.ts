// The sensor node's application, as a factory that takes everything platform-specific as
// arguments: the flash (a FlashDriver), Moddable's MQTT Client class, Moddable's Timer, the
// sensor and the clocks. main.ts wires the real Moddable modules; the host simulation
// (sim-node.ts) and the tests wire stand-ins. Device code: nothing runs at module load.
//
// State, in CRDTs synced with the gateway (SyncEngine over Moddable's MQTT client, QoS 0,
// lichen's acknowledgements), persisted in NVS through FlashKv and a coalescing StateStore
// (DEVICE_COALESCING: one flash batch per 100 operations or 5 s). The documents are typed: their
// schema is documents.toml, and documents.ts (generated from it) opens and reads them and gives
// the engine their schema versions, which travel in every delta:
//
//   events/<id>    PNCounter   samples taken by this node
//   readings/<id>  LWWMap      the latest value per sensor ("temperature" → 21.53)
//   alarms/<id>    ORSet       active alarms ("temperature:high"): raised when a reading is over its
//                              threshold, removed when it is back under
//   fleet/config   LWWMap      written by the gateway, read here: "threshold.<sensor>" → number,
//                              "interval" → ms between samples (override the node's own config)
//
// Power cuts. The StateStore coalesces writes, so a power cut loses the operations not yet in
// flash (at most 99, none older than about 5 s). The SyncEngine sends a document only once it is
// stored (StateStore.onFlushed), so what a cut loses never left the node: no peer holds an event
// the node could lose, and after a restart the node and the gateway agree again. (Were it
// otherwise, a replica that loses events a peer has and then makes new ones would claim, by its
// version vector, the lost ones, and the two would stay different while believing they are in
// sync.) The price: online, a change reaches the gateway when it is written, at most 5 s later
// (or at once after 100 operations); offline, nothing is sent and the coalescing works in full.
// The gateway stores what it receives before it acknowledges it.
//
// A wiped flash (same id). The engine starts recovering (SyncEngine.recovering): the gateway may
// hold events of this node that it must learn back first, or a counter's increments made now would
// be merged under the count it learns back. Meanwhile samples are held in RAM (how many, and the
// latest readings) and written once the engine has recovered (onRecovered): the boot's sample, and
// every sample while connected to the broker, unless every gateway heard of is offline. Offline, a
// new node cannot tell itself from a wiped one, so it counts as always (offline first), held
// samples included, unless a gateway already said it holds events of this node
// (SyncEngine.mayWrite). A node without a broker has no gateway to learn from, and writes at once.
import type { PNCounter } from "../../src/core/counters.js";
import type { LWWMap } from "../../src/core/maps.js";
import type { ORSet } from "../../src/core/sets.js";
import { openClock } from "../../src/store/clock-store.js";
import type { FlashDriver } from "../../src/store/flash-driver.js";
import { FlashKv } from "../../src/store/flash-kv.js";
import { DEVICE_COALESCING } from "../../src/store/state-store.js";
import { ModdableMqttSync, timerScheduler, type ModdableClient, type ModdableClientConstructor, type ModdableClientOptions, type ModdableTimer } from "../../src/transport/mqtt-moddable.js";
import type { PeerStatus } from "../../src/transport/mqtt-peer.js";
import { SyncEngine, type Scheduler, type SyncLogEntry } from "../../src/transport/sync-engine.js";
import type { NodeConfig } from "./config.js";
import { documentSchemas, openAlarms, openEvents, openFleetConfig, openReadings, readFleetConfig } from "./documents.js";
import type { Reading, Sensor } from "./sensor.js";

export interface NodeAppOptions {
  readonly config: NodeConfig;
  /** The flash: openModdableFlash() on the device, a FlashSim (or a proxy of one) on the host. */
  readonly flash: FlashDriver;
  /** Moddable's MQTT Client class (`import Client from "mqtt"`). */
  readonly Client: ModdableClientConstructor;
  /** Moddable's Timer (`import Timer from "timer"`). */
  readonly timer: ModdableTimer;
  readonly sensor: Sensor;
  /** Monotonic milliseconds: Time.ticks on the device. */
  readonly now: () => number;
  /** The wall clock, ms since 1970 (default Date.now; 1970 before SNTP, then the HLC counts alone). */
  readonly wallClock?: () => number;
  /** One line per event, without a newline: trace() on the device. */
  readonly log?: (line: string) => void;
  /**
   * TLS for the broker connection (config brokerTls=1), given by a firmware built with
   * Moddable's TLS (docs/esp32.md): Moddable's SecureSocket and its options, the CA certificate
   * read from the resource `ca`. Without it a node configured for TLS stays offline.
   */
  readonly tls?: (ca: string) => { readonly Socket: unknown; readonly secure: unknown };
}

export interface NodeGatewayStatus {
  readonly id: string;
  readonly online: boolean;
  /** The gateway acknowledged every document at our current version. */
  readonly inSync: boolean;
}

export interface NodeStatus {
  readonly id: string;
  readonly running: boolean;
  /** The MQTT session is up. */
  readonly connected: boolean;
  readonly gateways: NodeGatewayStatus[];
  /** Samples taken since this boot. */
  readonly samplesThisBoot: number;
  /** Samples taken while the engine recovers, applied once it has (see the top of this file). */
  readonly heldSamples: number;
  /** The events counter's value: samples taken by this node, in all. */
  readonly counted: number;
  /** The counter's value when this boot restored it from flash. */
  readonly bootCounted: number;
  readonly readings: Record<string, number>;
  readonly alarms: string[];
  /** Operations not yet written to flash: what a power cut now would lose locally. */
  readonly pendingOps: number;
  readonly intervalMs: number;
  /** The fleet's config, as the gateway wrote it (fleet/config). */
  readonly fleetConfig: Record<string, unknown>;
  /** What opening the flash recovered. */
  readonly recovery: string;
}

export interface NodeApp {
  readonly id: string;
  /** Opens the state, takes a first sample, starts the sample timer and the MQTT session. */
  start(): void;
  /** Writes what is pending, announces itself offline, closes the MQTT session and the flash. */
  stop(): void;
  /** Takes one sample now (the timer calls it every interval). */
  sample(): void;
  /** Writes every pending change to flash now. */
  flush(): void;
  status(): NodeStatus;
  /** The sync engine, once started (tests and tools). */
  readonly engine: SyncEngine | undefined;
}

function round(n: number): string {
  return String(Math.round(n * 100) / 100);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Moddable's MQTT Client, wrapped to log the connection's life. A class of this module, so
 * preloaded on the device: its methods cost no RAM (closures made at run time would).
 */
class NodeClient implements ModdableClient {
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
  private readonly c: ModdableClient;

  constructor(
    Base: ModdableClientConstructor,
    o: ModdableClientOptions,
    log: (line: string) => void,
  ) {
    log(`lichen: mqtt: connecting to ${o.host}:${o.port ?? 1883} as ${o.id}${o.Socket === undefined ? "" : " over TLS"}`);
    const c = new Base(o);
    this.c = c;
    c.onReady = () => {
      log("lichen: mqtt: connected");
      this.onReady?.();
    };
    c.onMessage = (topic, data) => this.onMessage?.(topic, data);
    c.onClose = () => {
      log("lichen: mqtt: connection lost");
      this.onClose?.();
    };
  }

  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean }): void {
    this.c.publish(topic, data, flags);
  }

  subscribe(topic: string): void {
    this.c.subscribe(topic);
  }

  close(): void {
    this.c.onReady = this.c.onMessage = this.c.onClose = undefined;
    this.c.close();
  }
}

/**
 * The sensor node. A class rather than closures: on the device its methods are preloaded in
 * flash, and an instance costs only its fields.
 */
class SensorNode implements NodeApp {
  readonly id: string;
  private readonly options: NodeAppOptions;
  private readonly cfg: NodeConfig;
  private readonly log: (line: string) => void;
  private readonly scheduler: Scheduler;
  private kv: FlashKv | undefined;
  private sync: ModdableMqttSync | undefined;
  private syncEngine: SyncEngine | undefined;
  private events: PNCounter | undefined;
  private readings: LWWMap<number> | undefined;
  private alarms: ORSet<string> | undefined;
  private fleet: LWWMap | undefined;
  private running = false;
  private samplesThisBoot = 0;
  private bootCounted = 0;
  private cancelSample: (() => void) | undefined;
  private lastFleet = "";
  private loopInterval = 0;
  /** Samples taken while recovering, and the latest readings among them. */
  private held = 0;
  private heldReadings: Reading[] | undefined;

  constructor(options: NodeAppOptions) {
    this.options = options;
    this.cfg = options.config;
    this.id = options.config.id;
    this.log = options.log ?? noLog;
    this.scheduler = timerScheduler(options.timer, options.now);
  }

  get engine(): SyncEngine | undefined {
    return this.syncEngine;
  }

  // ---- start and stop ----

  start(): void {
    if (this.running || this.kv !== undefined) throw new Error("the node app starts once");
    const { cfg, id, log, options } = this;
    const tuning = cfg.sync;
    const kv = FlashKv.open(options.flash);
    this.kv = kv;
    const clock = openClock(kv, { wallClock: options.wallClock ?? Date.now });
    const engineLog = (e: SyncLogEntry): void => log(`lichen: sync ${e.event}${e.peer ? ` ${e.peer}` : ""}${e.doc ? ` ${e.doc}` : ""}: ${e.message}`);
    const common = {
      replica: id,
      role: "node" as const,
      kv,
      scheduler: this.scheduler,
      clock,
      coalesce: DEVICE_COALESCING,
      maxReassemblyBytes: 16_384,
      documents: documentSchemas,
      log: engineLog,
      onApplied: (_peer: string, doc: string) => this.onApplied(doc),
      onRecovered: () => this.onRecovered(),
      antiEntropyMs: tuning.antiEntropyMs,
      resendMs: tuning.resendMs,
      maxResendMs: tuning.maxResendMs,
    };
    log(
      `lichen: node ${id}, fleet ${cfg.fleet}, gateway ${cfg.gateways.join(",") || "(any)"}, broker ${cfg.broker === "" ? "(none)" : `${cfg.broker}:${cfg.brokerPort}`}, sample every ${cfg.intervalMs} ms`,
    );
    let engine: SyncEngine;
    const tls = cfg.brokerTls && cfg.broker !== "" ? options.tls?.(cfg.brokerCa) : undefined;
    if (cfg.broker === "") {
      log("lichen: no broker configured (set broker=HOST): sampling and storing offline");
      engine = new SyncEngine({ ...common, send: noSend });
    } else if (cfg.brokerTls && tls === undefined) {
      // never the credentials in clear text when TLS was asked for
      log("lichen: brokerTls=1 but this firmware has no TLS (docs/esp32.md): sampling and storing offline");
      engine = new SyncEngine({ ...common, send: noSend });
    } else {
      const Base = options.Client;
      const sync = new ModdableMqttSync({
        ...common,
        fleet: cfg.fleet,
        gateways: cfg.gateways.length > 0 ? cfg.gateways : undefined,
        host: cfg.broker,
        port: cfg.brokerPort,
        user: cfg.brokerUser === "" ? undefined : cfg.brokerUser,
        password: cfg.brokerPassword === "" ? undefined : cfg.brokerPassword,
        Socket: tls?.Socket,
        secure: tls?.secure,
        // called with `new` by the binding: returning an object makes it the instance
        Client: function LoggingClient(o: ModdableClientOptions) {
          return new NodeClient(Base, o, log);
        } as unknown as ModdableClientConstructor,
        heartbeatMs: tuning.heartbeatMs,
        keepaliveMs: tuning.keepaliveMs,
        reconnectMs: tuning.reconnectMs,
        maxReconnectMs: tuning.maxReconnectMs,
        onPresence: (peer, st) => this.onPresence(peer, st),
      });
      this.sync = sync;
      engine = sync.engine;
    }
    this.syncEngine = engine;
    const docs = engine.documents().length;
    const events = openEvents(engine, id);
    this.events = events;
    this.readings = openReadings(engine, id);
    const alarms = openAlarms(engine, id);
    this.alarms = alarms;
    this.fleet = openFleetConfig(engine, "config");
    this.running = true;
    this.bootCounted = events.value();
    const r = kv.recovery;
    const recovery = r.journal === "none" && r.orphans === 0 ? "clean" : `journal ${r.journal}, ${r.orphans} orphans removed`;
    log(`lichen: flash ${recovery}: ${docs} documents, ${events.value()} samples counted, alarms [${alarms.value().join(", ")}]`);
    this.sample();
    this.loop();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.cancelSample?.();
    this.cancelSample = undefined;
    const engine = this.syncEngine!;
    const pending = engine.pendingOps;
    try {
      if (this.sync !== undefined) this.sync.close();
      else engine.close();
    } catch (e) {
      this.log(`lichen: flash error: ${errorText(e)}`);
    }
    this.kv!.close();
    this.log(`lichen: stopped (${pending} pending operations written)`);
    this.options.sensor.close?.();
  }

  // ---- sampling ----

  private loop(): void {
    this.loopInterval = this.intervalMs();
    this.cancelSample = this.scheduler.setTimer(this.loopInterval, () => {
      this.cancelSample = undefined;
      if (!this.running) return;
      this.sample();
      this.loop();
    });
  }

  private intervalMs(): number {
    const v = this.fleet === undefined ? undefined : readFleetConfig(this.fleet).interval;
    return typeof v === "number" && Number.isSafeInteger(v) && v >= 10 && v <= 86_400_000 ? v : this.cfg.intervalMs;
  }

  private threshold(name: string): number | undefined {
    const v = this.fleet?.get(`threshold.${name}`);
    if (typeof v === "number" && Number.isFinite(v)) return v;
    return this.cfg.thresholds[name];
  }

  sample(): void {
    if (!this.running) return;
    const engine = this.syncEngine!;
    let rs: Reading[];
    try {
      rs = this.options.sensor.read();
    } catch (e) {
      this.log(`lichen: sensor error: ${errorText(e)}`);
      return;
    }
    if (this.holding()) {
      this.samplesThisBoot++;
      this.held++;
      this.heldReadings = rs;
      this.log(`lichen: sample held (${this.held} held until the gateway has given this node its own events back)`);
      return;
    }
    try {
      this.checkFleetConfig();
      this.samplesThisBoot++;
      const count = this.held + 1;
      this.held = 0;
      this.heldReadings = undefined;
      this.record(rs, count);
      const gw = this.gatewayOnline();
      const state = gw === undefined ? "offline" : engine.inSync(gw) ? `${gw} in sync` : `${gw} sending`;
      let line = `lichen: sample ${this.events!.value()}`;
      for (const r of rs) line += ` ${r.name}=${round(r.value)}`;
      this.log(`${line} (${state}, ${engine.pendingOps} ops pending)`);
    } catch (e) {
      this.log(`lichen: sample failed: ${errorText(e)}`);
    }
  }

  /** Writes `count` samples whose latest readings are `rs`. */
  private record(rs: Reading[], count: number): void {
    const engine = this.syncEngine!;
    const id = this.id;
    const readings = this.readings!;
    let readingsChanged = false;
    for (const r of rs) {
      if (typeof r.value !== "number" || !Number.isFinite(r.value)) continue;
      if (readings.get(r.name) === r.value) continue;
      readings.set(r.name, r.value);
      readingsChanged = true;
    }
    this.events!.incrementBy(count);
    const alarmsChanged = this.updateAlarms(rs);
    if (readingsChanged) engine.changed("readings", id);
    engine.changed("events", id);
    if (alarmsChanged) engine.changed("alarms", id);
  }

  /** Whether samples wait for the engine to recover (see the top of this file). */
  private holding(): boolean {
    const engine = this.syncEngine!;
    if (this.sync === undefined || !engine.recovering) return false;
    const id = this.id;
    if (!engine.mayWrite("events", id) || !engine.mayWrite("readings", id) || !engine.mayWrite("alarms", id)) return true;
    if (this.samplesThisBoot === 0) return true; // the boot's sample: the session is not up yet
    if (!this.sync.connected) return false; // offline first
    // connected: wait for a gateway to say what it holds, unless every gateway heard of is offline
    let gateways = 0;
    for (const p of this.sync.peers()) {
      if (p.role !== "gateway") continue;
      if (p.online) return true;
      gateways++;
    }
    return gateways === 0;
  }

  /** The engine has its own events back: the held samples are written (after the frame is handled). */
  private onRecovered(): void {
    this.scheduler.setTimer(0, () => this.applyHeld());
  }

  private applyHeld(): void {
    const n = this.held;
    const rs = this.heldReadings;
    if (!this.running || n === 0 || rs === undefined || this.holding()) return;
    this.held = 0;
    this.heldReadings = undefined;
    try {
      this.checkFleetConfig();
      this.record(rs, n);
      this.log(`lichen: ${n} held samples written: ${this.events!.value()} counted`);
    } catch (e) {
      this.log(`lichen: held samples failed: ${errorText(e)}`);
    }
  }

  private updateAlarms(rs: Reading[]): boolean {
    const alarms = this.alarms!;
    let changed = false;
    for (const r of rs) {
      const limit = this.threshold(r.name);
      const name = `${r.name}:high`;
      const wanted = limit !== undefined && r.value > limit;
      // compared with the set as it is (restored from flash, or changed by the gateway), not
      // with a flag of this boot
      if (alarms.has(name) === wanted) continue;
      if (wanted) {
        alarms.add(name);
        this.log(`lichen: alarm raised ${name} (${round(r.value)} > ${round(limit!)})`);
      } else {
        alarms.remove(name);
        this.log(`lichen: alarm cleared ${name} (${round(r.value)})`);
      }
      changed = true;
    }
    return changed;
  }

  /** A peer's delta was applied: a new fleet config applies at once (after the frame is handled). */
  private onApplied(doc: string): void {
    if (doc !== "fleet/config" || !this.running) return;
    this.scheduler.setTimer(0, () => this.applyFleetConfig());
  }

  private applyFleetConfig(): void {
    if (!this.running) return;
    try {
      this.checkFleetConfig();
      // while recovering nothing is written: the alarms follow with the held samples
      if (this.holding()) return;
      const values = this.readings!.value();
      const rs: Reading[] = [];
      for (const name of Object.keys(values)) rs.push({ name, value: values[name]! });
      if (this.updateAlarms(rs)) this.syncEngine!.changed("alarms", this.id);
      // a new interval: the next sample comes after it
      if (this.intervalMs() !== this.loopInterval) {
        this.cancelSample?.();
        this.loop();
      }
    } catch (e) {
      this.log(`lichen: fleet config failed: ${errorText(e)}`);
    }
  }

  private checkFleetConfig(): void {
    if (this.fleet === undefined) return;
    const text = JSON.stringify(this.fleet.value());
    if (text === this.lastFleet) return;
    if (this.lastFleet !== "" || text !== "{}") this.log(`lichen: fleet config ${text}`);
    this.lastFleet = text;
  }

  // ---- flash ----

  flush(): void {
    if (this.syncEngine === undefined) return;
    try {
      this.syncEngine.flush();
    } catch (e) {
      this.log(`lichen: flash error: ${errorText(e)}`);
    }
  }

  // ---- the gateway ----

  private gatewayOnline(): string | undefined {
    if (this.sync === undefined) return undefined;
    for (const p of this.sync.peers()) if (p.online && p.role === "gateway") return p.id;
    return undefined;
  }

  private onPresence(peer: string, s: PeerStatus): void {
    if (s.role === "gateway") this.log(`lichen: gateway ${peer} ${s.online ? "online" : "offline"}`);
  }

  // ---- status ----

  status(): NodeStatus {
    const engine = this.syncEngine;
    const kv = this.kv;
    const gws: NodeGatewayStatus[] = [];
    if (this.sync !== undefined) {
      for (const p of this.sync.peers()) if (p.role === "gateway") gws.push({ id: p.id, online: p.online, inSync: p.online && engine!.inSync(p.id) });
    }
    const counted = this.events?.value() ?? 0;
    const r = kv?.recovery;
    return {
      id: this.id,
      running: this.running,
      connected: this.sync?.connected ?? false,
      gateways: gws,
      samplesThisBoot: this.samplesThisBoot,
      heldSamples: this.held,
      counted,
      bootCounted: this.bootCounted,
      readings: this.readings === undefined ? {} : { ...this.readings.value() },
      alarms: this.alarms === undefined ? [] : this.alarms.value().slice(),
      pendingOps: engine?.pendingOps ?? 0,
      intervalMs: this.intervalMs(),
      fleetConfig: this.fleet === undefined ? {} : { ...this.fleet.value() },
      recovery: r === undefined ? "not started" : r.journal === "none" && r.orphans === 0 ? "clean" : `journal ${r.journal}, ${r.orphans} orphans removed`,
    };
  }
}

function noLog(): void {}

function noSend(): void {}

/** The sensor node. Nothing happens until start(). */
export function createNodeApp(options: NodeAppOptions): NodeApp {
  return new SensorNode(options);
}
