// A flood against the embedded broker, on loopback: 200 client ids × 1,000 valid frames each,
// all sent at once, to a subscribed gateway. aedes 1.2.0 with
// its default mqemitter queue threw "Maximum call stack size exceeded" here (broker-node.ts
// says why): the broker must stay up, keep serving, and deliver an honest frame afterwards.
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../src/transport/broker-node.js";
import { encodeFrame, FrameKind } from "../../src/transport/frames.js";
import { connectPacket, mqttString, packet } from "../../scripts/mqtt-packets.js";

const IDS = 200;
const FRAMES = 1000;
const FLEET = "flood";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function client(url: string, id: string): Promise<MqttClient> {
  const c = mqttConnect(url, { clientId: id, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
  c.on("error", () => {});
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve(c));
    c.once("close", () => reject(new Error(`${id} could not connect`)));
  });
}

/** What a flooding client sends: CONNECT, then (after CONNACK: aedes queues only 42 packets before it) FRAMES PUBLISH (QoS 0) of one valid frame. Raw bytes keep the senders cheap. */
function floodBytes(id: string): [Buffer, Buffer] {
  const m = new LWWMap<number>(id);
  m.set("t", 1);
  const frame = Buffer.from(encodeFrame({ kind: FrameKind.Delta, doc: `readings/${id}`, type: m.typeTag, delta: m.delta() }));
  const connect = connectPacket(id);
  const publish = packet(0x30, Buffer.concat([mqttString(`lichen/${FLEET}/gw/in/${id}`), frame]));
  return [connect, Buffer.concat(Array.from({ length: FRAMES }, () => publish))];
}

// One flood in three steps (each test has its own deadline; a loaded machine needs them all).
const crashes: Error[] = [];
const onCrash = (e: Error): void => {
  crashes.push(e);
};
let broker: EmbeddedBroker | undefined;
const sockets: Socket[] = [];
let received = 0;
let published = 0;
let expected = 0;

test(`${IDS} ids × ${FRAMES} frames at once: the embedded broker starts taking them, and throws nothing`, async () => {
  process.on("uncaughtException", onCrash);
  // no publish rate limit: the flood must reach the emitter whole, as it did when the broker fell
  const b = (broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, publishPerSecond: 0 }));
  // the gateway: a raw subscriber to its inbox that only counts bytes (parsing 200,000 messages
  // here would only slow the test down; the broker's work is the same)
  const gw = tcpConnect(b.port, "127.0.0.1");
  sockets.push(gw);
  gw.on("data", (chunk: Buffer) => (received += chunk.length));
  gw.write(connectPacket("gw"));
  gw.write(packet(0x82, Buffer.concat([Buffer.from([0, 1]), mqttString(`lichen/${FLEET}/gw/in/+`), Buffer.from([0])])));
  await waitFor("CONNACK and SUBACK", () => received >= 4 + 5, 5000);
  received = 0;
  b.aedes.on("publish", (p, c) => {
    if (c !== null && p.topic.includes("/in/")) published++;
  });
  for (let i = 0; i < IDS; i++) {
    const socket = tcpConnect(b.port, "127.0.0.1");
    socket.on("error", () => {});
    sockets.push(socket);
    const [connect, publishes] = floodBytes(`n${i}`);
    expected += publishes.length;
    socket.once("data", () => socket.write(publishes));
    socket.write(connect);
  }
  await waitFor("the first frames", () => published > 0 || crashes.length > 0, 27_000);
  assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
});

// A loaded machine may need more than one test's deadline: each step must see the broker progress.
for (let step = 1; step <= 8; step++) {
  test(`the broker keeps taking the flood, without throwing (step ${step})`, async () => {
    const before = published;
    await waitFor("more frames taken, or all of them", () => published === IDS * FRAMES || published > before + 5000 || crashes.length > 0, 27_000);
    assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
  });
}

test("every frame is taken", async () => {
  await waitFor("the broker to take every frame", () => published === IDS * FRAMES || crashes.length > 0, 27_000);
  assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
});

test("every frame reaches the subscribed gateway, once", async () => {
  await waitFor("the gateway to receive them", () => received >= expected || crashes.length > 0, 27_000);
  assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
  assert.is(received, expected);
  console.log(`${published} frames published, ${received} bytes delivered to the gateway; this process: ${Math.round(process.memoryUsage().rss / 1048576)} MB RSS`);
});

test("after the flood the broker still serves: a new client's frame reaches the gateway", async () => {
  try {
    const late = await client(broker!.url, "late");
    late.publish(`lichen/${FLEET}/gw/in/late`, Buffer.from([1]), { qos: 0 });
    await waitFor("a frame after the flood", () => received > expected, 5000);
    await late.endAsync(true);
    assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
  } finally {
    process.off("uncaughtException", onCrash);
    for (const s of sockets) s.destroy();
    await broker?.close();
  }
});

test.run();
