// The embedded broker's defences (src/transport/broker-node.ts), on loopback: the users file
// (scrypt), a client id bound to its user, the gateway's reserved id, TLS (a self-signed
// certificate made here by openssl, when installed), the packet size limit on both sides, the
// connection limit, and the publish rate per client (simulated time).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect as tcpConnect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as mqttConnect, type IClientOptions, type MqttClient } from "mqtt";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryKv } from "../../src/store/kv.js";
import { startEmbeddedBroker, type BrokerRejection, type EmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { PacketSizeTracker } from "../../src/transport/packet-limit-node.js";
import { parseUsers, readUsersFile, setPassword, verifyPassword } from "../../src/transport/users-file-node.js";
import type { Scheduler } from "../../src/transport/sync-engine.js";
import { connectPacket, packet } from "../../scripts/mqtt-packets.js";

const FLEET = "b";
const tmp = mkdtempSync(join(tmpdir(), "lichen-broker-"));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Connects; resolves to the client, or to the error of a refused connection. */
function attempt(url: string, clientId: string, extra: IClientOptions = {}): Promise<MqttClient | Error> {
  const c = mqttConnect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...extra });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.end(true);
      resolve(new Error("no answer within 5 s"));
    }, 5000);
    c.once("connect", () => {
      clearTimeout(timer);
      resolve(c);
    });
    c.once("error", (e) => {
      clearTimeout(timer);
      c.end(true);
      resolve(e);
    });
    c.once("close", () => {
      clearTimeout(timer);
      resolve(new Error("closed"));
    });
  });
}

async function connected(url: string, clientId: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const r = await attempt(url, clientId, extra);
  if (r instanceof Error) throw new Error(`${clientId} could not connect: ${r.message}`);
  return r;
}

/** The fixed header of a PUBLISH (QoS 0) announcing `length` bytes of remaining length. */
const publishHeader = (length: number): Buffer => packet(0x30, Buffer.alloc(0), length);

test("the packet size tracker follows packets across chunks and catches the first one over the limit", () => {
  const t = new PacketSizeTracker(100);
  // two small packets (a PINGREQ and a 10-byte PUBLISH), the second split in the middle of its header
  assert.is(t.push(Buffer.from([0xc0, 0x00, 0x30])), -1);
  assert.is(t.push(Buffer.from([10, 1, 2, 3])), -1);
  assert.is(t.push(Buffer.from([4, 5, 6, 7, 8, 9, 10])), -1);
  // a packet of exactly the limit passes, one byte more does not
  assert.is(t.push(Buffer.concat([publishHeader(98), Buffer.alloc(98)])), -1);
  assert.is(t.push(publishHeader(99)), 101);
  // a length of 4 bytes announcing 200 MB, read one byte at a time
  const big = new PacketSizeTracker(65_536);
  const header = publishHeader(200 * 1024 * 1024);
  let seen = -1;
  for (const b of header) seen = big.push(Buffer.from([b]));
  assert.is(seen, 1 + 4 + 200 * 1024 * 1024);
  // five length bytes: not MQTT
  assert.ok(new PacketSizeTracker(65_536).push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])) > 65_536);
});

test("users file: setPassword adds and changes users (mode 0600); verifyPassword checks them; a bad file is a LichenError", async () => {
  const file = join(tmp, "users");
  assert.is(await setPassword(file, "n1", "secret-1"), "added");
  assert.is(await setPassword(file, "n2", "secret-2"), "added");
  assert.is(statSync(file).mode & 0o777, 0o600);
  const users = readUsersFile(file);
  assert.equal([...users.hashes.keys()], ["n1", "n2"]);
  assert.not.match(readFileSync(file, "utf8"), /secret/, "no password in clear");
  assert.ok(await verifyPassword(users, "n1", "secret-1"));
  assert.ok(await verifyPassword(users, "n1", "secret-1"), "again, from the cache of verified passwords");
  assert.not.ok(await verifyPassword(users, "n1", "secret-2"));
  assert.not.ok(await verifyPassword(users, "n3", "secret-1"), "an unknown user");
  assert.is(await setPassword(file, "n1", "changed"), "changed");
  const again = readUsersFile(file);
  assert.equal([...again.hashes.keys()], ["n1", "n2"]);
  assert.not.ok(await verifyPassword(again, "n1", "secret-1"));
  assert.ok(await verifyPassword(again, "n1", "changed"));
  for (const [text, problem] of [
    ["n1 scrypt$1", /line 1: expected user:scrypt/],
    ["# c\nn/1:scrypt$16384$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", /line 2: bad user name/],
    ["n1:md5$x", /expected scrypt\$N\$r\$p\$salt\$hash/],
    ["n1:scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", /bad scrypt parameters/],
  ] as const) {
    try {
      parseUsers(text);
      assert.unreachable(`${text} was accepted`);
    } catch (e) {
      assert.is((e as { code?: string }).code, "INVALID_ARGUMENT", text);
      assert.match((e as Error).message, problem);
    }
  }
  try {
    await setPassword(file, "a/b", "x");
    assert.unreachable("a bad user name was accepted");
  } catch (e) {
    assert.is((e as { code?: string }).code, "INVALID_ARGUMENT");
  }
});

test("with a users file: a device connects only with its password and only as its own client id", async () => {
  const file = join(tmp, "users-2");
  await setPassword(file, "n1", "pw-n1");
  const rejected: BrokerRejection[] = [];
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, users: readUsersFile(file), onRejected: (r) => rejected.push(r) });
  const open: MqttClient[] = [];
  try {
    const ok = await connected(broker.url, "n1", { username: "n1", password: "pw-n1" });
    open.push(ok);
    for (const [id, creds, reason] of [
      ["n1", {}, "bad-credentials"],
      ["n1", { username: "n1", password: "wrong" }, "bad-credentials"],
      ["n2", { username: "n1", password: "pw-n1" }, "not-own-id"],
      ["n9", { username: "n9", password: "pw-n1" }, "bad-credentials"],
    ] as const) {
      const r = await attempt(broker.url, id, creds);
      assert.ok(r instanceof Error, `${id} ${JSON.stringify(creds)} was let in`);
      assert.ok(rejected.some((x) => x.reason === reason && x.clientId === id), `${reason} for ${id}: ${JSON.stringify(rejected)}`);
    }
    assert.ok(ok.connected, "n1 was not kicked off by the failed attempts");
  } finally {
    for (const c of open) await c.endAsync(true);
    await broker.close();
  }
});

test("the gateway's id is reserved: a network client taking it is refused, the in-process gateway stays connected", async () => {
  const rejected: BrokerRejection[] = [];
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, reservedIds: ["gw"], onRejected: (r) => rejected.push(r) });
  const gw = new MqttSync({ url: broker.url, stream: () => broker.connectInProcess(), fleet: FLEET, replica: "gw", role: "gateway", kv: new MemoryKv(), reconnectMs: 50 });
  let closes = 0;
  gw.client.on("close", () => closes++);
  const open: MqttClient[] = [];
  try {
    await gw.ready(3000);
    for (let i = 0; i < 3; i++) {
      const r = await attempt(broker.url, "gw");
      assert.ok(r instanceof Error, "an impostor connected as the gateway");
    }
    assert.is(rejected.filter((r) => r.reason === "reserved-id").length, 3);
    // the gateway still gets its frames
    const got: string[] = [];
    gw.client.on("message", (topic) => got.push(topic));
    const n1 = await connected(broker.url, "n1");
    open.push(n1);
    n1.publish(`lichen/${FLEET}/gw/in/n1`, Buffer.from([1]), { qos: 0 });
    await waitFor("the gateway to receive n1's frame", () => got.includes(`lichen/${FLEET}/gw/in/n1`));
    assert.is(closes, 0, "the gateway was never disconnected");
  } finally {
    for (const c of open) await c.endAsync(true);
    await gw.close();
    await broker.close();
  }
});

const OPENSSL = spawnSync("sh", ["-c", "command -v openssl"], { encoding: "utf8" }).stdout.trim();
if (OPENSSL !== "") {
  test("TLS: with a certificate and key, the broker speaks mqtts; a client that trusts it connects, a plain one does not", async () => {
    const key = join(tmp, "key.pem");
    const cert = join(tmp, "cert.pem");
    const r = spawnSync(OPENSSL, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    const open: MqttClient[] = [];
    try {
      assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      const plain = await attempt(`mqtt://127.0.0.1:${broker.port}`, "n2");
      assert.ok(plain instanceof Error, "a plain MQTT client connected to the TLS listener");
      const untrusting = await attempt(broker.url, "n3");
      assert.ok(untrusting instanceof Error, "a client that does not trust the certificate connected");
      const a = await connected(broker.url, "n1", { ca: readFileSync(cert) });
      const b = await connected(broker.url, "gw", { ca: readFileSync(cert) });
      open.push(a, b);
      const got: Buffer[] = [];
      b.on("message", (_t, p) => got.push(p));
      await b.subscribeAsync(`lichen/${FLEET}/gw/in/+`);
      a.publish(`lichen/${FLEET}/gw/in/n1`, Buffer.from("over tls"), { qos: 0 });
      await waitFor("the frame over TLS", () => got.length === 1);
      assert.is(got[0]!.toString(), "over tls");
    } finally {
      for (const c of open) await c.endAsync(true);
      await broker.close();
    }
  });
} else {
  console.log("note: openssl not found: the TLS test is skipped");
}

test("a PUBLISH announcing 200 MB closes its connection at the header; others carry on", async () => {
  const rejected: BrokerRejection[] = [];
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, maxPacketBytes: 65_536, onRejected: (r) => rejected.push(r) });
  const open: MqttClient[] = [];
  try {
    const watcher = await connected(broker.url, "gw");
    open.push(watcher);
    await watcher.subscribeAsync(`lichen/${FLEET}/gw/in/+`);
    const got: string[] = [];
    watcher.on("message", (t) => got.push(t));
    const socket: Socket = tcpConnect(broker.port, "127.0.0.1");
    let closed = false;
    socket.on("close", () => (closed = true));
    socket.on("error", () => {});
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(connectPacket("big"));
    const topic = Buffer.from(`lichen/${FLEET}/gw/in/big`);
    socket.write(Buffer.concat([publishHeader(200 * 1024 * 1024), Buffer.from([0, topic.length]), topic]));
    // a megabyte of the body follows; the broker must not wait for (or keep) the rest
    for (let i = 0; i < 16 && !closed; i++) socket.write(Buffer.alloc(65_536, 7));
    await waitFor("the broker to close the connection", () => closed);
    assert.ok(rejected.some((r) => r.reason === "packet-too-large" && r.bytes > 200 * 1024 * 1024), JSON.stringify(rejected));
    const n1 = await connected(broker.url, "n1");
    open.push(n1);
    n1.publish(`lichen/${FLEET}/gw/in/n1`, Buffer.alloc(4000, 1), { qos: 0 });
    await waitFor("a frame of 4,000 bytes from another client", () => got.includes(`lichen/${FLEET}/gw/in/n1`));
    assert.not.ok(got.includes(`lichen/${FLEET}/gw/in/big`));
  } finally {
    for (const c of open) await c.endAsync(true);
    await broker.close();
  }
});

test("MqttSync closes a connection on which the broker sends a packet over its limit", async () => {
  // a fake broker: CONNACK, then a PUBLISH announcing 200 MB
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    s.once("data", () => {
      s.write(Buffer.from([0x20, 2, 0, 0]));
      setTimeout(() => s.write(Buffer.concat([publishHeader(200 * 1024 * 1024), Buffer.alloc(1000)])), 50);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const logs: string[] = [];
  const sync = new MqttSync({ url: `mqtt://127.0.0.1:${port}`, fleet: FLEET, replica: "n1", role: "node", kv: new MemoryKv(), reconnectMs: 60_000, log: (e) => logs.push(e.message ?? "") });
  try {
    await sync.ready(3000);
    await waitFor("the client to drop the connection", () => !sync.client.connected);
    assert.ok(logs.some((l) => /packet of 209715205 bytes, over the limit of 65536/.test(l)), JSON.stringify(logs));
  } finally {
    await sync.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test("connections over maxConnections are dropped", async () => {
  const rejected: BrokerRejection[] = [];
  const broker = await startEmbeddedBroker({ port: 0, fleet: FLEET, maxConnections: 3, onRejected: (r) => rejected.push(r) });
  const open: MqttClient[] = [];
  try {
    for (const id of ["n1", "n2", "n3"]) open.push(await connected(broker.url, id));
    const fourth = await attempt(broker.url, "n4");
    assert.ok(fourth instanceof Error, "a fourth connection was accepted");
    assert.ok(rejected.some((r) => r.reason === "too-many-connections"));
    await open.pop()!.endAsync(true);
    await waitFor("the broker to see the connection closed", () => broker.aedes.connectedClients === 2);
    open.push(await connected(broker.url, "n4"));
  } finally {
    for (const c of open) await c.endAsync(true);
    await broker.close();
  }
});

/** Simulated time: timers run when advance() passes them. */
function fakeScheduler(): Scheduler & { advance(ms: number): void } {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => now,
    setTimer(ms, fn) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => timers.splice(timers.indexOf(t), 1);
    },
    advance(ms) {
      now += ms;
      timers.sort((a, b) => a.at - b.at);
      while (timers.length > 0 && timers[0]!.at <= now) timers.shift()!.fn();
    },
  };
}

test("publish rate per client: a burst, then the rate; others are not slowed (simulated time)", async () => {
  const clock = fakeScheduler();
  const broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0, fleet: FLEET, publishPerSecond: 10, publishBurst: 20, scheduler: clock });
  const open: MqttClient[] = [];
  try {
    const counts = new Map<string, number>();
    broker.aedes.on("publish", (p, c) => {
      if (c !== null && p.topic.includes("/in/")) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
    });
    const flooder = await connected(broker.url, "n1");
    const other = await connected(broker.url, "n2");
    open.push(flooder, other);
    for (let i = 0; i < 50; i++) flooder.publish(`lichen/${FLEET}/gw/in/n1`, Buffer.from([i]), { qos: 0 });
    await waitFor("the burst", () => counts.get("n1") === 20);
    other.publish(`lichen/${FLEET}/gw/in/n2`, Buffer.from([1]), { qos: 0 });
    await waitFor("the other client's frame", () => counts.get("n2") === 1);
    assert.is(counts.get("n1"), 20, "no more than the burst while no time passes");
    clock.advance(1000);
    await waitFor("one more second's worth", () => counts.get("n1") === 30);
    clock.advance(2000);
    await waitFor("the rest", () => counts.get("n1") === 50);
  } finally {
    for (const c of open) await c.endAsync(true);
    await broker.close();
  }
});

test("(cleanup)", () => {
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
