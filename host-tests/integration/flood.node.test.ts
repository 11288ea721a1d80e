// A flood against the embedded broker, on loopback: 200 client ids × 1,000 valid frames each,
// all sent at once, to a gateway subscribed through its in-process connection. aedes 1.2.0 with
// its default mqemitter queue threw "Maximum call stack size exceeded" here (broker-node.ts
// says why): the broker must stay up, keep serving, and deliver an honest frame afterwards.
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { MemoryKv } from "../../src/store/kv.js";
import { startEmbeddedBroker } from "../../src/transport/broker-node.js";
import { encodeFrame } from "../../src/transport/frames.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";

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

/** An MQTT 3.1.1 packet: type byte, remaining length, body. */
function packet(type: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}

const str = (s: string): Buffer => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

/** What a flooding client sends: CONNECT, then (after CONNACK: aedes queues only 42 packets before it) FRAMES PUBLISH (QoS 0) of one valid frame. Raw bytes keep the senders cheap. */
function floodBytes(id: string): [Buffer, Buffer] {
  const m = new LWWMap<number>(id);
  m.set("t", 1);
  const frame = Buffer.from(encodeFrame({ kind: 3, doc: `readings/${id}`, type: m.typeTag, delta: m.delta() }));
  const connect = packet(0x10, Buffer.concat([str("MQTT"), Buffer.from([4, 2, 0, 60]), str(id)]));
  const publish = packet(0x30, Buffer.concat([str(`lichen/${FLEET}/gw/in/${id}`), frame]));
  return [connect, Buffer.concat(Array.from({ length: FRAMES }, () => publish))];
}

test(`the embedded broker survives ${IDS} ids × ${FRAMES} frames and keeps delivering`, async () => {
  const crashes: Error[] = [];
  const onCrash = (e: Error): void => {
    crashes.push(e);
  };
  process.on("uncaughtException", onCrash);
  // no publish rate limit: the flood must reach the emitter whole, as it did when the broker fell
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, publishPerSecond: 0, reservedIds: ["gw"] });
  const gw = new MqttSync({ url: broker.url, stream: () => broker.connectInProcess(), fleet: FLEET, replica: "gw", role: "gateway", kv: new MemoryKv(), log: () => {} });
  const clients: MqttClient[] = [];
  const closers: Array<() => void> = [];
  try {
    await gw.ready(5000);
    let received = 0;
    gw.client.on("message", (topic) => {
      if (topic.includes("/in/")) received++;
    });
    let published = 0;
    broker.aedes.on("publish", (packet, c) => {
      if (c !== null && packet.topic.includes("/in/")) published++;
    });
    const sockets: Socket[] = [];
    for (let i = 0; i < IDS; i++) {
      const socket = tcpConnect(broker.port, "127.0.0.1");
      socket.on("error", () => {});
      sockets.push(socket);
      const [connect, publishes] = floodBytes(`n${i}`);
      socket.once("data", () => socket.write(publishes));
      socket.write(connect);
    }
    closers.push(() => sockets.forEach((s) => s.destroy()));
    await waitFor("the broker to take every frame", () => published === IDS * FRAMES || crashes.length > 0, 25_000);
    assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
    console.log(`${published} frames published, ${received} delivered to the gateway`);
    await waitFor("the gateway to receive them", () => received >= IDS * FRAMES || crashes.length > 0, 10_000);
    assert.equal(crashes.map((e) => e.message), [], "nothing thrown");
    // still serving: a new client's frame reaches the gateway
    const late = await client(broker.url, "late");
    clients.push(late);
    const before = received;
    late.publish(`lichen/${FLEET}/gw/in/late`, Buffer.from([1]), { qos: 0 });
    await waitFor("a frame after the flood", () => received > before, 5000);
  } finally {
    process.off("uncaughtException", onCrash);
    for (const close of closers) close();
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await gw.close();
    await broker.close();
  }
});

test.run();
