// The Node side of the firmware's simulator (xsnap-worker, MQTT.js, files): host code, named -node.
//
// The ESP32 firmware, simulated on the host: the same main module (main.ts, node-app.ts and the
// library under them) runs inside the XS made like the device's (the device xsnap-worker,
// sim/xs/device-worker.ts: built-in names stripped, intrinsics frozen after the preload, and the
// device's stack above the stand-ins' command loop, which stands in for Moddable's event loop),
// bundled by esbuild with stand-ins for the Moddable modules it imports
// (sim/moddable/esp32.ts):
//
// - "mqtt": each Client the firmware creates is a MQTT.js client here, to a real broker;
// - "embedded:storage/key-value": the node's NVS namespace is a FlashSim here (NVS's limits,
//   power cuts), saved to `flashFile` (JSON, hex values) after every change: a restart, of the
//   node or of this process, finds its flash again;
// - "timer"/"time": xsnap has no timers, so this side drives time: it sends the worker a tick
//   (the time, and the MQTT events received) when a timer is due or a message arrives;
// - "mc/config": the options below; "net": a MAC address made from the id.
//
//   const node = await startSimulatedNode({ id: "n1", brokerUrl: "mqtt://127.0.0.1:1883",
//     fleet: "demo", gateways: ["gw1"], intervalMs: 1000, flashFile: "/tmp/n1.json" });
//   await node.powerCut();   // the worker is killed mid-whatever; the flash stays
//   await node.restart();    // boots again from the flash
//   await node.stop();       // a clean shutdown: pending writes, offline presence
//
// CLI: `npm run node:sim -- --id n1 [--broker mqtt://127.0.0.1:1883] [--fleet demo]
//   [--gateway gw1] [--interval 1000] [--flash-file path] [--set key=value ...]`.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import { bundleForXs, type XsBundle } from "../xs/bundle.js";
import { ESP32_SIM_MODULES } from "../moddable/esp32.js";
import { MqttBridge } from "../moddable/mqtt-bridge-node.js";
import type { MqttEvent } from "../moddable/mqtt.js";
import { deviceXsnapWorker } from "../xs/device-worker.js";
import { XsException, XsWorker } from "../xs/worker.js";
import { fnv1aString } from "../../src/core/hash.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import type { NodeStatus } from "../../targets/esp32/node-app.js";
import { isMain } from "../../targets/rpi/is-main.js";

export interface SimulatedNodeOptions {
  /** The node's replica id (mc/config "id"), also its MQTT client id. */
  readonly id: string;
  /** mqtt://host:port */
  readonly brokerUrl: string;
  readonly fleet: string;
  readonly gateways: readonly string[];
  /** ms between samples. */
  readonly intervalMs: number;
  /** Where the node's flash is kept between runs (JSON). Without it, the flash lives as long as this object. */
  readonly flashFile?: string;
  /** The firmware's log lines (its trace output), and the simulator's own ("sim: ..."). */
  readonly log?: (line: string) => void;
  /** The wall clock the node lives on (ms since 1970; default Date.now). Tests move it forward. */
  readonly clock?: () => number;
  /** More mc/config keys (targets/esp32/config.ts): thresholds, heartbeat, reconnect, ... */
  readonly config?: Readonly<Record<string, string | number>>;
  /** The node's network at boot (default up); see SimulatedNode.setLink. */
  readonly linkUp?: boolean;
  /** Bytes of NVS for the namespace (default 16 KiB: the ESP32's 24 KiB NVS partition, less what others use). */
  readonly flashBytes?: number;
  /**
   * Stack slots the firmware gets above the stand-ins' command loop, for each call into it (a
   * timer, a message, a boot): default the ESP32 manifest's. More than that overflows as on the
   * device: XS aborts, the node dies.
   */
  readonly stackSlots?: number;
}

export interface PowerCutOptions {
  /** Let this many more flash writes happen; power is lost during the next one (default: now). */
  readonly afterWrites?: number;
  /** Whether that write lands (NVS writes are atomic: all or nothing). Default false. */
  readonly landed?: boolean;
  /** How long to wait for that write, ms (default 10 s); then the power is cut anyway. */
  readonly timeoutMs?: number;
}

export interface SimulatedNode {
  readonly id: string;
  /** A clean shutdown: the firmware writes what is pending and says goodbye; the flash is saved. */
  stop(): Promise<void>;
  /** Power lost: the worker is killed where it is, its connections drop (the broker publishes its will); the flash keeps what was written. */
  powerCut(options?: PowerCutOptions): Promise<void>;
  /** Boots again on the same flash (after a power cut or a stop; a running node is reset first). */
  restart(): Promise<void>;
  /** The firmware's state (undefined while it is not running). */
  status(): Promise<NodeStatus | undefined>;
  /** The node's network: down drops its connection at once (no DISCONNECT) and fails every new one until it is up. */
  setLink(up: boolean): void;
  /** Runs the firmware's due timers and delivers what arrived, now (after moving `clock`, say). */
  tick(): Promise<void>;
  /** Takes one sample now. */
  sample(): Promise<void>;
  /** Has the firmware write what is pending to flash now (with powerCut({afterWrites}), a cut inside that batch). */
  flush(): Promise<void>;
  readonly running: boolean;
  /** The node's flash (the simulation's controls: stats, peek). */
  readonly flash: FlashSim;
}

const SIM_SHIMS = fileURLToPath(new URL("../moddable/esp32.ts", import.meta.url));
const DEVICE_REALM = fileURLToPath(new URL("../xs/device-realm.ts", import.meta.url));
const MAIN = fileURLToPath(new URL("../../targets/esp32/main.ts", import.meta.url));
const FLASH_FILE_FORMAT = "lichen-flash-sim/1";
/** The longest wait between two ticks while nothing is due: how soon a moved clock is noticed. */
const MAX_TICK_MS = 250;

/** The Moddable modules of the firmware → the simulation's stand-ins. */
const simPlugin: Plugin = {
  name: "esp32-sim",
  setup(b) {
    const names = Object.keys(ESP32_SIM_MODULES).map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
    b.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => ({ path: args.path, namespace: "esp32-sim" }));
    b.onLoad({ filter: /.*/, namespace: "esp32-sim" }, (args) => ({
      contents: `export { ${ESP32_SIM_MODULES[args.path]} as default } from ${JSON.stringify(SIM_SHIMS)};`,
      resolveDir: path.dirname(SIM_SHIMS),
      loader: "ts",
    }));
  },
};

let firmware: Promise<XsBundle> | undefined;

/** The firmware and the stand-ins, bundled once per process, in an XS made like the device's after
 * preload (sim/xs/device-realm.ts: built-in names stripped, then the intrinsics frozen). */
export function bundleFirmware(): Promise<XsBundle> {
  firmware ??= bundleForXs(
    [
      `import { settleAsPreloaded } from ${JSON.stringify(DEVICE_REALM)};`,
      `import * as firmware from ${JSON.stringify(MAIN)};`,
      `import { installEsp32Sim } from ${JSON.stringify(SIM_SHIMS)};`,
      `installEsp32Sim(firmware.default);`,
      `settleAsPreloaded([firmware]);`,
    ].join("\n"),
    { plugins: [simPlugin] },
  );
  return firmware;
}

/** A locally administered MAC address made from the id: what Net.get("MAC") says in the simulation. */
export function simulatedMac(id: string): string {
  const h = fnv1aString(id);
  const bytes = [0x02, 0x00, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function loadFlash(file: string | undefined, capacityBytes: number): FlashSim {
  const flash = new FlashSim({ capacityBytes });
  if (file === undefined) return flash;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return flash; // a new node
  }
  const saved = JSON.parse(text) as { format?: string; entries?: Record<string, string> };
  if (saved.format !== FLASH_FILE_FORMAT || typeof saved.entries !== "object") throw new Error(`${file} is not a simulated flash (${FLASH_FILE_FORMAT})`);
  for (const [k, hex] of Object.entries(saved.entries)) flash.poke(k, Uint8Array.from(Buffer.from(hex, "hex")));
  return flash;
}

function saveFlash(file: string, flash: FlashSim): void {
  const entries: Record<string, string> = {};
  const keys: string[] = [];
  for (const k of flashKeys(flash)) keys.push(k);
  for (const k of keys.sort()) entries[k] = Buffer.from(flash.peek(k)!).toString("hex");
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ format: FLASH_FILE_FORMAT, capacityBytes: flash.capacityBytes, entries }, null, 1)}\n`);
  renameSync(tmp, file);
}

/** Every key of the flash, powered or not. */
function flashKeys(flash: FlashSim): string[] {
  if (flash.poweredOn) return flash.keys();
  // keys() needs power; a clone has it and the same contents
  return flash.clone().keys();
}

class Simulation implements SimulatedNode {
  readonly id: string;
  readonly flash: FlashSim;
  private readonly opts: SimulatedNodeOptions;
  private readonly clock: () => number;
  private readonly log: (line: string) => void;
  private readonly broker: { host: string; port: number };
  private worker: XsWorker | undefined;
  /** The worker of the current boot is dead (power cut): whatever it still asks is refused. */
  private dead = true;
  private linkUp: boolean;
  private readonly mqtt: MqttBridge;
  private events: MqttEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private next: number | null = null;
  private cranking: Promise<void> | undefined;
  private again = false;
  private flashDirty = false;
  private cutWaiter: (() => void) | undefined;

  constructor(opts: SimulatedNodeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.linkUp = opts.linkUp ?? true;
    this.mqtt = new MqttBridge((ev) => this.push(ev));
    this.mqtt.setLink(this.linkUp);
    const url = new URL(opts.brokerUrl);
    if (url.protocol !== "mqtt:") throw new Error(`brokerUrl: mqtt://host:port, not ${opts.brokerUrl}`);
    this.broker = { host: url.hostname, port: url.port === "" ? 1883 : Number(url.port) };
    this.flash = loadFlash(opts.flashFile, opts.flashBytes ?? 16_384);
  }

  get running(): boolean {
    return !this.dead;
  }

  // ---- booting and ending ----

  async boot(): Promise<void> {
    const bundle = await bundleFirmware();
    const device = deviceXsnapWorker();
    if (!device.ok) throw new Error(`the simulated node runs in the device xsnap-worker, which cannot be built here: ${device.reason}`);
    this.flash.reboot();
    this.events = [];
    this.next = null;
    const worker = await XsWorker.start({
      bin: device.path,
      name: `lichen-esp32-sim ${this.id}`,
      detached: true, // Ctrl-C on the CLI stops the node cleanly, instead of killing its worker
      onCommand: (request) => this.onCommand(worker, request),
      onPrint: (line) => this.log(line),
    });
    this.worker = worker;
    this.dead = false;
    try {
      await worker.evaluate(bundle.code);
      const config: Record<string, string | number> = {
        id: this.id,
        broker: this.broker.host,
        brokerPort: this.broker.port,
        fleet: this.opts.fleet,
        gateway: this.opts.gateways.join(","),
        interval: this.opts.intervalMs,
        sensor: "sim",
        ...this.opts.config,
      };
      const r = await this.command({ op: "boot", now: this.clock(), config, mac: simulatedMac(this.id), stackSlots: this.opts.stackSlots ?? device.creation.stackSlots });
      this.next = (r as { next: number | null }).next;
    } catch (e) {
      this.kill();
      throw e;
    }
    this.persist();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.dead || this.worker === undefined) return;
    await this.quiesce();
    const worker = this.worker;
    if (this.dead || worker === undefined) return; // it died meanwhile (a power cut)
    try {
      await this.command({ op: "stop", now: this.clock() });
    } catch (e) {
      this.log(`sim: ${this.id}: stop failed: ${(e as Error).message}`);
    }
    this.dead = true;
    this.clearTimer();
    await worker.close().catch(() => worker.kill());
    this.worker = undefined;
    // the goodbye (offline presence) goes out before the connections end
    await this.mqtt.settled();
    this.mqtt.cut();
    this.persist();
  }

  async powerCut(options: PowerCutOptions = {}): Promise<void> {
    if (this.dead) return;
    if (options.afterWrites !== undefined) {
      const cut = new Promise<void>((resolve) => (this.cutWaiter = resolve));
      this.flash.cutAfter(options.afterWrites, { landed: options.landed ?? false });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([cut, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeoutMs ?? 10_000)))]);
      clearTimeout(timer);
      this.cutWaiter = undefined;
    }
    this.kill();
    await this.cranking?.catch(() => {});
  }

  async restart(): Promise<void> {
    if (!this.dead) await this.powerCut();
    await this.boot();
  }

  /** Power off now: no more commands, no more goodbyes. */
  private kill(): void {
    if (this.dead && this.worker === undefined) return;
    this.dead = true;
    this.clearTimer();
    this.worker?.kill();
    this.worker = undefined;
    this.mqtt.cut(); // no DISCONNECT: the broker publishes the wills
    this.events = [];
    this.persist();
    this.log(`sim: ${this.id}: power cut`);
  }

  // ---- driving the worker ----

  private async command(msg: object): Promise<unknown> {
    const w = this.worker;
    if (w === undefined) throw new Error("the node is not running");
    const r = await w.command(new TextEncoder().encode(JSON.stringify(msg)));
    this.persist();
    const text = new TextDecoder().decode(r.reply);
    return text === "" ? null : JSON.parse(text);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.dead) return;
    this.clearTimer();
    const wait = this.events.length > 0 ? 0 : this.next === null ? MAX_TICK_MS : Math.max(0, Math.min(MAX_TICK_MS, this.next - this.clock()));
    this.timer = setTimeout(() => void this.crank(), wait);
  }

  /** One tick: the time, the MQTT events; the worker runs what is due. */
  private crank(): Promise<void> {
    if (this.cranking !== undefined) {
      this.again = true;
      return this.cranking;
    }
    this.clearTimer();
    this.cranking = (async () => {
      try {
        do {
          this.again = false;
          if (this.dead) return;
          const events = this.events;
          this.events = [];
          try {
            const r = (await this.command({ op: "tick", now: this.clock(), events })) as { next: number | null };
            this.next = r.next;
          } catch (e) {
            if (this.dead) return;
            if (e instanceof XsException) this.log(`sim: ${this.id}: exception in the firmware: ${e.message}`);
            else {
              this.log(`sim: ${this.id}: the worker died: ${(e as Error).message}`);
              this.kill();
              return;
            }
          }
        } while (this.again || this.events.length > 0);
      } finally {
        this.cranking = undefined;
        this.schedule();
      }
    })();
    return this.cranking;
  }

  /** Waits for the tick in progress, if any. */
  private async quiesce(): Promise<void> {
    while (this.cranking !== undefined) await this.cranking.catch(() => {});
  }

  async tick(): Promise<void> {
    if (this.dead) return;
    await this.quiesce();
    await this.crank();
  }

  async sample(): Promise<void> {
    if (this.dead) return;
    await this.quiesce();
    await this.command({ op: "sample", now: this.clock() });
  }

  async flush(): Promise<void> {
    if (this.dead) return;
    await this.quiesce();
    await this.command({ op: "flush", now: this.clock() }).catch((e: unknown) => {
      if (!this.dead) throw e;
    });
  }

  async status(): Promise<NodeStatus | undefined> {
    if (this.dead) return undefined;
    await this.quiesce();
    return ((await this.command({ op: "status", now: this.clock() })) as NodeStatus | null) ?? undefined;
  }

  setLink(up: boolean): void {
    if (this.linkUp === up) return;
    this.linkUp = up;
    this.log(`sim: ${this.id}: network ${up ? "up" : "down"}`);
    this.mqtt.setLink(up);
  }

  private persist(): void {
    if (!this.flashDirty || this.opts.flashFile === undefined) return;
    this.flashDirty = false;
    saveFlash(this.opts.flashFile, this.flash);
  }

  private push(ev: MqttEvent): void {
    if (this.dead) return;
    this.events.push(ev);
    if (this.cranking === undefined) this.schedule();
    else this.again = true;
  }

  // ---- what the firmware asks ----

  private onCommand(worker: XsWorker, request: Uint8Array): Uint8Array {
    let reply: unknown;
    try {
      reply = worker === this.worker && !this.dead ? this.handle(JSON.parse(new TextDecoder().decode(request)) as Record<string, unknown> & { op: string }) : { error: "power lost" };
    } catch (e) {
      reply = { error: (e as Error).message };
    }
    return new TextEncoder().encode(JSON.stringify(reply ?? {}));
  }

  private handle(m: Record<string, unknown> & { op: string }): unknown {
    if (this.mqtt.handle(m)) return {};
    switch (m.op) {
      case "log": {
        const text = String(m.text);
        for (const line of text.replace(/\n$/, "").split("\n")) this.log(line);
        return {};
      }
      case "flash-get": {
        const v = this.flashOp(() => this.flash.get(m.key as string));
        return { value: v === undefined ? null : Buffer.from(v).toString("hex") };
      }
      case "flash-set":
        this.flashOp(() => this.flash.set(m.key as string, Uint8Array.from(Buffer.from(m.value as string, "hex"))));
        this.flashDirty = true;
        return {};
      case "flash-delete":
        this.flashOp(() => this.flash.delete(m.key as string));
        this.flashDirty = true;
        return {};
      case "flash-keys":
        return { keys: this.flashOp(() => this.flash.keys()) };
      default:
        throw new Error(`unknown op ${JSON.stringify(m.op)}`);
    }
  }

  /** A flash operation; a simulated power cut during it kills the node right after. */
  private flashOp<T>(op: () => T): T {
    try {
      return op();
    } finally {
      if (!this.flash.poweredOn && !this.dead) {
        this.flashDirty = true;
        this.dead = true; // nothing more from this boot: not even the reply's consequences
        this.cutWaiter?.();
        setImmediate(() => this.kill());
      }
    }
  }
}

/** Boots a simulated ESP32 node: the firmware inside XS, on a real broker. */
export async function startSimulatedNode(options: SimulatedNodeOptions): Promise<SimulatedNode> {
  const node = new Simulation(options);
  await node.boot();
  return node;
}

// ---- the CLI: npm run node:sim -- --id n1 ... ----

function usage(): never {
  console.error(
    "usage: npm run node:sim -- --id ID [--broker mqtt://127.0.0.1:1883] [--fleet demo] [--gateway gw1[,gw2]] [--interval 1000] [--flash-file PATH] [--set key=value ...]",
  );
  process.exit(2);
}

async function cli(argv: string[]): Promise<void> {
  const o: { id?: string; broker: string; fleet: string; gateway: string; interval: number; flashFile?: string; config: Record<string, string> } = {
    broker: "mqtt://127.0.0.1:1883",
    fleet: "demo",
    gateway: "gw1",
    interval: 1000,
    config: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage();
      return v;
    };
    switch (flag) {
      case "--id":
        o.id = value();
        break;
      case "--broker":
        o.broker = value();
        break;
      case "--fleet":
        o.fleet = value();
        break;
      case "--gateway":
        o.gateway = value();
        break;
      case "--interval":
        o.interval = Number(value());
        break;
      case "--flash-file":
        o.flashFile = value();
        break;
      case "--set": {
        const kv = value();
        const eq = kv.indexOf("=");
        if (eq <= 0) usage();
        o.config[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      default:
        usage();
    }
  }
  if (o.id === undefined || !Number.isSafeInteger(o.interval) || o.interval < 10) usage();
  const flashFile = o.flashFile ?? path.join(tmpdir(), "lichen-sim", `${o.fleet}-${o.id}.flash.json`);
  console.log(`sim: node ${o.id} inside XS, broker ${o.broker}, flash ${flashFile}`);
  const node = await startSimulatedNode({
    id: o.id,
    brokerUrl: o.broker,
    fleet: o.fleet,
    gateways: o.gateway.split(",").filter((g) => g !== ""),
    intervalMs: o.interval,
    flashFile,
    config: o.config,
    log: (line) => console.log(`[${o.id}] ${line}`),
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    node.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (isMain(import.meta.url)) {
  cli(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`sim: ${(e as Error)?.stack ?? String(e)}`);
    process.exit(1);
  });
}
