// The embedded broker's shared intake bounds (packet-limit-node.ts IntakeGate, broker-node.ts):
// no network client is read while the in-process connection (the gateway's) holds more than
// inProcessBacklogBytes, nor while more than parsedBytes of packets read from all clients
// together wait to be handled; a client waiting for its publish rate does not hold the others
// up. Each test also runs its flood with the bound lifted, and checks that the flood then gets
// through: what the test watches is the bound, not something else that holds the flood.
import { connect as tcpConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AedesOptions } from "aedes";
import { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from "../../src/transport/broker-node.js";
import { IntakeGate } from "../../src/transport/packet-limit-node.js";
import { connectPacket, mqttString, packet } from "../../scripts/mqtt-packets.js";

const FLEET = "ig";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` until it holds or `ms` pass; returns whether it held. */
async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

function publishTo(id: string, bodyBytes: number): Buffer {
  return packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/gw/in/${id}`), Buffer.alloc(bodyBytes, 7)]));
}

/** A raw network client, connected (CONNACK read); what the broker sends it is read and dropped. */
function rawClient(port: number, id: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, "127.0.0.1");
    s.on("error", () => {});
    s.once("close", () => reject(new Error(`${id}: closed before CONNACK`)));
    s.once("data", () => {
      s.on("data", () => {});
      resolve(s);
    });
    s.write(connectPacket(id));
  });
}

/**
 * Wraps the broker's authorizePublish: every publish of a client is counted and handed to
 * `decide`, which lets it through (`go()`) now or later.
 */
function watchPublishes(broker: EmbeddedBroker, decide: (clientId: string, go: () => void) => void): Map<string, number> {
  const counts = new Map<string, number>();
  const authorize = broker.aedes.authorizePublish as NonNullable<AedesOptions["authorizePublish"]>;
  broker.aedes.authorizePublish = (client, p, callback) => {
    const id = client?.id ?? "";
    counts.set(id, (counts.get(id) ?? 0) + 1);
    decide(id, () => authorize.call(broker.aedes, client, p, callback));
  };
  return counts;
}

async function withBroker(options: EmbeddedBrokerOptions, run: (broker: EmbeddedBroker, sockets: Socket[]) => Promise<void>): Promise<void> {
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, publishPerSecond: 0, ...options });
  const sockets: Socket[] = [];
  try {
    await run(broker, sockets);
  } finally {
    for (const s of sockets) s.destroy();
    await broker.close();
  }
}

/**
 * The gateway's connection holds its publishes (the broker is made to sit on them), a client
 * floods: returns how many of the flood's 200 publishes the broker read meanwhile, and whether
 * all of them came through once the gateway's publishes were let go.
 */
async function floodBehindABackloggedGateway(inProcessBacklogBytes: number): Promise<{ readMeanwhile: number; backlog: number; holding: number; all: boolean }> {
  let result = { readMeanwhile: -1, backlog: -1, holding: -1, all: false };
  await withBroker({ readBatchBytes: 1024, inProcessBacklogBytes, parsedBytes: 1 << 20 }, async (broker, sockets) => {
    const heldGw: Array<() => void> = [];
    let holdGw = true;
    const counts = watchPublishes(broker, (id, go) => (id === "gw" && holdGw ? heldGw.push(go) : go()));
    const flood = await rawClient(broker.port, "flood");
    sockets.push(flood);
    // the gateway, in process: connects, then publishes 50 frames that the broker sits on
    const gw: Duplex = broker.connectInProcess();
    await new Promise<void>((resolve) => {
      gw.once("data", () => resolve());
      gw.write(connectPacket("gw"));
    });
    gw.on("data", () => {});
    for (let i = 0; i < 50; i++) gw.write(packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/n${i}/in/gw`), Buffer.alloc(500, 1)])));
    assert.ok(await until(() => heldGw.length > 0, 10_000), "the broker took the gateway's first publish");
    flood.write(Buffer.concat(Array.from({ length: 200 }, () => publishTo("flood", 40))));
    await sleep(300);
    result = { readMeanwhile: counts.get("flood") ?? 0, backlog: broker.inProcessBacklog(), holding: broker.gate.holding, all: false };
    holdGw = false;
    for (const go of heldGw.splice(0)) go();
    result.all = await until(() => counts.get("flood") === 200 && (counts.get("gw") ?? 0) === 50, 30_000);
  });
  return result;
}

test("no network client is read while the gateway's in-process connection holds more than its bound; all of it comes once it drains", async () => {
  const r = await floodBehindABackloggedGateway(4096);
  assert.ok(r.backlog > 4096, `the gateway's connection holds ${r.backlog} bytes`);
  assert.is(r.readMeanwhile, 0, "nothing of the flood read while the gateway's connection is over its bound");
  assert.ok(r.holding >= 1, "the flooding client waits at the gate");
  assert.ok(r.all, "every publish of the flood and of the gateway came through afterwards");
  // the same with the bound lifted: the flood is read meanwhile (so the test above watches the gate)
  const open = await floodBehindABackloggedGateway(1 << 30);
  assert.is(open.readMeanwhile, 200, "without the bound, the whole flood is read behind the gateway's backlog");
  assert.ok(open.all);
});

/** 10 clients flood 100 publishes each, every publish held until the test lets it go: the most held at once. */
async function heldAtOnce(parsedBytes: number): Promise<{ most: number; perBatch: number; all: boolean }> {
  let out = { most: -1, perBatch: 0, all: false };
  await withBroker({ readBatchBytes: 1024, parsedBytes }, async (broker, sockets) => {
    const held: Array<() => void> = [];
    const counts = watchPublishes(broker, (id, go) => (id.startsWith("f") ? held.push(go) : go()));
    const ids = Array.from({ length: 10 }, (_, i) => `f${i}`);
    for (const id of ids) sockets.push(await rawClient(broker.port, id));
    const one = publishTo("f0", 40);
    const perBatch = Math.floor(1024 / one.length);
    for (const [i, s] of sockets.entries()) s.write(Buffer.concat(Array.from({ length: 100 }, () => publishTo(ids[i]!, 40))));
    let most = 0;
    const total = (): number => ids.reduce((n, id) => n + (counts.get(id) ?? 0), 0);
    const deadline = Date.now() + 60_000;
    while (total() < 1000 && Date.now() < deadline) {
      await sleep(held.length > 0 ? 20 : 5);
      most = Math.max(most, held.length);
      for (const go of held.splice(0)) go();
    }
    out = { most, perBatch, all: total() === 1000 };
  });
  return out;
}

test("at most parsedBytes of packets from all network clients together wait to be handled, whatever the number of clients", async () => {
  const r = await heldAtOnce(2048);
  // the gate lets a read through while under 2,048 bytes: at most 3 batches of 1,024 at once
  assert.ok(r.most <= 3 * r.perBatch, `${r.most} publishes held at once (3 batches: ${3 * r.perBatch})`);
  assert.ok(r.all, "every publish arrived");
  const open = await heldAtOnce(1 << 30);
  assert.ok(open.most > 3 * open.perBatch, `without the bound, ${open.most} publishes held at once (10 clients' batches)`);
  assert.ok(open.all);
});

test("a client waiting for its publish rate does not hold the other clients' intake", async () => {
  await withBroker({ readBatchBytes: 1024, parsedBytes: 1024, publishPerSecond: 1, publishBurst: 1 }, async (broker, sockets) => {
    const counts = watchPublishes(broker, (_id, go) => go());
    const slow = await rawClient(broker.port, "slow");
    sockets.push(slow);
    // a batch of about 17 publishes at 1 per second: the batch is handled in about 17 s
    slow.write(Buffer.concat(Array.from({ length: 40 }, () => publishTo("slow", 40))));
    assert.ok(await until(() => (counts.get("slow") ?? 0) >= 2, 10_000), "the slow client's batch is read");
    const other = await Promise.race([rawClient(broker.port, "other"), sleep(8000).then(() => undefined)]);
    assert.ok(other !== undefined, "another client is answered while the slow one waits for its rate");
    sockets.push(other);
    other.write(publishTo("other", 40));
    assert.ok(await until(() => (counts.get("other") ?? 0) === 1, 8000), "and its publish is read");
    assert.ok((counts.get("slow") ?? 0) < 17, "while the slow client's batch is not handled yet");
  });
});

test("IntakeGate: over its bytes or backlogged, it is closed; a held stream is woken, in order, once it opens", async () => {
  let backlogged = false;
  const gate = new IntakeGate(100, () => backlogged);
  assert.ok(gate.open);
  gate.take(100);
  assert.not.ok(gate.open, "100 of 100 bytes parsed");
  const woken: string[] = [];
  const a = { destroyed: false } as unknown as Duplex;
  const b = { destroyed: false } as unknown as Duplex;
  const gone = { destroyed: true } as unknown as Duplex;
  gate.hold(a, () => {
    woken.push("a");
    gate.take(60); // a reads at once: the gate is judged again before b
  });
  gate.hold(gone, () => woken.push("gone"));
  gate.hold(b, () => woken.push("b"));
  assert.is(gate.holding, 3);
  gate.give(50);
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, ["a"], "a woken; b waits: a's read closed the gate again");
  gate.give(60);
  backlogged = true;
  gate.check();
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, ["a"], "backlogged: nobody woken");
  backlogged = false;
  gate.check();
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, ["a", "b"], "b woken; the destroyed stream never");
  assert.is(gate.holding, 0);
  assert.is(gate.parsedBytes, 50);
});

test.run();
