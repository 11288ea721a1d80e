// A flood against the embedded broker, on loopback: 200 client ids × 1,000 valid frames each,
// all sent at once, to a gateway subscribed through its in-process connection. aedes 1.2.0 with
// its default mqemitter queue threw "Maximum call stack size exceeded" here (broker-node.ts
// says why): the broker must stay up, keep serving, and deliver an honest frame afterwards.
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
    for (let i = 0; i < IDS; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, IDS - i) }, (_, k) => client(broker.url, `n${i + k}`)))));
    for (const [i, c] of clients.entries()) {
      const m = new LWWMap<number>(`n${i}`);
      m.set("t", i);
      const frame = Buffer.from(encodeFrame({ kind: 3, doc: `readings/n${i}`, type: m.typeTag, delta: m.delta() }));
      for (let k = 0; k < FRAMES; k++) c.publish(`lichen/${FLEET}/gw/in/n${i}`, frame, { qos: 0 });
    }
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
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await gw.close();
    await broker.close();
  }
});

test.run();
