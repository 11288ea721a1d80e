// A node whose flash is wiped (same id) samples while its engine learns its own events back from
// the gateway (SyncEngine.recovering): no increment is lost once it has recovered. The node app
// (targets/esp32/node-app.ts) runs on stand-ins, on both engines: a manual clock with Moddable's
// Timer API, a FlashSim, and an in-memory broker (topics with + and # wildcards, retained
// messages, every delivery a timer of its own) that carries Moddable's Client of the node and the
// MQTT client of a gateway (MqttPeer over a MemoryKv). The engine's refusal of a write that could
// be lost is tested on two engines with the frames between them pumped by hand.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PNCounter } from "../../src/core/counters.js";
import { LichenError } from "../../src/core/errors.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import { MemoryKv } from "../../src/store/kv.js";
import type { ModdableClient, ModdableClientConstructor, ModdableClientOptions, ModdableTimer } from "../../src/transport/mqtt-moddable.js";
import { MqttPeer, type MqttClientLike } from "../../src/transport/mqtt-peer.js";
import { decodeFrame } from "../../src/transport/frames.js";
import { SyncEngine, type Scheduler } from "../../src/transport/sync-engine.js";
import { parseNodeConfig } from "../../targets/esp32/config.js";
import { createNodeApp, type NodeApp } from "../../targets/esp32/node-app.js";
import { SimulatedSensor } from "../../targets/esp32/sensor.js";
import { grantedStackSlots } from "../runner/uvu-shim.js";

const FLEET = "rec";
const NODE = "n1";
const GATEWAY = "gw";
/** Every delivery of the broker takes this long: the node samples while frames are on their way. */
const LATENCY_MS = 20;

/** The device xsnap-worker's global (sim/xs/device-worker.ts): the device's stack above the caller. Absent under Node. */
const stackHere = (globalThis as { lichenDeviceStackHere?: (slots: number) => number }).lichenDeviceStackHere;

/**
 * Moddable's Timer and event loop, moved by hand. The loop calls each due timer (a delivery of the
 * broker's, a timer of the app's) as the device's does, from the bottom of its stack: in the
 * device worker each callback gets the test's stack (the device's) above advance(), whatever the
 * test body holds under it, instead of what the body has left.
 */
class ManualTime implements ModdableTimer, Scheduler {
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  at = 0;

  now(): number {
    return this.at;
  }

  set(callback: () => void, ms = 0): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.at + Math.max(0, ms), fn: callback });
    return id;
  }

  clear(id: unknown): void {
    this.timers.delete(id as number);
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.set(fn, ms);
    return () => this.clear(id);
  }

  /** Runs every timer due within `ms`, in order of time then of creation. */
  advance(ms: number): void {
    const until = this.at + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (due === undefined || e[1].at < due[1].at)) due = e;
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.at = due[1].at;
      if (stackHere !== undefined) stackHere(grantedStackSlots());
      due[1].fn();
    }
    this.at = until;
  }
}

function matches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/** An MQTT broker in memory: QoS 0, retained messages, each delivery after LATENCY_MS. */
class Bus {
  private readonly subs: Array<{ owner: object; filter: string; deliver: (topic: string, bytes: Uint8Array) => void }> = [];
  private readonly retained = new Map<string, Uint8Array>();

  constructor(private readonly time: ManualTime) {}

  publish(topic: string, bytes: Uint8Array, retain: boolean): void {
    const copy = bytes.slice();
    if (retain) this.retained.set(topic, copy);
    for (const s of this.subs) if (matches(s.filter, topic)) this.later(s.owner, () => s.deliver(topic, copy.slice()));
  }

  subscribe(owner: object, filter: string, deliver: (topic: string, bytes: Uint8Array) => void): void {
    this.subs.push({ owner, filter, deliver });
    for (const [topic, bytes] of this.retained) if (matches(filter, topic)) this.later(owner, () => deliver(topic, bytes.slice()));
  }

  drop(owner: object): void {
    for (let i = this.subs.length - 1; i >= 0; i--) if (this.subs[i]!.owner === owner) this.subs.splice(i, 1);
  }

  private later(owner: object, fn: () => void): void {
    this.time.set(() => {
      if (this.subs.some((s) => s.owner === owner)) fn();
    }, LATENCY_MS);
  }
}

function bytesOf(data: ArrayBuffer | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
}

/** The fleet: one gateway on the bus, and node apps started on a flash of their own. */
function setup(): { time: ManualTime; gateway: MqttPeer; startNode: (flash: FlashSim) => NodeApp } {
  const time = new ManualTime();
  const bus = new Bus(time);
  const gwClient: MqttClientLike = {
    publish: (topic, payload, o) => bus.publish(topic, payload, o.retain === true),
    subscribe: (filter) => bus.subscribe(gwClient, filter, (topic, bytes) => gwClient.onMessage?.(topic, bytes)),
  };
  const gateway = new MqttPeer({ replica: GATEWAY, role: "gateway", fleet: FLEET, kv: new MemoryKv(), scheduler: time, client: gwClient, gateways: [GATEWAY], heartbeatMs: 1000, antiEntropyMs: 2000, resendMs: 200 });
  gwClient.onConnect?.();
  // Moddable's Client on the bus: ready after one delivery's time
  const Client = function BusClient(this: ModdableClient, _o: ModdableClientOptions) {
    const c: ModdableClient & { closed: boolean } = {
      closed: false,
      publish: (topic, data, flags) => {
        if (c.closed) throw new Error("closed");
        bus.publish(topic, bytesOf(data), flags?.retain === true);
      },
      subscribe: (filter) => bus.subscribe(c, filter, (topic, bytes) => c.onMessage?.(topic, bytes.slice().buffer)),
      close: () => {
        c.closed = true;
        bus.drop(c);
      },
    };
    time.set(() => {
      if (!c.closed) c.onReady?.();
    }, LATENCY_MS);
    return c;
  } as unknown as ModdableClientConstructor;
  const startNode = (flash: FlashSim): NodeApp => {
    const app = createNodeApp({
      config: parseNodeConfig({ id: NODE, broker: "bus", gateway: GATEWAY, fleet: FLEET, interval: 60_000, heartbeat: 1000, antiEntropy: 2000, resend: 200 }),
      flash,
      Client,
      timer: time,
      sensor: new SimulatedSensor(1),
      now: () => time.now(),
    });
    app.start();
    return app;
  };
  return { time, gateway, startNode };
}

const gatewayCount = (gateway: MqttPeer | SyncEngine): number => ((gateway instanceof MqttPeer ? gateway.engine : gateway).get(`events/${NODE}`) as PNCounter | undefined)?.value() ?? -1;

test("a wiped node holds the samples it takes while it recovers, and loses no increment once recovered", () => {
  const { time, gateway, startNode } = setup();
  const before = startNode(new FlashSim());
  time.advance(500);
  for (let i = 0; i < 4; i++) {
    before.sample();
    time.advance(100);
  }
  time.advance(10_000);
  assert.is(before.status().counted, 5, "the boot's sample and 4 more");
  assert.is(gatewayCount(gateway), 5, "the gateway holds them");
  before.stop();

  // the same id on a wiped flash
  const after = startNode(new FlashSim());
  const engine = after.engine!;
  assert.ok(engine.recovering, "an empty flash: its own events may be on the gateway");
  assert.is(after.status().heldSamples, 1, "the boot's sample is held");
  // the MQTT session comes up (a sample before it would count offline: see node-app.ts)
  time.advance(LATENCY_MS + 1);
  assert.ok(engine.recovering);
  let heldWhileRecovering = 0;
  let samples = 1;
  for (let i = 0; i < 40 && engine.recovering; i++) {
    after.sample();
    samples++;
    if (engine.recovering) heldWhileRecovering = after.status().heldSamples;
    time.advance(5);
  }
  assert.not.ok(engine.recovering, "it recovered");
  assert.ok(heldWhileRecovering >= 3, `samples were taken while it recovered (${heldWhileRecovering} held)`);
  time.advance(10_000);
  const s = after.status();
  assert.is(s.heldSamples, 0, "the held samples were written");
  assert.is(s.counted, 5 + samples, `the old count and every sample of this boot (${samples})`);
  assert.is(gatewayCount(gateway), 5 + samples, "the gateway has them all");
  assert.ok(s.gateways.some((g) => g.id === GATEWAY && g.inSync), "and the node is in sync");
  after.stop();
});

test("while a gateway holds events of a recovering node that it lacks, the engine refuses a write of that document (RECOVERING) and stores nothing", () => {
  // two engines and the frames between them by hand: the gateway's deltas to the node are held back
  const time = new ManualTime();
  const queue: Array<{ from: string; to: string; frame: Uint8Array }> = [];
  const engineOf = (replica: string, role: "node" | "gateway", kv: MemoryKv): SyncEngine =>
    new SyncEngine({ replica, role, kv, scheduler: time, send: (to, frame) => queue.push({ from: replica, to, frame: frame.slice() }) });
  const peers = new Map<string, SyncEngine>();
  const pump = (hold: (q: { from: string; to: string; frame: Uint8Array }) => boolean): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) {
      const q = queue.shift()!;
      if (!hold(q)) peers.get(q.to)!.receive(q.from, q.frame);
    }
  };
  const gw = engineOf(GATEWAY, "gateway", new MemoryKv());
  peers.set(GATEWAY, gw);
  let node = engineOf(NODE, "node", new MemoryKv());
  peers.set(NODE, node);
  node.open("events", NODE, PNCounter).incrementBy(5);
  node.changed("events", NODE);
  gw.connect(NODE, "node");
  node.connect(GATEWAY, "gateway");
  pump(() => false);
  assert.is(gatewayCount(gw), 5);
  // wiped
  gw.disconnect(NODE);
  const kv = new MemoryKv();
  node = engineOf(NODE, "node", kv);
  peers.set(NODE, node);
  const counter = node.open("events", NODE, PNCounter);
  assert.ok(node.recovering && node.mayWrite("events", NODE), "before a gateway has answered, a write is kept (a new node cannot tell itself from a wiped one)");
  gw.connect(NODE, "node");
  node.connect(GATEWAY, "gateway");
  // frames travel in the session form: read each against its sender and receiver
  const kindOf = (q: { from: string; to: string; frame: Uint8Array }): number => decodeFrame(q.frame, 1 << 20, { ids: [q.from, q.to], maxExpandedBytes: 1 << 20 }).kind;
  const isDelta = (q: { from: string; to: string; frame: Uint8Array }): boolean => q.from === GATEWAY && kindOf(q) !== 1 && kindOf(q) !== 2;
  pump(isDelta);
  assert.ok(node.recovering);
  assert.not.ok(node.mayWrite("events", NODE), "the gateway said it holds events of ours that we lack");
  const stored = kv.keys("").map((k) => `${k}=${kv.get(k)!.join(",")}`);
  counter.increment();
  try {
    node.changed("events", NODE);
    assert.unreachable("refused");
  } catch (e) {
    assert.ok(e instanceof LichenError, String(e));
    assert.is((e as LichenError).code, "RECOVERING");
  }
  assert.equal(kv.keys("").map((k) => `${k}=${kv.get(k)!.join(",")}`), stored, "nothing stored");
  // the deltas arrive: recovered, and writes go through again
  node.connect(GATEWAY, "gateway");
  pump(() => false);
  assert.not.ok(node.recovering);
  assert.ok(node.mayWrite("events", NODE));
});

test.run();
