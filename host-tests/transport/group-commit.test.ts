// Group commit: a gateway stores the deltas that arrive together in one batch and acknowledges
// none before that batch has returned; a crash in the middle of a group loses no delta it
// acknowledged. And the batch tells the store only the keys each delta changed.
import { parseStateKey, stateKey } from "../../src/store/keys.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Hlc, LWWMap, VersionVector } from "../../src/index.js";
import { type EntityView, type KvOp, type KvStore, MemoryKv } from "../../src/store/kv.js";
import { StateStore } from "../../src/store/state-store.js";
import { decodeFrame, versionHash } from "../../src/transport/frames.js";
import { SyncEngine } from "../../src/transport/sync-engine.js";
import { LoopTime } from "../../sim/network/loop-time.js";
import { loadCrdt } from "../../src/core/registry.js";

const BASE = Date.UTC(2025, 0, 1);

/** Everything that happens, in order: batches written and frames sent. */
type Event = { what: "batch"; puts: string[]; views: EntityView[]; stored: Map<string, VersionVector> } | { what: "send"; from: string; to: string; kind: number; doc?: string; version?: VersionVector };

interface Rig {
  loop: LoopTime;
  events: Event[];
  /** The gateway's storage, under the recording wrapper. */
  disk: MemoryKv;
  gateway: SyncEngine;
  nodes: Map<string, { engine: SyncEngine; map: LWWMap<number> }>;
  /** Frames to the gateway, not yet delivered. */
  toGateway: Array<[string, Uint8Array]>;
  toNodes: Array<[string, Uint8Array]>;
  /** The next batch throws (a power cut in the middle of a group). */
  failNext: boolean;
  startGateway(): SyncEngine;
}

function record(events: Event[], from: string, to: string, bytes: Uint8Array): void {
  const f = decodeFrame(bytes, 1 << 20, { ids: [from, to], maxExpandedBytes: 1 << 20 });
  if (f.kind !== 7) {
    events.push({ what: "send", from, to, kind: f.kind });
    return;
  }
  // An APPLIED names the version it acknowledges by its hash: the version of the document that a
  // batch recorded before it stored. None: the acknowledgement covers nothing stored, and a version
  // nothing dominates makes the checks below fail. Recorded as kind 4, an acknowledgement.
  let version: VersionVector | undefined;
  for (let i = events.length - 1; i >= 0 && version === undefined; i--) {
    const e = events[i]!;
    if (e.what !== "batch") continue;
    const v = e.stored.get(f.doc);
    if (v !== undefined && versionHash(v) === f.hash) version = v.clone();
  }
  events.push({ what: "send", from, to, kind: 4, doc: f.doc, version: version ?? new VersionVector().set("(nothing stored)", 1) });
}

function rig(nodeCount: number, groupCommit: number): Rig {
  const loop = new LoopTime(BASE);
  const events: Event[] = [];
  const disk = new MemoryKv();
  const toGateway: Array<[string, Uint8Array]> = [];
  const toNodes: Array<[string, Uint8Array]> = [];
  const r: Rig = {
    loop,
    events,
    disk,
    gateway: undefined as unknown as SyncEngine,
    nodes: new Map(),
    toGateway,
    toNodes,
    failNext: false,
    startGateway: () => {
      const kv: KvStore = {
        keepsViews: true,
        get: (k) => disk.get(k),
        keys: (p) => disk.keys(p),
        put: (k, v) => disk.put(k, v),
        delete: (k) => disk.delete(k),
        batch: (ops: readonly KvOp[], views?: readonly EntityView[]) => {
          if (r.failNext) {
            r.failNext = false;
            throw new Error("power cut");
          }
          disk.batch(ops, views);
          const puts = ops.filter((o) => o.type === "put").map((o) => o.key);
          // what the disk holds of each document now, for the ACKs that follow
          const versions = new Map(puts.filter((k) => parseStateKey(k) !== undefined).map((k) => [parseStateKey(k)!.join("/"), stored(disk, parseStateKey(k)!.join("/"))!] as const));
          events.push({ what: "batch", puts, views: [...(views ?? [])], stored: versions });
        },
        close: () => {},
      };
      r.gateway = new SyncEngine({
        replica: "gw",
        role: "gateway",
        kv,
        scheduler: loop,
        clock: new Hlc({ wallClock: () => loop.t }),
        groupCommit,
        antiEntropyMs: 7 * 24 * 3600_000,
        send: (to, bytes) => {
          record(events, "gw", to, bytes);
          toNodes.push([to, bytes]);
        },
      });
      return r.gateway;
    },
  };
  r.startGateway();
  for (let i = 0; i < nodeCount; i++) {
    const id = `n${i}`;
    const engine = new SyncEngine({
      replica: id,
      role: "node",
      kv: new MemoryKv(),
      scheduler: loop,
      clock: new Hlc({ wallClock: () => loop.t }),
      antiEntropyMs: 7 * 24 * 3600_000,
      send: (_to, bytes) => toGateway.push([id, bytes]),
    });
    r.nodes.set(id, { engine, map: engine.open("readings", id, LWWMap<number>) });
  }
  return r;
}

/** Delivers the frames to the gateway (one "read" of the socket), without turning the loop. */
function deliverToGateway(r: Rig): void {
  for (const [from, bytes] of r.toGateway.splice(0)) r.gateway.receive(from, bytes);
}

function deliverToNodes(r: Rig): void {
  for (const [to, bytes] of r.toNodes.splice(0)) r.nodes.get(to)?.engine.receive("gw", bytes);
}

function settle(r: Rig): void {
  for (let i = 0; i < 50 && (r.toGateway.length > 0 || r.toNodes.length > 0); i++) {
    deliverToGateway(r);
    r.loop.turn();
    deliverToNodes(r);
  }
}

function connectAll(r: Rig): void {
  for (const [id, n] of r.nodes) {
    r.gateway.connect(id, "node");
    n.engine.connect("gw", "gateway");
  }
  settle(r);
}

/** The version the gateway has on disk of a document. */
function stored(disk: MemoryKv, doc: string): VersionVector | undefined {
  const slash = doc.indexOf("/");
  return new StateStore(disk).load(doc.slice(0, slash), doc.slice(slash + 1), (b) => loadCrdt(b, "probe"))?.version();
}

function writeAll(r: Rig, key: string, value: number): void {
  r.loop.t += 1000;
  for (const [id, n] of r.nodes) {
    n.map.set(key, value);
    n.engine.changed("readings", id);
  }
}

test("a group's deltas are stored in one batch, and its ACKs are sent only after that batch", () => {
  const r = rig(5, 100);
  connectAll(r);
  writeAll(r, "temp", 21);
  const from = r.events.length;
  deliverToGateway(r);
  const during = r.events.slice(from);
  assert.equal(during.filter((e) => e.what === "send").length, 0, "nothing sent while the group is open");
  assert.equal(during.filter((e) => e.what === "batch").length, 0, "and nothing stored yet");
  r.loop.turn(); // the event loop turns: the group commits
  const after = r.events.slice(from);
  const batches = after.filter((e) => e.what === "batch");
  assert.is(batches.length, 1, "one batch for the group");
  assert.equal((batches[0] as { puts: string[] }).puts.sort(), [...r.nodes.keys()].map((id) => stateKey("readings", id)).sort(), "holding every state the group touched");
  const acks = after.filter((e) => e.what === "send" && e.kind === 4);
  assert.is(acks.length, 5, "an ACK per delta");
  assert.ok(after.indexOf(batches[0]!) < after.indexOf(acks[0]!), "every ACK after the batch");
  deliverToNodes(r);
  for (const [id, n] of r.nodes) assert.ok(n.engine.inSync("gw"), `${id} in sync`);
});

test("a full group commits at once; the rest waits for the loop", () => {
  const r = rig(5, 2);
  connectAll(r);
  writeAll(r, "hum", 40);
  const from = r.events.length;
  deliverToGateway(r);
  const open = r.events.slice(from);
  assert.is(open.filter((e) => e.what === "batch").length, 2, "two full groups of 2 stored");
  assert.is(open.filter((e) => e.what === "send" && e.kind === 4).length, 4, "and their 4 ACKs sent");
  r.loop.turn();
  const all = r.events.slice(from);
  assert.is(all.filter((e) => e.what === "batch").length, 3, "the fifth delta in a third batch");
  assert.is(all.filter((e) => e.what === "send" && e.kind === 4).length, 5);
});

test("every ACK covers only what is stored when it is sent", () => {
  const r = rig(8, 3);
  connectAll(r);
  for (let round = 0; round < 4; round++) {
    writeAll(r, `k${round % 2}`, round);
    settle(r);
  }
  let acks = 0;
  // replay the trace: what the disk held of each document at each ACK (as read after each batch)
  const seen = new Map<string, VersionVector>();
  for (const e of r.events) {
    if (e.what === "batch") for (const [doc, v] of e.stored) seen.set(doc, v);
    if (e.what === "send" && e.kind === 4) {
      acks++;
      const have = seen.get(e.doc!);
      assert.ok(have !== undefined && have.dominates(e.version!), `ACK of ${e.doc} at ${JSON.stringify(e.version)} after a batch storing it`);
    }
  }
  assert.is(acks, 8 * 4);
});

test("a crash in the middle of a group loses no acknowledged delta; the nodes resend the rest", () => {
  const r = rig(4, 100);
  connectAll(r);
  writeAll(r, "temp", 1);
  settle(r); // group 1: stored and acknowledged
  const acked = new Map<string, VersionVector>();
  const collect = (): void => {
    for (const e of r.events) if (e.what === "send" && e.kind === 4) acked.set(e.doc!, (acked.get(e.doc!) ?? new VersionVector()).merge(e.version!));
  };
  collect();
  assert.is(acked.size, 4);
  writeAll(r, "temp", 2);
  deliverToGateway(r);
  const before = r.events.length;
  r.failNext = true; // the power goes while the group's batch is written
  assert.throws(() => r.loop.turn(), /power cut/);
  assert.is(r.events.slice(before).filter((e) => e.what === "send").length, 0, "nothing of the group acknowledged");
  collect();
  for (const [doc, v] of acked) assert.ok(stored(r.disk, doc)!.dominates(v), `${doc}: everything acknowledged is on disk`);
  // restart on the same disk: the nodes' deltas were never acknowledged, so they come again
  r.toNodes.length = 0;
  r.startGateway();
  for (const [doc, v] of acked) assert.ok(r.gateway.get(doc)!.version().dominates(v), `${doc}: the restarted gateway holds what it acknowledged`);
  for (const [id, n] of r.nodes) {
    n.engine.disconnect("gw");
    r.gateway.connect(id, "node");
    n.engine.connect("gw", "gateway");
  }
  settle(r);
  for (const [id, n] of r.nodes) {
    assert.ok(r.gateway.get(`readings/${id}`)?.equals(n.map), `${id}: the gateway has the write it lost`);
    assert.ok(n.engine.inSync("gw"), `${id}: acknowledged`);
  }
});

test("the batch tells the store only the keys a delta changed; a new key, the whole value", () => {
  const r = rig(1, 10);
  connectAll(r);
  const n = r.nodes.get("n0")!;
  n.map.set("temp", 20);
  n.map.set("hum", 40);
  n.engine.changed("readings", "n0");
  settle(r);
  const from = r.events.length;
  n.map.set("temp", 21);
  n.engine.changed("readings", "n0");
  settle(r);
  const views = r.events.slice(from).flatMap((e) => (e.what === "batch" ? e.views : []));
  assert.is(views.length, 1);
  assert.equal(views[0]!.fields, [["temp", 21]], "the changed key alone, with its new value");
  assert.equal(views[0]!.wholeValue?.(), { hum: 40, temp: 21 }, "the whole value only on demand");
  const from2 = r.events.length;
  n.map.set("battery", 3.3);
  n.map.delete("hum");
  n.engine.changed("readings", "n0");
  settle(r);
  const views2 = r.events.slice(from2).flatMap((e) => (e.what === "batch" ? e.views : []));
  assert.equal(views2.map((v) => [v.fields, v.value]), [[undefined, { battery: 3.3, temp: 21 }]], "a key the value did not have: the whole value");
  const from3 = r.events.length;
  n.map.delete("battery");
  n.engine.changed("readings", "n0");
  settle(r);
  const views3 = r.events.slice(from3).flatMap((e) => (e.what === "batch" ? e.views : []));
  assert.equal(views3[0]!.fields, [["battery", undefined]], "a removed key: undefined");
});

test("logApplied gets the keys a delta changed, on a store that keeps no views and with no onApplied", () => {
  const loop = new LoopTime(BASE);
  const toGateway: Array<[string, Uint8Array]> = [];
  const toNode: Uint8Array[] = [];
  const logged: Array<readonly string[] | undefined> = [];
  const common = { scheduler: loop, clock: new Hlc({ wallClock: () => loop.t }), antiEntropyMs: 7 * 24 * 3600_000 };
  const gateway = new SyncEngine({
    ...common,
    replica: "gw",
    role: "gateway",
    kv: new MemoryKv(),
    send: (_to, bytes) => toNode.push(bytes),
    logApplied: (_peer, _doc, _delta, keys) => {
      logged.push(keys);
      return [];
    },
  });
  const node = new SyncEngine({ ...common, replica: "n0", role: "node", kv: new MemoryKv(), send: (_to, bytes) => toGateway.push(["n0", bytes]) });
  const map = node.open("readings", "n0", LWWMap<number>);
  gateway.connect("n0", "node");
  node.connect("gw", "gateway");
  const settleBoth = (): void => {
    for (let i = 0; i < 50 && (toGateway.length > 0 || toNode.length > 0); i++) {
      for (const [from, bytes] of toGateway.splice(0)) gateway.receive(from, bytes);
      loop.turn();
      for (const bytes of toNode.splice(0)) node.receive("gw", bytes);
    }
  };
  map.set("temp", 20);
  map.set("hum", 40);
  node.changed("readings", "n0");
  settleBoth();
  logged.length = 0;
  map.set("temp", 21);
  node.changed("readings", "n0");
  settleBoth();
  assert.equal(logged, [["temp"]]);
});

test.run();
