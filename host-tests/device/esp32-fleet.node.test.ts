// The ESP32 firmware end to end: three simulated nodes (sim/esp32/sim-node.ts: the firmware's main
// module inside the XS made like the device's, each call into it with the device's stack above the
// stand-ins' event loop; their flash simulated and kept in files), a Node gateway (MqttSync over
// SQLite) and an embedded aedes broker with lichen's ACL. Where the device xsnap-worker cannot be
// built (no C compiler), every test here is reported as skipped.
// - The fleet converges, and a config the gateway writes reaches every node.
// - A node that loses power in the middle of a sync (changes made and not yet in flash, so not yet
//   sent; then again inside a flash batch) restarts without losing an acknowledged change, without
//   counting anything twice, and agrees with the gateway again.
// - A node whose network is down for a simulated day, while the gateway changes the fleet's
//   config, catches up in both directions once it is back.
// - The stack is the device's: a node granted too few slots aborts with a stack overflow.
// Time: one simulated wall clock (`world`) for the nodes and the gateway's HLC; the day passes in
// steps of an hour, each a tick of every node. Once the fleet has sampled for a while, the gateway
// sets the fleet's sample interval to an hour (fleet/config), so that the checks that follow compare
// states that hold still, and the test's own samples (node.sample()) are the only ones until the
// day passes. Every wait has its own timeout.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Crdt } from "../../src/index.js";
import { openClock } from "../../src/store/clock-store.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { openFleetConfig } from "../../targets/esp32/documents.js";
import type { NodeStatus } from "../../targets/esp32/node-app.js";
import { startSimulatedNode, type SimulatedNode } from "../../sim/esp32/sim-node.js";
import { deviceXsnapWorker } from "../../sim/xs/device-worker.js";
import { PATIENCE_MS } from "../patience.js";
import { skipTest } from "../runner/skip.js";

const FLEET = "demo";
const GATEWAY = "gw1";
const HOUR = 3_600_000;
/** Timings for a fast test (mc/config keys of the firmware). */
const TUNING = { heartbeat: 300, antiEntropy: 1000, resend: 200, reconnect: 100, maxReconnect: 400, keepalive: 10_000, thresholds: "temperature:30" };

/** The simulated nodes run in the device xsnap-worker (built on first use). */
const device = deviceXsnapWorker();

function needDevice(): void {
  if (!device.ok) skipTest(device.reason);
}

let offset = 0;
const world = (): number => Date.now() + offset;

let dir = "";
let broker: EmbeddedBroker | undefined;
let kv: SqliteKv | undefined;
let gw: MqttSync | undefined;
const nodes = new Map<string, SimulatedNode>();
const logs: string[] = [];
const gwLogs: string[] = [];

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await snapshot()}\n${logs.slice(-25).join("\n")}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The nodes' and the gateway's views, for a failure's message. */
async function snapshot(): Promise<string> {
  const out: string[] = [];
  for (const [id, n] of nodes) {
    const s = await n.status().catch(() => undefined);
    out.push(`${id}: ${s === undefined ? "not running" : JSON.stringify({ counted: s.counted, gateways: s.gateways, readings: s.readings, alarms: s.alarms, pendingOps: s.pendingOps })}`);
    out.push(`  gateway: events ${JSON.stringify(gwDoc(`events/${id}`)?.value())} readings ${JSON.stringify(gwDoc(`readings/${id}`)?.value())} alarms ${JSON.stringify(gwDoc(`alarms/${id}`)?.value())}`);
  }
  return out.join("\n");
}

function gwDoc(doc: string): Crdt | undefined {
  return gw!.engine.get(doc);
}

async function status(id: string): Promise<NodeStatus> {
  const s = await nodes.get(id)!.status();
  assert.ok(s, `${id} is running`);
  return s!;
}

const sorted = (o: unknown): string => JSON.stringify(o, (_k, v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));

/**
 * The node and the gateway hold the same state of the node's documents, acknowledged. The node
 * first writes what is pending (its documents go out once stored: DEVICE_COALESCING would wait
 * up to 5 s).
 */
async function converged(id: string): Promise<boolean> {
  const node = nodes.get(id)!;
  await node.flush();
  const s = await node.status();
  if (s === undefined || !s.gateways.some((g) => g.id === GATEWAY && g.inSync)) return false;
  return (
    // a document never changed is never sent: empty on the gateway
    (gwDoc(`events/${id}`)?.value() ?? 0) === s.counted &&
    sorted(gwDoc(`readings/${id}`)?.value() ?? {}) === sorted(s.readings) &&
    sorted(gwDoc(`alarms/${id}`)?.value() ?? []) === sorted(s.alarms)
  );
}

function writeFleetConfig(key: string, value: number): void {
  const cfg = openFleetConfig(gw!.engine, "config");
  cfg.set(key, value);
  gw!.engine.changed("fleet", "config");
}

async function boot(id: string): Promise<SimulatedNode> {
  const node = await startSimulatedNode({
    id,
    brokerUrl: broker!.url,
    fleet: FLEET,
    gateways: [GATEWAY],
    intervalMs: 200,
    flashFile: join(dir, `${id}.flash.json`),
    clock: world,
    config: TUNING,
    log: (line) => logs.push(`${id} ${line}`),
  });
  nodes.set(id, node);
  return node;
}

test.before(async () => {
  if (!device.ok) return;
  dir = mkdtempSync(join(tmpdir(), "lichen-esp32-fleet-"));
  broker = await startEmbeddedBroker({ port: 0, fleet: FLEET });
  kv = new SqliteKv(join(dir, "gw.db"));
  gw = new MqttSync({
    url: broker.url,
    fleet: FLEET,
    replica: GATEWAY,
    role: "gateway",
    kv,
    clock: openClock(kv, { wallClock: world }),
    gateways: [GATEWAY],
    heartbeatMs: 300,
    antiEntropyMs: 1000,
    resendMs: 200,
    maxResendMs: 1000,
    reconnectMs: 100,
    log: (e) => gwLogs.push(`${e.event} ${e.peer ?? ""} ${e.message}`),
  });
  await gw.ready();
  await Promise.all(["n1", "n2", "n3"].map(boot));
});

test.after(async () => {
  for (const n of nodes.values()) await n.stop().catch(() => {});
  await gw?.close();
  kv?.close();
  await broker?.close();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

test("three simulated ESP32 nodes and a gateway converge, and the gateway's config reaches every node", async () => {
  needDevice();
  await waitFor("every node to have sampled a few times", async () => {
    for (const id of nodes.keys()) if ((await status(id)).counted < 5) return false;
    return true;
  });
  for (const n of nodes.values()) await n.flush(); // stored, so sent
  await waitFor("the gateway to hold those samples", () => [...nodes.keys()].every((id) => ((gwDoc(`events/${id}`)?.value() as number | undefined) ?? 0) >= 5));
  writeFleetConfig("threshold.temperature", 18);
  writeFleetConfig("interval", HOUR);
  await waitFor("every node to adopt the new threshold and interval", async () => {
    for (const id of nodes.keys()) {
      const s = await status(id);
      if (s.fleetConfig["threshold.temperature"] !== 18 || s.intervalMs !== HOUR) return false;
    }
    return true;
  });
  await waitFor("the fleet to converge", async () => {
    for (const id of nodes.keys()) if (!(await converged(id))) return false;
    return true;
  });
  for (const id of nodes.keys()) {
    const s = await status(id);
    assert.is(s.recovery, "clean");
    // the alarm rule under the gateway's threshold
    assert.is(s.alarms.includes("temperature:high"), s.readings.temperature! > 18, `${id}: alarms ${JSON.stringify(s.alarms)} at ${s.readings.temperature}`);
  }
  assert.equal(gwLogs.filter((l) => /^(forged|refused)/.test(l)), []);
});

test("a node that loses power in the middle of a sync restarts without losing an acknowledged change", async () => {
  needDevice();
  const n1 = nodes.get("n1")!;
  // 1. changes made, not yet written to flash (so not sent either: documents go out once stored)
  for (let i = 0; i < 5; i++) await n1.sample();
  const before = await status("n1");
  assert.ok(before.pendingOps > 0, "changes are waiting for the flash");
  await n1.powerCut();
  await waitFor("the gateway to see n1 gone (its will)", () => !gw!.peers().some((p) => p.id === "n1" && p.online));
  const acknowledged = gwDoc("events/n1")!.value() as number;
  await n1.restart();
  await waitFor("n1 to catch up after the restart", () => converged("n1"));
  let s = await status("n1");
  // stored before sent: the flash has at least what the gateway has; the new samples go on top
  assert.ok(s.bootCounted >= acknowledged, `the flash had ${s.bootCounted} samples, the gateway ${acknowledged}`);
  assert.is(s.counted, s.bootCounted + s.samplesThisBoot, "every acknowledged sample kept, the new ones on top, none twice");

  // 2. the power goes during the second write of a flash batch (the journal is written, a head is not)
  for (let i = 0; i < 3; i++) await n1.sample();
  const cut = n1.powerCut({ afterWrites: 1, landed: false, timeoutMs: PATIENCE_MS });
  await n1.flush();
  await cut;
  assert.ok(!n1.running);
  await waitFor("the gateway to see n1 gone again", () => !gw!.peers().some((p) => p.id === "n1" && p.online));
  const acknowledged2 = gwDoc("events/n1")!.value() as number;
  await n1.restart();
  s = await status("n1");
  assert.match(s.recovery, /rolled-back|clean/);
  await waitFor("n1 to catch up after the second restart", () => converged("n1"));
  s = await status("n1");
  assert.ok(s.bootCounted >= acknowledged2, `the flash had ${s.bootCounted} samples, the gateway ${acknowledged2}`);
  assert.is(s.counted, s.bootCounted + s.samplesThisBoot);
});

test("a node offline for a simulated day catches up, and so does the gateway", async () => {
  needDevice();
  const n3 = nodes.get("n3")!;
  await waitFor("n3 in sync before it goes", () => converged("n3"));
  const dayStart = (await status("n3")).counted;
  n3.setLink(false);
  await waitFor("the gateway to see n3 offline", () => !gw!.peers().some((p) => p.id === "n3" && p.online));
  // a day passes, an hour at a time: every node samples once an hour, n3 alone
  for (let h = 1; h <= 24; h++) {
    offset += HOUR;
    if (h === 12) {
      writeFleetConfig("threshold.temperature", 26);
      writeFleetConfig("interval", 2 * HOUR);
    }
    for (const n of nodes.values()) await n.tick();
  }
  let s = await status("n3");
  assert.ok(s.counted >= dayStart + 23, `n3 kept sampling offline (${s.counted} samples)`);
  assert.is.not(s.fleetConfig["threshold.temperature"], 26, "n3 has not heard of the new config yet");
  assert.ok(!s.connected);
  n3.setLink(true);
  await waitFor("n3 to come back and converge", async () => (await converged("n3")) && (await status("n3")).fleetConfig["threshold.temperature"] === 26);
  s = await status("n3");
  assert.is(s.intervalMs, 2 * HOUR);
  assert.is(gwDoc("events/n3")!.value(), s.counted);
  await waitFor("the whole fleet to converge", async () => {
    for (const id of nodes.keys()) if (!(await converged(id))) return false;
    return true;
  });
  assert.equal(gwLogs.filter((l) => /^(forged|refused)/.test(l)), []);
});

test("the firmware runs with the device's stack above its event loop: granted too few slots, it aborts with a stack overflow", async () => {
  needDevice();
  const lines: string[] = [];
  let error = "";
  let node: SimulatedNode | undefined;
  try {
    node = await startSimulatedNode({ id: "n9", brokerUrl: broker!.url, fleet: FLEET, gateways: [GATEWAY], intervalMs: 200, clock: world, config: TUNING, stackSlots: 256, log: (l) => lines.push(l) });
    await waitFor("n9 to die", () => !node!.running);
  } catch (e) {
    error = (e as Error).message;
  } finally {
    await node?.powerCut();
  }
  assert.match(`${error}\n${lines.join("\n")}`, /stack overflow/, "256 slots are fewer than the firmware's boot needs (about 500 above the loop)");
});

test.run();
