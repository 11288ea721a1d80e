// The MQTT binding's device-safe parts, on both engines: the topic layout, presence payloads,
// the ACL rule, and the shared peer logic (mqtt-peer.ts) over an in-memory broker on virtual time.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { MemoryKv } from "../../src/store/kv.js";
import { encodeFrame, FrameKind } from "../../src/transport/frames.js";
import { MqttPeer, type PeerStatus } from "../../src/transport/mqtt-peer.js";
import {
  checkTopicId,
  decodePresence,
  encodePresence,
  inboxFilter,
  inboxTopic,
  mayPublish,
  maySubscribe,
  parseTopic,
  presenceFilter,
  presenceTopic,
  type Presence,
} from "../../src/transport/mqtt-topics.js";
import type { PeerRole, SyncLogEntry } from "../../src/transport/sync-engine.js";
import { FakeBroker, topicMatches, type FakeClient } from "../../sim/network/fake-broker.js";
import { VirtualTime } from "../../sim/network/simulator.js";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array): string => String.fromCharCode(...b);

test("topics: built, parsed back, and matched by the filters", () => {
  assert.is(inboxTopic("f1", "gw", "n1"), "lichen/f1/gw/in/n1");
  assert.is(inboxFilter("f1", "gw"), "lichen/f1/gw/in/+");
  assert.is(presenceTopic("f1", "n1"), "lichen/f1/n1/presence");
  assert.is(presenceFilter("f1"), "lichen/f1/+/presence");
  assert.equal(parseTopic("lichen/f1/gw/in/n1"), { kind: "frame", fleet: "f1", to: "gw", from: "n1" });
  assert.equal(parseTopic("lichen/f1/n1/presence"), { kind: "presence", fleet: "f1", peer: "n1" });
  assert.ok(topicMatches(inboxFilter("f1", "gw"), inboxTopic("f1", "gw", "n1")));
  assert.ok(topicMatches(presenceFilter("f1"), presenceTopic("f1", "n1")));
  assert.not.ok(topicMatches(inboxFilter("f1", "gw"), inboxTopic("f1", "n2", "n1")));
  // ids are any printable string without the three MQTT separators
  const odd = "a4:cf:12:b3:c4:d5 é";
  assert.equal(parseTopic(inboxTopic("fleet.1", odd, "gw-1")), { kind: "frame", fleet: "fleet.1", to: odd, from: "gw-1" });
});

test("topics: bad ids are refused, foreign topics are not lichen's", () => {
  for (const bad of ["", "a/b", "a+", "#", "x".repeat(65), "tab\there", "nul\u0000", 42, undefined]) {
    assert.throws(() => checkTopicId(bad), /id/, `id ${JSON.stringify(bad)}`);
    assert.throws(() => inboxTopic("f", "gw", bad as string), /sender/);
    assert.throws(() => presenceTopic(bad as string, "n1"), /fleet/);
  }
  for (const t of ["lichen/f/gw/in", "lichen/f/gw/in/n1/x", "lichen/f/gw/out/n1", "lichen/f/+/in/n1", "lichen/f/gw/in/#", "other/f/gw/in/n1", "lichen//gw/in/n1", "lichen/f/presence", "lichen/f/n1/presence/x", ""]) {
    assert.is(parseTopic(t), undefined, t);
  }
});

test("presence: tiny ASCII JSON, round trip, bad payloads refused", () => {
  const p: Presence = { state: "online", role: "node", ts: 1718000000000, hb: 30000 };
  const bytes = encodePresence(p);
  assert.is(text(bytes), '{"state":"online","role":"node","ts":1718000000000,"hb":30000}');
  assert.ok(bytes.length < 80);
  assert.equal(decodePresence(bytes), p);
  assert.equal(decodePresence(encodePresence({ state: "offline", role: "gateway", ts: 0 })), { state: "offline", role: "gateway", ts: 0 });
  // unknown fields are ignored (a newer peer may say more)
  assert.equal(decodePresence(ascii('{"state":"offline","role":"gateway","ts":5,"fw":"1.2"}')), { state: "offline", role: "gateway", ts: 5 });
  for (const bad of ['{"state":"away","role":"node","ts":1}', '{"state":"online","role":"broker","ts":1}', '{"state":"online","role":"node"}', '{"state":"online","role":"node","ts":1,"hb":0}', '{"state":"online","role":"node","ts":1,"hb":1.5}', "[1,2]", "null", "online", "{", ""]) {
    assert.throws(() => decodePresence(ascii(bad)), (e: Error & { code?: string }) => e.code === "MALFORMED", bad);
  }
  assert.throws(() => decodePresence(Uint8Array.of(0x7b, 0xc3, 0xa9, 0x7d)), /ASCII/);
  assert.throws(() => decodePresence(new Uint8Array(300).fill(0x20)), /bytes/);
  assert.throws(() => encodePresence({ state: "on", role: "node", ts: 1 } as unknown as Presence), /state/);
});

test("the ACL: publish only as yourself, subscribe only to your inbox and to presence", () => {
  assert.ok(mayPublish("n1", "lichen/f/gw/in/n1"));
  assert.ok(mayPublish("n1", "lichen/f/n1/presence"));
  assert.not.ok(mayPublish("n1", "lichen/f/gw/in/n2"), "a frame as another sender");
  assert.not.ok(mayPublish("n1", "lichen/f/n1/in/n1"), "to itself");
  assert.not.ok(mayPublish("n1", "lichen/f/n2/presence"), "another's presence");
  assert.not.ok(mayPublish("n1", "lichen/f/gw/in/n1/extra"));
  assert.not.ok(mayPublish("n1", "somewhere/else"));
  assert.not.ok(mayPublish("n/1", "lichen/f/gw/in/n/1"));
  assert.ok(mayPublish("n1", "lichen/f/gw/in/n1", "f"));
  assert.not.ok(mayPublish("n1", "lichen/g/gw/in/n1", "f"), "another fleet");

  assert.ok(maySubscribe("n1", "lichen/f/n1/in/+"));
  assert.ok(maySubscribe("n1", "lichen/f/n1/in/gw"));
  assert.ok(maySubscribe("n1", "lichen/f/+/presence"));
  assert.ok(maySubscribe("n1", "lichen/f/gw/presence"));
  for (const f of ["lichen/f/n2/in/+", "lichen/f/+/in/+", "lichen/#", "#", "lichen/+/n1/in/+", "lichen/f/n1/in/#", "lichen/f/#", "lichen/f/n1/presence/+", "$SYS/#"]) {
    assert.not.ok(maySubscribe("n1", f), f);
  }
  assert.not.ok(maySubscribe("n1", "lichen/g/n1/in/+", "f"));
});

// ---- the shared peer logic over the in-memory broker ----

interface Rig {
  time: VirtualTime;
  broker: FakeBroker;
  logs: SyncLogEntry[];
  events: Array<[string, string, boolean]>;
  add(id: string, role: PeerRole, extra?: { gateways?: string[]; heartbeatMs?: number; forgetAfterMs?: number }): { peer: MqttPeer; client: FakeClient };
}

function rig(fleet = "f1"): Rig {
  const time = new VirtualTime();
  const broker = new FakeBroker(time, 2);
  const logs: SyncLogEntry[] = [];
  const events: Array<[string, string, boolean]> = [];
  return {
    time,
    broker,
    logs,
    events,
    add(id, role, extra = {}) {
      const client = broker.client(id);
      const peer = new MqttPeer({
        replica: id,
        role,
        fleet,
        kv: new MemoryKv(),
        scheduler: time,
        client,
        heartbeatMs: extra.heartbeatMs ?? 1000,
        gateways: extra.gateways,
        forgetAfterMs: extra.forgetAfterMs,
        antiEntropyMs: 5000,
        resendMs: 300,
        log: (e) => logs.push(e),
        onPresence: (p: string, s: PeerStatus) => events.push([id, p, s.online]),
      });
      client.will = peer.will();
      client.connect();
      return { peer, client };
    },
  };
}

const online = (p: MqttPeer): string[] => p.peers().filter((s) => s.online).map((s) => s.id);

test("peer: presence links a gateway to every peer and a node to gateways only; writes sync", () => {
  const r = rig();
  const gw = r.add("gw", "gateway");
  const n1 = r.add("n1", "node");
  const n2 = r.add("n2", "node");
  r.time.runUntil(100);
  assert.equal(online(gw.peer), ["n1", "n2"]);
  assert.equal(online(n1.peer), ["gw"], "a node keeps no entry for other nodes");
  assert.equal(online(n2.peer), ["gw"]);
  assert.is(r.broker.retained.size, 3, "three retained presences");
  assert.is(decodePresence(r.broker.retained.get("lichen/f1/n1/presence")!).state, "online");

  const m = n1.peer.engine.open("readings", "n1", LWWMap);
  m.set("t", 21.5);
  n1.peer.engine.changed("readings", "n1");
  r.time.runUntil(300);
  assert.equal((gw.peer.engine.get("readings/n1") as LWWMap | undefined)?.value(), { t: 21.5 });
  assert.ok(n1.peer.engine.inSync("gw"));
  // every frame went to lichen/f1/<peer>/in/<sender>, nothing was refused by the ACL
  assert.equal(r.broker.refused, []);
  assert.ok(r.broker.published.some((d) => d.topic === "lichen/f1/gw/in/n1"));
  assert.ok(r.broker.published.some((d) => d.topic === "lichen/f1/n1/in/gw"));
  assert.not.ok(r.broker.published.some((d) => d.topic.startsWith("lichen/f1/n2/in/n1")), "nodes never talk to each other");
});

test("peer: heartbeats are republished; a peer silent for 3 periods is offline, and back when heard", () => {
  const r = rig();
  const gw = r.add("gw", "gateway", { heartbeatMs: 1000 });
  const n1 = r.add("n1", "node", { heartbeatMs: 500 });
  r.time.runUntil(100);
  assert.equal(online(gw.peer), ["n1"]);
  const count = (): number => r.broker.published.filter((d) => d.topic === "lichen/f1/n1/presence").length;
  const before = count();
  r.time.runUntil(2100);
  assert.ok(count() >= before + 4, "n1 republishes its presence every 500 ms");
  assert.equal(online(gw.peer), ["n1"], "heard recently: online");
  // a half-open connection: nothing gets through, no will (the broker has not noticed)
  n1.client.frozen = true;
  const frozeAt = r.time.now();
  r.time.runUntil(frozeAt + 1400);
  assert.equal(online(gw.peer), ["n1"], "under 3 of its periods (1.5 s): still online");
  r.time.runUntil(frozeAt + 2600);
  assert.equal(online(gw.peer), [], "3 missed heartbeats: offline");
  assert.ok(r.events.some(([who, p, on]) => who === "gw" && p === "n1" && !on));
  // while it is offline, the gateway sends it nothing, not even its anti-entropy digests (every 5 s)
  const toN1 = (): number => r.broker.published.filter((d) => d.topic === "lichen/f1/n1/in/gw").length;
  const sent = toN1();
  r.time.runUntil(r.time.now() + 6000);
  assert.is(toN1(), sent);
  n1.client.frozen = false;
  r.time.runUntil(r.time.now() + 1100);
  assert.equal(online(gw.peer), ["n1"], "its next heartbeat brings it back");
});

test("peer: an abrupt disconnect publishes the last will at once; a clean close says offline", () => {
  const r = rig();
  const gw = r.add("gw", "gateway", { heartbeatMs: 10_000 });
  const n1 = r.add("n1", "node");
  const n2 = r.add("n2", "node");
  r.time.runUntil(100);
  assert.equal(online(gw.peer), ["n1", "n2"]);
  n1.client.drop();
  r.time.runUntil(120);
  assert.equal(online(gw.peer), ["n2"], "the will, long before 3 heartbeats");
  assert.is(decodePresence(r.broker.retained.get("lichen/f1/n1/presence")!).state, "offline", "retained offline");
  n2.peer.close();
  r.time.runUntil(140);
  assert.equal(online(gw.peer), []);
  assert.is(decodePresence(r.broker.retained.get("lichen/f1/n2/presence")!).state, "offline");
});

test("peer: after its own reconnect, a peer relinks from the retained presences and sync resumes", () => {
  const r = rig();
  const gw = r.add("gw", "gateway");
  const n1 = r.add("n1", "node");
  r.time.runUntil(100);
  const m = n1.peer.engine.open("readings", "n1", LWWMap);
  n1.client.drop(true);
  r.time.runUntil(110);
  assert.equal(online(n1.peer), [], "its session lost, a peer takes nobody for reachable");
  // written offline: never waits for the network
  m.set("t", 19);
  n1.peer.engine.changed("readings", "n1");
  r.time.runUntil(2000);
  assert.is(gw.peer.engine.get("readings/n1"), undefined);
  n1.client.connect();
  r.time.runUntil(2300);
  assert.equal(online(n1.peer), ["gw"]);
  assert.equal((gw.peer.engine.get("readings/n1") as LWWMap | undefined)?.value(), { t: 19 });
  assert.ok(n1.peer.engine.inSync("gw"));
});

test("peer: a will of our own older session is answered by presence online again", () => {
  const r = rig();
  const gw = r.add("gw", "gateway");
  r.add("n1", "node");
  r.time.runUntil(100);
  // a stale will of n1's (as a broker publishes on a session takeover) lands after n1's online
  r.broker.publish(undefined, "lichen/f1/n1/presence", encodePresence({ state: "offline", role: "node", ts: 0 }), true);
  r.time.runUntil(200);
  assert.is(decodePresence(r.broker.retained.get("lichen/f1/n1/presence")!).state, "online");
  assert.equal(online(gw.peer), ["n1"]);
});

test("peer: routing drops what is not ours; a frame is taken from its topic's sender only", () => {
  const r = rig();
  const gw = r.add("gw", "gateway");
  r.add("n1", "node");
  r.time.runUntil(100);
  const frame = encodeFrame({ kind: FrameKind.Digest, docs: [] });
  const dropped = gw.peer.stats.dropped;
  const inbound = gw.peer.stats.framesIn;
  gw.client.onMessage!("lichen/f2/gw/in/n1", frame); // another fleet
  gw.client.onMessage!("lichen/f1/n9/in/n1", frame); // not for us
  gw.client.onMessage!("lichen/f1/gw/in/stranger", frame); // no presence: not a peer
  gw.client.onMessage!("lichen/f1/gw/in/gw", frame); // ourselves
  gw.client.onMessage!("garbage", frame);
  gw.client.onMessage!("lichen/f1/n1/presence", ascii("not json"));
  assert.is(gw.peer.stats.dropped, dropped + 6);
  assert.is(gw.peer.stats.framesIn, inbound);
  gw.client.onMessage!("lichen/f1/gw/in/n1", frame);
  assert.is(gw.peer.stats.framesIn, inbound + 1);
});

test("peer: with a gateways list, a frame links its sender before its presence arrives", () => {
  const r = rig();
  const gw = r.add("gw", "gateway", { gateways: ["gw"] });
  const n1 = r.add("n1", "node", { gateways: ["gw"] });
  r.time.runUntil(100);
  // as if the broker had lost both presences (aedes can drop a retained message that a later one overtook)
  gw.client.onMessage!("lichen/f1/gw/in/n5", encodeFrame({ kind: FrameKind.Digest, docs: [] }));
  assert.equal(gw.peer.peers().find((s) => s.id === "n5"), { id: "n5", role: "node", online: true, lastHeard: 100, heartbeatMs: 1000 }, "a node, as it is not listed");
  n1.client.onMessage!("lichen/f1/n1/in/stranger", encodeFrame({ kind: FrameKind.Digest, docs: [] }));
  assert.is(n1.peer.peers().find((s) => s.id === "stranger"), undefined, "a node takes frames from listed gateways only");
  // silent for 3 periods, it goes offline like any peer
  r.time.runUntil(3000);
  assert.is(gw.peer.peers().find((s) => s.id === "n5")?.online, true);
  r.time.runUntil(4200);
  assert.is(gw.peer.peers().find((s) => s.id === "n5")?.online, false);
});

test("peer: with a gateways list, a node's claim to be a gateway earns it nothing", () => {
  const r = rig();
  const gw = r.add("gw", "gateway", { gateways: ["gw"] });
  const n1 = r.add("n1", "node", { gateways: ["gw"] });
  // a rogue node announcing itself as a gateway
  const rogue = r.add("rogue", "gateway", { gateways: ["gw"] });
  r.time.runUntil(100);
  assert.equal(online(n1.peer), ["gw"], "n1 subscribes to gw's presence only and ignores the rogue");
  assert.ok([...r.broker.clients].find((c) => c.id === "n1")!.subs.has("lichen/f1/gw/presence"));
  assert.not.ok([...r.broker.clients].find((c) => c.id === "n1")!.subs.has("lichen/f1/+/presence"));
  assert.equal(gw.peer.peers().find((s) => s.id === "rogue")?.role, "node", "the gateway takes it for a node");
  // so the origin rule applies to it: events of n1 from the rogue, in its own document, are refused and logged
  const forged = new LWWMap("n1");
  forged.set("t", -40);
  const doc = rogue.peer.engine.open("readings", "rogue", LWWMap);
  doc.applyDelta(forged.delta());
  rogue.peer.engine.changed("readings", "rogue");
  r.time.runUntil(400);
  assert.is(gw.peer.engine.get("readings/rogue"), undefined, "nothing applied");
  assert.ok(r.logs.some((l) => l.event === "forged" && l.peer === "rogue"), "logged as forged");
  void rogue;
});

test("peer: a gateway forgets a node offline for forgetAfterMs (what it stored stays), and syncs with it again when it is back", () => {
  const known = (p: MqttPeer): string[] => p.peers().map((s) => s.id);
  for (const forgetAfterMs of [5000, 0]) {
    const r = rig();
    const gw = r.add("gw", "gateway", { forgetAfterMs });
    const n1 = r.add("n1", "node");
    r.add("n2", "node");
    r.time.runUntil(100);
    const m = n1.peer.engine.open("readings", "n1", LWWMap);
    m.set("t", 1);
    n1.peer.engine.changed("readings", "n1");
    r.time.runUntil(400);
    assert.equal((gw.peer.engine.get("readings/n1") as LWWMap | undefined)?.value(), { t: 1 });
    assert.is(gw.peer.engine.peerCount, 2);
    n1.client.drop();
    r.time.runUntil(4000);
    assert.equal(known(gw.peer), ["n1", "n2"], "offline for less than forgetAfterMs: still known");
    assert.equal(online(gw.peer), ["n2"]);
    r.time.runUntil(7000);
    if (forgetAfterMs === 0) {
      assert.equal(known(gw.peer), ["n1", "n2"], "forgetAfterMs 0: never forgotten");
      assert.is(gw.peer.engine.peerCount, 2);
      continue;
    }
    assert.equal(known(gw.peer), ["n2"], "offline for over forgetAfterMs: forgotten");
    assert.is(gw.peer.engine.peerCount, 1, "and its state in the engine; the node online is kept");
    assert.equal((gw.peer.engine.get("readings/n1") as LWWMap | undefined)?.value(), { t: 1 }, "what it stored is kept");
    assert.not.ok(gw.peer.engine.forget("n2"), "a peer online is not forgotten");
    // a change of a document the forgotten node wanted reaches nobody, and breaks nothing
    (gw.peer.engine.get("readings/n1") as LWWMap).set("by", 7);
    gw.peer.engine.changed("readings", "n1");
    r.time.runUntil(7100);
    // back, with a write made while away: a new peer to the gateway, synced by the digest exchange
    m.set("t", 2);
    n1.peer.engine.changed("readings", "n1");
    n1.client.connect();
    r.time.runUntil(9000);
    assert.equal(online(gw.peer), ["n1", "n2"]);
    assert.equal((gw.peer.engine.get("readings/n1") as LWWMap | undefined)?.value(), { by: 7, t: 2 });
    assert.equal(m.value(), { by: 7, t: 2 }, "the node gets what changed while it was forgotten");
    assert.ok(n1.peer.engine.inSync("gw"));
  }
});

test("peer: options are checked", () => {
  const time = new VirtualTime();
  const broker = new FakeBroker(time);
  const base = { replica: "n1", role: "node" as const, fleet: "f", kv: new MemoryKv(), scheduler: time, client: broker.client("n1") };
  assert.throws(() => new MqttPeer({ ...base, fleet: "a/b" }), /fleet/);
  assert.throws(() => new MqttPeer({ ...base, replica: "n+1" }), /replica/);
  assert.throws(() => new MqttPeer({ ...base, qos: 2 as 0 }), /qos/);
  assert.throws(() => new MqttPeer({ ...base, heartbeatMs: 0 }), /heartbeat/);
  assert.throws(() => new MqttPeer({ ...base, forgetAfterMs: -1 }), /forgetAfterMs/);
  assert.throws(() => new MqttPeer({ ...base, gateways: ["g#"] }), /gateway/);
});

test.run();
