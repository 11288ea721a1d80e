// The MQTT binding against real brokers: the embedded aedes broker always, mosquitto when
// /usr/sbin/mosquitto exists. A gateway (SqliteKv) and three nodes (MemoryKv) converge; nodes
// publish at QoS 0, the gateway at QoS 1; the ACL refuses a forged topic and the origin rule a
// forged delta; presence and last wills; a broker killed and restarted mid-sync; a gateway
// SIGKILLed mid-sync and restarted (in a child process), losing nothing it acknowledged.
// Every wait has its own deadline (uvu has none).
import { makePolicy } from "../../src/transport/policy.js";
import { freePort, portOpen } from "../../sim/network/ports.js";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap, type Crdt } from "../../src/index.js";
import { MemoryKv } from "../../src/store/kv.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { decodeFrame, encodeFrame } from "../../src/transport/frames.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { encodePresence } from "../../src/transport/mqtt-topics.js";
import { SyncEngine, type SyncLogEntry } from "../../src/transport/sync-engine.js";
import { PATIENCE_MS } from "../patience.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GATEWAY_PROCESS = fileURLToPath(new URL("./gateway-process.ts", import.meta.url));
const MOSQUITTO = "/usr/sbin/mosquitto";
const NODES = ["n1", "n2", "n3"];
const GW = "gw";

// Fast timings for tests: heartbeat 400 ms (offline after 1.2 s of silence), resends from 200 ms.
const TUNING = { heartbeatMs: 400, antiEntropyMs: 1000, resendMs: 200, maxResendMs: 1000, reconnectMs: 150, rateBurst: 100_000, ratePerSecond: 100_000 } as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const tmp = mkdtempSync(join(tmpdir(), "lichen-mqtt-"));
chmodSync(tmp, 0o755); // mosquitto may drop root for its own user: it must read its ACL file here
let dbSeq = 0;
const freshDb = (): string => join(tmp, `gw-${++dbSeq}.db`);

// ---- brokers ----

interface Broker {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Publishes and subscribes the ACL refused (aedes only: mosquitto just logs them). */
  readonly refused: Array<{ clientId: string | undefined; action: string; topic: string }>;
  /** QoS of every publish the broker received, per client id (aedes only). */
  readonly qosSeen: Map<string, Set<number>>;
  /** Kills the broker (mosquitto: SIGKILL; aedes: every socket dropped, state gone). */
  kill(): Promise<void>;
  /** A new broker on the same port, empty (no retained messages, no sessions). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function aedesBroker(): Promise<Broker> {
  const refused: Broker["refused"] = [];
  const qosSeen = new Map<string, Set<number>>();
  const start = async (port: number): Promise<EmbeddedBroker> => {
    const b = await startEmbeddedBroker({ port, onRefused: (r) => refused.push(r) });
    b.aedes.on("publish", (packet, client) => {
      if (client === null || packet.topic.startsWith("$SYS")) return;
      let s = qosSeen.get(client.id);
      if (s === undefined) qosSeen.set(client.id, (s = new Set()));
      s.add(packet.qos);
    });
    return b;
  };
  let b: EmbeddedBroker | undefined = await start(0);
  const port = b.port;
  return {
    name: "aedes",
    url: b.url,
    port,
    refused,
    qosSeen,
    kill: async () => {
      await b?.close();
      b = undefined;
    },
    restart: async () => {
      b = await start(port);
    },
    stop: async () => {
      await b?.close();
      b = undefined;
    },
  };
}



/** docs/mqtt.md's sample ACL: every client publishes only as itself and reads only its inbox and presence. */
const MOSQUITTO_ACL = `# lichen: confine every client to its own topics (%c: its client id = its replica id)
pattern write lichen/+/+/in/%c
pattern read lichen/+/%c/in/+
pattern readwrite lichen/+/%c/presence
pattern read lichen/+/+/presence
`;

async function mosquittoBroker(): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmp, "mosquitto-"));
  chmodSync(dir, 0o755);
  const acl = join(dir, "acl");
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(acl, MOSQUITTO_ACL, { mode: 0o644 });
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "max_queued_messages 0", "max_packet_size 65536", "persistence false", `acl_file ${acl}`, "log_dest stderr", "log_type error", "log_type warning", ""].join("\n"), { mode: 0o644 });
  let proc: ChildProcess | undefined;
  let stderr = "";
  const start = async (): Promise<void> => {
    const p = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    p.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    proc = p;
    const deadline = Date.now() + PATIENCE_MS;
    while (!(await portOpen(port))) {
      if (p.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start on port ${port}: ${stderr.trim()}`);
      await sleep(20);
    }
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await within("mosquitto to exit", PATIENCE_MS, exited);
  };
  await start();
  return { name: "mosquitto", url: `mqtt://127.0.0.1:${port}`, port, refused: [], qosSeen: new Map(), kill, restart: start, stop: kill };
}

// ---- a fleet: one gateway, three nodes ----

interface NodeRig {
  readonly id: string;
  readonly sync: MqttSync;
  readonly readings: LWWMap<number>;
  /** shared/notes: a note per peer, every peer editing it at once (not the firmware's fleet/config). */
  readonly notes: LWWMap<string>;
  /** Writes made: key k<i> = i. */
  written: number;
}

interface FleetRig {
  readonly fleet: string;
  readonly gw: MqttSync;
  readonly gwKv: SqliteKv;
  readonly nodes: NodeRig[];
  readonly logs: SyncLogEntry[];
  readonly presence: Array<{ peer: string; online: boolean; at: number }>;
  close(): Promise<void>;
}

function startNode(url: string, fleet: string, id: string, logs: SyncLogEntry[], tuning: Tuning = TUNING): NodeRig {
  const sync = new MqttSync({ url, fleet, replica: id, role: "node", kv: new MemoryKv(), qos: 0, gateways: [GW], ...tuning, log: (e) => logs.push({ ...e, peer: `${id}<-${e.peer ?? ""}` }) });
  return { id, sync, readings: sync.engine.open("readings", id, LWWMap) as LWWMap<number>, notes: sync.engine.open("shared", "notes", LWWMap) as LWWMap<string>, written: 0 };
}

type Tuning = { readonly [K in keyof typeof TUNING]: number };

async function startFleet(broker: Broker, fleet: string, tuning: Tuning = TUNING): Promise<FleetRig> {
  const logs: SyncLogEntry[] = [];
  const presence: FleetRig["presence"] = [];
  const gwKv = new SqliteKv(freshDb());
  const gw = new MqttSync({ url: broker.url, fleet, replica: GW, role: "gateway", kv: gwKv, gateways: [GW], policy: makePolicy({ write: ["*/{self}", "shared/notes"] }), ...tuning, log: (e) => logs.push(e), onPresence: (peer, s) => presence.push({ peer, online: s.online, at: Date.now() }) });
  const nodes = NODES.map((id) => startNode(broker.url, fleet, id, logs, tuning));
  await within("every client connected", PATIENCE_MS, Promise.all([gw.ready(), ...nodes.map((n) => n.sync.ready())]));
  return {
    fleet,
    gw,
    gwKv,
    nodes,
    logs,
    presence,
    close: async () => {
      await within("the fleet to close", PATIENCE_MS, Promise.all([gw.close(), ...nodes.map((n) => n.sync.close())]));
      gwKv.close();
    },
  };
}

function write(n: NodeRig): void {
  const i = n.written++;
  n.readings.set(`k${i}`, i);
  n.sync.engine.changed("readings", n.id);
}

const onlineAt = (s: MqttSync): string[] => s.peers().filter((p) => p.online).map((p) => p.id);

/** The same state; a document never written need not exist on the other side. */
function same(theirs: Crdt | undefined, mine: Crdt): boolean {
  return theirs === undefined ? mine.version().size === 0 : theirs.equals(mine);
}

/** Every node acknowledged by the gateway, the gateway holds every node's readings, and everyone's notes are the same. */
function converged(f: FleetRig): boolean {
  const gw = f.gw.engine;
  for (const n of f.nodes) {
    if (!n.sync.engine.inSync(GW)) return false;
    if (!same(gw.get(`readings/${n.id}`), n.readings)) return false;
    if (!same(gw.get("shared/notes"), n.notes)) return false;
  }
  return true;
}

function describe(f: FleetRig): string {
  return f.nodes
    .map((n) => `${n.id}: inSync=${n.sync.engine.inSync(GW)} connected=${n.sync.connected} online=${onlineAt(n.sync)} written=${n.written} gwHas=${Object.keys((f.gw.engine.get(`readings/${n.id}`)?.value() as object | undefined) ?? {}).length}`)
    .join("; ") + `; gw online=${onlineAt(f.gw)}`;
}

async function waitConverged(f: FleetRig, timeoutMs = PATIENCE_MS): Promise<void> {
  try {
    await waitFor("convergence", () => converged(f), timeoutMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${describe(f)}`);
  }
}

/** Writes on every node every `everyMs` for `ms`. */
async function writeFor(f: { nodes: NodeRig[] }, ms: number, everyMs = 10, each?: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const n of f.nodes) write(n);
    each?.();
    await sleep(everyMs);
  }
}

// ---- scenarios, run on each broker ----

async function convergeScenario(broker: Broker, fleet: string): Promise<void> {
  const f = await startFleet(broker, fleet);
  try {
    await waitFor("the gateway to see every node online", () => onlineAt(f.gw).join() === NODES.join(), PATIENCE_MS);
    for (const n of f.nodes) await waitFor(`${n.id} to see the gateway`, () => onlineAt(n.sync).join() === GW, PATIENCE_MS);
    for (const n of f.nodes) {
      n.notes.set(n.id, `hello from ${n.id}`);
      n.sync.engine.changed("shared", "notes");
    }
    const cfg = f.gw.engine.open("shared", "notes", LWWMap) as LWWMap<string>;
    cfg.set("mode", "eco");
    f.gw.engine.changed("shared", "notes");
    await writeFor(f, 300);
    await waitConverged(f);
    for (const n of f.nodes) {
      assert.is((f.gw.engine.get(`readings/${n.id}`) as LWWMap<number>).value()[`k${n.written - 1}`], n.written - 1);
      assert.equal(n.notes.value(), { mode: "eco", n1: "hello from n1", n2: "hello from n2", n3: "hello from n3" });
    }
    // the gateway's database holds it too
    const db = new SqliteKv(f.gwKv.path);
    const check = openStored(db);
    for (const n of f.nodes) assert.ok(check.get(`readings/${n.id}`)?.equals(n.readings), `${n.id}'s readings in SQLite`);
    check.close();
    db.close();
    assert.equal(f.logs.filter((l) => l.event === "forged" || l.event === "refused"), [], "an honest fleet has nothing refused");
    if (broker.name === "aedes") {
      for (const n of NODES) assert.equal([...(broker.qosSeen.get(n) ?? [])], [0], `${n} publishes at QoS 0`);
      assert.equal([...(broker.qosSeen.get(GW) ?? [])], [1], "the gateway publishes at QoS 1");
    }
  } finally {
    await f.close();
  }
}

/** A SyncEngine over a stored database, to read what a gateway stored (no peers, timers idle). */
function openStored(kv: SqliteKv): SyncEngine {
  return new SyncEngine({ replica: "reader", role: "gateway", kv, scheduler: { now: () => 0, setTimer: () => () => {} }, send: () => {} });
}

function rawClient(url: string, clientId: string): Promise<MqttClient> {
  const c = mqttConnect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  c.on("error", () => {});
  return within(`${clientId} to connect`, PATIENCE_MS, new Promise((resolve) => c.once("connect", () => resolve(c))));
}

async function aclScenario(broker: Broker, fleet: string): Promise<void> {
  const f = await startFleet(broker, fleet);
  const raw: MqttClient[] = [];
  try {
    await waitFor("the gateway to see every node online", () => onlineAt(f.gw).join() === NODES.join(), PATIENCE_MS);
    // 1. a client publishing as another: a delta "from n2" sent by "rogue", on n2's topic
    const fake = new LWWMap<number>("n2");
    fake.set("t", -40);
    const forgedDelta = encodeFrame({ kind: 3, doc: "forged/x", type: fake.typeTag, delta: fake.delta() });
    const rogue = await rawClient(broker.url, "rogue");
    raw.push(rogue);
    rogue.publish(`lichen/${fleet}/${GW}/in/n2`, Buffer.from(forgedDelta), { qos: 0 });
    if (broker.name === "aedes") {
      await waitFor("aedes to refuse the publish", () => broker.refused.some((r) => r.clientId === "rogue" && r.action === "publish"), PATIENCE_MS);
    }
    // both brokers close the connection of a client whose publish they refuse (mosquitto 2.0.11 does too)
    await waitFor("the rogue to be disconnected", () => !rogue.connected, PATIENCE_MS);
    await sleep(300);
    assert.is(f.gw.engine.get("forged/x"), undefined, "the gateway never saw the forged delta");
    // a subscription to someone else's inbox is refused too (aedes: failure code; mosquitto: granted, nothing delivered)
    const spy = await rawClient(broker.url, "spy");
    raw.push(spy);
    const spied: string[] = [];
    spy.on("message", (t) => spied.push(t));
    const granted = await within("suback", PATIENCE_MS, spy.subscribeAsync(`lichen/${fleet}/${GW}/in/+`, { qos: 0 }).then((g) => g[0]?.qos, (e: Error) => e.message));
    if (broker.name === "aedes") assert.match(String(granted), /Subscribe error/, "aedes refuses the subscription (SUBACK 0x80)");
    // 2. the origin rule: "n9", a node publishing on its own topic, sends events of n2's
    const n9 = await rawClient(broker.url, "n9");
    raw.push(n9);
    n9.publish(`lichen/${fleet}/n9/presence`, Buffer.from(encodePresence({ state: "online", role: "node", ts: Date.now(), hb: 60_000 })), { qos: 0, retain: true });
    const probe = encodeFrame({ kind: 3, doc: "probe/n9", type: fake.typeTag, delta: fake.delta() });
    await waitFor("the gateway to log the forged delta", () => {
      n9.publish(`lichen/${fleet}/${GW}/in/n9`, Buffer.from(probe), { qos: 0 });
      return f.logs.some((l) => l.event === "forged" && l.peer === "n9");
    }, PATIENCE_MS);
    assert.is(f.gw.engine.get("probe/n9"), undefined, "nothing of it applied");
    assert.equal(spied, [], "the spy got nothing of the gateway's inbox");
    n9.publish(`lichen/${fleet}/n9/presence`, Buffer.from(encodePresence({ state: "offline", role: "node", ts: Date.now() })), { qos: 0, retain: true });
  } finally {
    for (const c of raw) await c.endAsync(true).catch(() => {});
    await f.close();
  }
}

/**
 * Heartbeats of an hour in this scenario: no peer can miss three of them while it runs, so a peer
 * seen offline was reported by its will (or its clean close), however slow the machine.
 */
const SLOW_HEARTBEAT_MS = 3_600_000;

async function willScenario(broker: Broker, fleet: string): Promise<void> {
  const f = await startFleet(broker, fleet, { ...TUNING, heartbeatMs: SLOW_HEARTBEAT_MS });
  try {
    await waitFor("the gateway to see every node online", () => onlineAt(f.gw).join() === NODES.join(), PATIENCE_MS);
    const seenOnline = f.presence.filter((p) => p.online).map((p) => p.peer).sort();
    assert.equal(seenOnline, NODES, "presence online seen by the gateway");
    // n1's connection dies without a DISCONNECT: the broker publishes its will
    const n1 = f.nodes[0]!;
    n1.sync.client.end(true);
    // PATIENCE_MS is far below 3 missed heartbeats: offline can only come from the will
    assert.ok(PATIENCE_MS < 3 * SLOW_HEARTBEAT_MS);
    await waitFor("the gateway to see n1 offline (its will)", () => !onlineAt(f.gw).includes("n1"), PATIENCE_MS);
    assert.ok(f.presence.some((p) => p.peer === "n1" && !p.online));
    // a clean close says offline too
    await f.nodes[1]!.sync.close();
    await waitFor("the gateway to see n2 offline", () => !onlineAt(f.gw).includes("n2"), PATIENCE_MS);
    assert.equal(onlineAt(f.gw), ["n3"]);
  } finally {
    await f.close();
  }
}

async function brokerRestartScenario(broker: Broker, fleet: string): Promise<void> {
  const f = await startFleet(broker, fleet);
  try {
    await waitFor("the gateway to see every node online", () => onlineAt(f.gw).join() === NODES.join(), PATIENCE_MS);
    await writeFor(f, 200);
    await broker.kill();
    await writeFor(f, 300); // written while the broker is gone: never waits for the network
    await broker.restart();
    await writeFor(f, 300);
    await waitConverged(f);
  } finally {
    await f.close();
  }
}

// ---- aedes ----

let aedes: Broker | undefined;

test("aedes: a gateway (SQLite) and 3 nodes converge; nodes at QoS 0, the gateway at QoS 1", async () => {
  aedes = await aedesBroker();
  await convergeScenario(aedes, "conv");
});

test("aedes: the ACL refuses a forged topic, the gateway's origin rule a forged delta", async () => {
  await aclScenario(aedes!, "acl");
});

test("aedes: presence online, and offline by the last will when a node dies", async () => {
  await willScenario(aedes!, "will");
});

test("aedes: the broker killed mid-sync and restarted on the same port: everything converges", async () => {
  await brokerRestartScenario(aedes!, "restart");
});

test("aedes: the gateway SIGKILLed mid-sync and restarted: nothing acknowledged is lost, all converge", async () => {
  const broker = aedes!;
  const fleet = "crash";
  const db = freshDb();
  const logs: SyncLogEntry[] = [];
  const nodes = NODES.map((id) => startNode(broker.url, fleet, id, logs));
  let gw = await startGatewayProcess(broker.url, fleet, db);
  try {
    await within("nodes connected", PATIENCE_MS, Promise.all(nodes.map((n) => n.sync.ready())));
    for (const n of nodes) await waitFor(`${n.id} to see the gateway`, () => onlineAt(n.sync).join() === GW, PATIENCE_MS);
    for (const n of nodes) {
      n.notes.set(n.id, "before");
      n.sync.engine.changed("shared", "notes");
    }
    // What each node saw acknowledged: on each APPLIED frame the gateway sent it, the version the
    // node now knows the gateway holds of its readings; write i is acknowledged once that version reaches the
    // node's own counter right after write i.
    const counterAt = new Map(nodes.map((n) => [n.id, [] as number[]]));
    const ackedCounter = new Map(nodes.map((n) => [n.id, 0]));
    for (const n of nodes) {
      n.sync.client.on("message", (_topic, payload) => {
        try {
          // the binding's listener came first: the node's engine has taken the frame in already
          const f = decodeFrame(new Uint8Array(payload), 4000, { ids: [GW, n.id], maxExpandedBytes: 65536 });
          const acked = f.kind === 7 && f.doc === `readings/${n.id}` ? n.sync.engine.acknowledged(GW, f.doc)?.get(n.id) : undefined;
          if (acked !== undefined) ackedCounter.set(n.id, Math.max(ackedCounter.get(n.id)!, acked));
        } catch {
          // a presence, or a part of a larger frame
        }
      });
    }
    const record = (): void => {
      for (const n of nodes) counterAt.get(n.id)![n.written - 1] = n.readings.version().get(n.id);
    };
    const ackedUpTo = (id: string): number => {
      const at = counterAt.get(id)!;
      const c = ackedCounter.get(id)!;
      let i = -1;
      while (i + 1 < at.length && at[i + 1]! <= c) i++;
      return i;
    };
    // write until every node has seen more than 10 of its writes acknowledged (however long that
    // takes on a busy machine), then crash the gateway in the middle of the stream
    const deadline = Date.now() + PATIENCE_MS;
    while (!nodes.every((n) => ackedUpTo(n.id) >= 10)) {
      if (Date.now() > deadline) throw new Error(`fewer than 11 acknowledged writes per node after ${PATIENCE_MS} ms: ${nodes.map((n) => `${n.id} ${ackedUpTo(n.id) + 1}`).join(", ")}`);
      await writeFor({ nodes }, 50, 5, record);
    }
    await writeFor({ nodes }, 50, 5, record);
    await gw.kill("SIGKILL");
    await sleep(50); // acknowledgements already on their way count too: the gateway stored before it sent them
    const ackedAtKill = new Map(nodes.map((n) => [n.id, ackedUpTo(n.id)]));
    assert.ok([...ackedAtKill.values()].every((v) => v > 10), `the nodes saw acknowledgements before the crash: ${JSON.stringify([...ackedAtKill])}`);
    console.log(`at the crash: ${nodes.map((n) => `${n.id} wrote ${n.written}, saw ${ackedAtKill.get(n.id)! + 1} acknowledged`).join("; ")}`);
    await writeFor({ nodes }, 200, 5, record); // written while the gateway is down
    // the crashed gateway's database holds every acknowledged write
    {
      const kv = new SqliteKv(db);
      const stored = openStored(kv);
      for (const n of nodes) {
        const m = stored.get(`readings/${n.id}`) as LWWMap<number> | undefined;
        const upTo = ackedAtKill.get(n.id)!;
        for (let i = 0; i <= upTo; i++) assert.is(m?.get(`k${i}`), i, `${n.id}'s k${i}, acknowledged before the crash, is in the database`);
      }
      stored.close();
      kv.close();
    }
    gw = await startGatewayProcess(broker.url, fleet, db);
    for (const n of nodes) {
      n.notes.set(n.id, "after");
      n.sync.engine.changed("shared", "notes");
    }
    await writeFor({ nodes }, 200, 5);
    const settled = (): boolean => nodes.every((n) => n.sync.engine.inSync(GW)) && nodes.every((n) => n.notes.equals(nodes[0]!.notes)) && Object.keys(nodes[0]!.notes.value()).length === 3;
    await waitFor("the nodes to be acknowledged and to agree", settled, PATIENCE_MS);
    await gw.kill("SIGTERM");
    const kv = new SqliteKv(db);
    const stored = openStored(kv);
    for (const n of nodes) {
      assert.ok(stored.get(`readings/${n.id}`)?.equals(n.readings), `${n.id}: all ${n.written} writes in the gateway's database`);
      assert.ok(stored.get("shared/notes")?.equals(n.notes), `${n.id}'s notes are the gateway's`);
    }
    assert.equal(nodes[0]!.notes.value(), { n1: "after", n2: "after", n3: "after" });
    stored.close();
    kv.close();
    const bad = gw.lines.filter((l) => l.event === "log" && ["forged", "refused"].includes((l.entry as SyncLogEntry).event));
    assert.equal(bad, [], "an honest fleet has nothing refused");
  } finally {
    await gw.kill("SIGKILL");
    await within("nodes to close", PATIENCE_MS, Promise.all(nodes.map((n) => n.sync.close())));
  }
});

interface GatewayProcess {
  readonly lines: Array<Record<string, unknown>>;
  kill(signal: "SIGKILL" | "SIGTERM"): Promise<void>;
}

async function startGatewayProcess(url: string, fleet: string, db: string): Promise<GatewayProcess> {
  const config = { url, fleet, replica: GW, db, ...TUNING };
  const p = spawn(process.execPath, ["--import", "tsx", GATEWAY_PROCESS, JSON.stringify(config)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = "";
  let pending = "";
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  p.stdout!.setEncoding("utf8").on("data", (s: string) => {
    pending += s;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        lines.push(o);
        if (o.event === "ready") ready();
      } catch {
        stderr += `${line}\n`;
      }
    }
  });
  p.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  await within(`the gateway process to connect (stderr: ${stderr})`, PATIENCE_MS, Promise.race([isReady, exited.then(() => Promise.reject(new Error(`the gateway process exited: ${stderr}`)))]));
  return {
    lines,
    kill: async (signal) => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      p.kill(signal);
      await within(`the gateway process to exit on ${signal}`, PATIENCE_MS, exited);
    },
  };
}

// ---- mosquitto ----

let mosquitto: Broker | undefined;
if (existsSync(MOSQUITTO)) {
  test("mosquitto: a gateway and 3 nodes converge (nodes QoS 0, gateway QoS 1)", async () => {
    mosquitto = await mosquittoBroker();
    await convergeScenario(mosquitto, "conv");
  });
  test("mosquitto: the sample ACL (pattern, %c) refuses a forged topic; the origin rule a forged delta", async () => {
    await aclScenario(mosquitto!, "acl");
  });
  test("mosquitto: the last will of a node that dies", async () => {
    await willScenario(mosquitto!, "will");
  });
  test("mosquitto: killed (SIGKILL) mid-sync and restarted on the same port: everything converges", async () => {
    await brokerRestartScenario(mosquitto!, "restart");
  });
} else {
  console.log(`note: ${MOSQUITTO} not found: the mosquitto tests are skipped`);
}

test("(cleanup)", async () => {
  await aedes?.stop();
  await mosquitto?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
