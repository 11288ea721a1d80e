// The embedded broker's intake bound (packet-limit-node.ts limitIntake): one read of a client
// returns at most a batch of whole MQTT packets (one at least), the rest stays in the stream, and
// nothing is lost, reordered or cut inside a header; and with the broker, a client that floods
// has at most one batch of publishes parsed at a time.
import { connect as tcpConnect, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startEmbeddedBroker } from "../../src/transport/broker-node.js";
import { limitIntake, PacketCutter } from "../../src/transport/packet-limit-node.js";
import { connectPacket, mqttString, packet } from "../../scripts/mqtt-packets.js";
import { fc, property } from "../prop.js";

/** Packets of the given body sizes, concatenated; and where each ends. */
function stream(bodies: number[]): { bytes: Buffer; ends: Set<number> } {
  const parts: Buffer[] = [];
  const ends = new Set<number>();
  let at = 0;
  for (const [i, n] of bodies.entries()) {
    const p = packet(0x30, Buffer.alloc(n, i & 0xff));
    parts.push(p);
    at += p.length;
    ends.add(at);
  }
  return { bytes: Buffer.concat(parts), ends };
}

property(
  "the cutter hands on whole packets, at most a batch of them, whatever the chunks",
  [fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 120, max: 20_000 })), { minLength: 1, maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 16, max: 5000 })],
  (bodies, chunkSizes, max) => {
    const { bytes, ends } = stream(bodies);
    const cutter = new PacketCutter();
    // a socket's buffer: chunks arrive; each read takes a piece, the rest is put back in front
    let buffered = Buffer.alloc(0);
    let fed = 0;
    let handed = 0;
    let k = 0;
    while (handed < bytes.length) {
      if (fed < bytes.length) {
        const n = Math.min(chunkSizes[k++ % chunkSizes.length]!, bytes.length - fed);
        buffered = Buffer.concat([buffered, bytes.subarray(fed, fed + n)]);
        fed += n;
      }
      if (buffered.length === 0) continue;
      const n = cutter.cut(buffered, max);
      assert.ok(n > 0 && n <= buffered.length, `a piece of ${n} of ${buffered.length} bytes`);
      const end = handed + n;
      if (n < buffered.length) assert.ok(ends.has(end), `cut at ${end}, not a packet boundary`);
      // over the batch only when it is one packet (or the part of one that is there)
      if (n > max) {
        let inside = 0;
        for (const e of ends) if (e > handed && e < end) inside++;
        assert.is(inside, 0, `a piece of ${n} bytes over the batch of ${max} holds more than one packet`);
      }
      assert.ok(buffered.subarray(0, n).equals(bytes.subarray(handed, end)), "bytes in order");
      handed = end;
      buffered = buffered.subarray(n);
    }
  },
  { numRuns: 300 },
);

test("limitIntake: read() returns whole packets up to the batch, the rest on the next reads, and nothing to a read made while the last piece is being parsed", async () => {
  const s = new PassThrough();
  let readable = 0;
  s.on("readable", () => readable++);
  limitIntake(s, 65_536, { batchBytes: 1000 });
  const { bytes, ends } = stream(Array.from({ length: 100 }, (_, i) => (i === 50 ? 5000 : 60)));
  s.write(bytes);
  await new Promise((r) => setImmediate(r));
  const pieces: Buffer[] = [];
  // aedes calls read(null), which is read() (a size of undefined)
  for (let chunk = s.read() as Buffer | null; chunk !== null; chunk = s.read() as Buffer | null) {
    pieces.push(chunk);
    // in the same tick (the parser still at work): nothing; the reader is told once the tick is over
    const before = readable;
    assert.is(s.read(), null);
    await new Promise((r) => setImmediate(r));
    assert.ok(readable > before, "told to read again");
  }
  assert.ok(Buffer.concat(pieces).equals(bytes), "every byte, in order");
  let at = 0;
  for (const p of pieces) {
    at += p.length;
    assert.ok(ends.has(at), "each read ends on a packet boundary");
    assert.ok(p.length <= 1000 || p.length === 5000 + 3, `a read of ${p.length} bytes`);
  }
  assert.ok(pieces.length >= 8, `${pieces.length} reads`);
});

test("the embedded broker parses at most a batch of a flooding client at a time", async () => {
  const broker = await startEmbeddedBroker({ port: 0, fleet: "rb", publishPerSecond: 0, readBatchBytes: 1024 });
  const sockets: Socket[] = [];
  try {
    // every publish of the client is held (no callback) until the test lets it go: what aedes
    // parsed and has not delivered is what it asks authorization for
    let parsed = 0;
    let most = 0;
    const held: Array<() => void> = [];
    const authorize = broker.aedes.authorizePublish;
    broker.aedes.authorizePublish = (client, p, callback) => {
      if (client?.id !== "flood") return authorize.call(broker.aedes, client, p, callback);
      parsed++;
      most = Math.max(most, held.length + 1);
      held.push(() => authorize.call(broker.aedes, client, p, callback));
    };
    const s = tcpConnect(broker.port, "127.0.0.1");
    sockets.push(s);
    s.on("error", () => {});
    const publish = packet(0x30, Buffer.concat([mqttString("lichen/rb/gw/in/flood"), Buffer.alloc(40, 7)]));
    // the flood after CONNACK (aedes queues what comes before it, up to 42 packets)
    await new Promise<void>((resolve) => {
      s.once("data", () => resolve());
      s.write(connectPacket("flood"));
    });
    s.on("data", () => {});
    s.write(Buffer.concat(Array.from({ length: 2000 }, () => publish)));
    const perBatch = Math.floor(1024 / publish.length);
    const deadline = Date.now() + 60_000;
    while (parsed < 2000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, held.length > 0 ? 1 : 20));
      // at most one batch parsed and waiting
      assert.ok(held.length <= perBatch + 1, `${held.length} publishes parsed at once (a batch holds ${perBatch})`);
      for (const go of held.splice(0)) go();
    }
    assert.is(parsed, 2000, "every publish arrived");
    assert.ok(most <= perBatch + 1 && most >= 2, `at most ${most} parsed at once`);
  } finally {
    for (const s of sockets) s.destroy();
    await broker.close();
  }
});

test.run();
