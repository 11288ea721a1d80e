// Typed documents over the air: the firmware's documents at version 1 (targets/esp32/documents.ts,
// generated from documents.toml) against version 2 (documents-v2/, generated from the same
// schema with a key added to Readings and to FleetConfig). A node on v1 and a gateway on v2 keep
// syncing, and so do a node on v2 and a gateway on v1: each reads the other's data through its own
// generated code, and the schema version travels in every delta's header. Runs under Node and XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError, LWWMap, MemoryKv, type Value } from "../../src/index.js";
import { decodeFrame, encodeFrame } from "../../src/transport/frames.js";
import { SyncEngine, type DocumentSchema, type Scheduler } from "../../src/transport/sync-engine.js";
import * as v1 from "../../targets/esp32/documents.js";
import * as v2 from "./documents-v2/documents.js";

/** Time stands still; timers are kept but never fire: frames go only when pumped. */
const still: Scheduler = { now: () => 1_700_000_000_000, setTimer: () => () => {} };

interface Pair {
  readonly node: SyncEngine;
  readonly gw: SyncEngine;
  /** Delivers every frame in flight, both ways, until none is left. */
  pump(): void;
  /** Frames sent, as decoded, by sender. */
  readonly sent: Array<{ from: string; frame: ReturnType<typeof decodeFrame> }>;
}

function pair(nodeDocs: readonly DocumentSchema[], gwDocs: readonly DocumentSchema[]): Pair {
  const queue: Array<[from: string, to: string, bytes: Uint8Array]> = [];
  const sent: Pair["sent"] = [];
  const engines = new Map<string, SyncEngine>();
  const make = (replica: string, role: "node" | "gateway", documents: readonly DocumentSchema[]): SyncEngine => {
    const e = new SyncEngine({
      replica,
      role,
      kv: new MemoryKv(),
      scheduler: still,
      documents,
      send: (peer, frame) => {
        queue.push([replica, peer, frame]);
        // read as the receiver reads it: a delta relative to its version (format 3) against its state now
        const prefixOf = (doc: string): number => engines.get(peer)?.get(doc)?.version().get(replica) ?? 0;
        sent.push({ from: replica, frame: decodeFrame(frame, 1 << 20, { ids: [replica, peer], maxExpandedBytes: 1 << 20, prefixOf }) });
      },
    });
    engines.set(replica, e);
    return e;
  };
  const gw = make("gw", "gateway", gwDocs);
  const node = make("n1", "node", nodeDocs);
  node.connect("gw", "gateway");
  gw.connect("n1", "node");
  const pump = (): void => {
    for (let i = 0; queue.length > 0; i++) {
      if (i > 10_000) throw new Error("the pair never went quiet");
      const [from, to, bytes] = queue.shift()!;
      engines.get(to)!.receive(from, bytes);
    }
  };
  pump();
  return { node, gw, pump, sent };
}

const asMap = (e: SyncEngine, doc: string): LWWMap<Value> => e.get(doc) as LWWMap<Value>;

test("a node on v1 and a gateway on v2: each reads the other's documents through its own schema", () => {
  const { node, gw, pump, sent } = pair(v1.documentSchemas, v2.documentSchemas);
  v1.openFleetConfig(node, "config"); // as the firmware does: a node holds the documents it opens
  // the v1 firmware samples
  const readings = v1.openReadings(node, "n1");
  readings.set("temperature", 21.5);
  node.changed("readings", "n1");
  const events = v1.openEvents(node, "n1");
  events.increment();
  node.changed("events", "n1");
  pump();
  const deltas = sent.filter((s) => s.from === "n1" && s.frame.kind === 3).map((s) => s.frame);
  assert.equal(deltas.map((f) => (f.kind === 3 ? [f.doc, f.schema] : [])), [
    ["readings/n1", { name: "Readings", version: 1 }],
    ["events/n1", { name: "Events", version: 1 }],
  ]);
  // the v2 gateway: the v1 document carries version 1, read as v2 through the migration
  assert.equal(gw.schemaOf("readings/n1"), { name: "Readings", version: 1 });
  assert.equal(v2.readReadings(asMap(gw, "readings/n1")), { temperature: 21.5, battery: -1 });
  assert.is(gw.get("events/n1")!.value(), 1);

  // the v2 gateway writes the fleet's settings, a key of v2 among them
  const cfg = v2.openFleetConfig(gw, "config");
  cfg.set("interval", 5000);
  cfg.set("reportEvery", 3);
  gw.changed("fleet", "config");
  pump();
  // the v1 node holds the whole document (the v2 key too), knows it was written by v2, and reads it as v1
  assert.equal(node.schemaOf("fleet/config"), { name: "FleetConfig", version: 2 });
  assert.equal(v1.readFleetConfig(asMap(node, "fleet/config")), { interval: 5000 });
  assert.is(asMap(node, "fleet/config").get("reportEvery"), 3);
  assert.ok(node.get("fleet/config")!.equals(gw.get("fleet/config")!), "the same state on both");

  // and they keep syncing: the v1 node's next sample reaches the gateway
  readings.set("humidity", 40);
  node.changed("readings", "n1");
  pump();
  assert.equal(v2.readReadings(asMap(gw, "readings/n1")), { temperature: 21.5, humidity: 40, battery: -1 });
  assert.ok(node.inSync("gw"));
});

test("a node on v2 and a gateway on v1: the same, the other way", () => {
  const { node, gw, pump } = pair(v2.documentSchemas, v1.documentSchemas);
  v2.openFleetConfig(node, "config");
  const readings = v2.openReadings(node, "n1");
  readings.set("temperature", 19);
  readings.set("battery", 80);
  node.changed("readings", "n1");
  const alarms = v2.openAlarms(node, "n1");
  alarms.add("temperature:high");
  node.changed("alarms", "n1");
  pump();
  // the v1 gateway holds the v2 key, knows the document is of version 2, and reads it as v1
  assert.equal(gw.schemaOf("readings/n1"), { name: "Readings", version: 2 });
  assert.equal(v1.readReadings(asMap(gw, "readings/n1")), { temperature: 19 });
  assert.is(asMap(gw, "readings/n1").get("battery"), 80);
  assert.equal(gw.get("alarms/n1")!.value(), ["temperature:high"]);

  // the v1 gateway's settings, read by the v2 node through the migration v1 → v2
  const cfg = v1.openFleetConfig(gw, "config");
  cfg.set("interval", 2000);
  cfg.set("threshold.temperature", 25);
  gw.changed("fleet", "config");
  pump();
  assert.equal(node.schemaOf("fleet/config"), { name: "FleetConfig", version: 1 });
  assert.equal(v2.readFleetConfig(asMap(node, "fleet/config")), { interval: 2000, thresholdTemperature: 25, reportEvery: 1 });

  // the v1 gateway relays the v2 header it learned: another gateway sees version 2
  const relayed = encodeFrame({ kind: 3, doc: "readings/n1", type: gw.get("readings/n1")!.typeTag, delta: gw.get("readings/n1")!.delta(), schema: gw.schemaOf("readings/n1")! });
  const f = decodeFrame(relayed);
  assert.equal(f.kind === 3 ? f.schema : undefined, { name: "Readings", version: 2 });
  assert.ok(node.inSync("gw"));
});

test("the header is stored with the document: a restarted replica still knows it; written only when it changes", () => {
  const kv = new MemoryKv();
  let puts = 0;
  const counting = new Proxy(kv, {
    get(target, prop) {
      if (prop === "put") return (k: string, v: Uint8Array) => (k.startsWith("h/") && puts++, target.put(k, v));
      const x = Reflect.get(target, prop) as unknown;
      return typeof x === "function" ? x.bind(target) : x;
    },
  });
  const open = (docs: readonly DocumentSchema[]) => new SyncEngine({ replica: "n1", role: "node", kv: counting, scheduler: still, send: () => {}, documents: docs });
  const a = open(v1.documentSchemas);
  const r = v1.openReadings(a, "n1");
  for (let i = 0; i < 5; i++) {
    r.set("temperature", i);
    a.changed("readings", "n1");
  }
  assert.is(puts, 1, "one header write for five changes");
  a.close();
  const b = open(v2.documentSchemas);
  assert.equal(b.schemaOf("readings/n1"), { name: "Readings", version: 1 }, "restored from the store");
  v2.openReadings(b, "n1").set("battery", 50);
  b.changed("readings", "n1");
  assert.equal(b.schemaOf("readings/n1"), { name: "Readings", version: 2 }, "a v2 write raises it");
  assert.is(puts, 2);
  b.close();
  // an unreadable header reads as none; the document itself is intact
  kv.put("h/readings/n1", Uint8Array.of(0xff));
  const c = open(v1.documentSchemas);
  assert.is(c.schemaOf("readings/n1"), undefined);
  assert.equal(v1.readReadings(c.get("readings/n1") as LWWMap<Value>), { temperature: 4 });
  c.close();
});

test("the header in the wire format: optional, bounded; another schema under a namespace is refused", () => {
  const untyped = encodeFrame({ kind: 3, doc: "readings/n1", type: 1, delta: Uint8Array.of(1, 2) });
  const typed = encodeFrame({ kind: 3, doc: "readings/n1", type: 1, delta: Uint8Array.of(1, 2), schema: { name: "Readings", version: 7 } });
  assert.equal(decodeFrame(untyped), { kind: 3, doc: "readings/n1", type: 1, delta: Uint8Array.of(1, 2) }, "a DELTA of an earlier lichen still decodes");
  assert.equal(decodeFrame(typed), { kind: 3, doc: "readings/n1", type: 1, delta: Uint8Array.of(1, 2), schema: { name: "Readings", version: 7 } });
  assert.is(typed.length - untyped.length, 11, "the header costs 11 bytes");
  for (const schema of [{ name: "", version: 1 }, { name: "Readings", version: 0 }, { name: "Readings", version: 65536 }]) {
    const bad = encodeFrame({ kind: 3, doc: "readings/n1", type: 1, delta: Uint8Array.of(1), schema });
    assert.throws(() => decodeFrame(bad), (e: unknown) => e instanceof LichenError && e.code === "MALFORMED", JSON.stringify(schema));
  }

  // a node whose readings are of another schema: refused, nothing applied, the sender told
  const { node, gw, pump, sent } = pair([{ namespace: "readings", name: "Weather", version: 1 }], v1.documentSchemas);
  const m = node.open("readings", "n1", LWWMap) as LWWMap<number>;
  m.set("temperature", 30);
  node.changed("readings", "n1");
  pump();
  assert.is(gw.get("readings/n1"), undefined, "nothing applied");
  const err = sent.find((s) => s.from === "gw" && s.frame.kind === 6);
  assert.ok(err !== undefined && err.frame.kind === 6 && err.frame.code === "refused" && err.frame.message.includes("is a Weather"), JSON.stringify(err?.frame));

  // an untyped peer (no header) is read as before
  const plain = pair([], v1.documentSchemas);
  const r = plain.node.open("readings", "n1", LWWMap) as LWWMap<number>;
  r.set("temperature", 12);
  plain.node.changed("readings", "n1");
  plain.pump();
  assert.is(plain.gw.schemaOf("readings/n1"), undefined);
  assert.equal(v1.readReadings(asMap(plain.gw, "readings/n1")), { temperature: 12 });

  assert.throws(() => new SyncEngine({ replica: "x", role: "node", kv: new MemoryKv(), scheduler: still, send: () => {}, documents: [v1.readingsSchema, { ...v1.readingsSchema, name: "Other" }] }), /two document schemas/);
});

test.run();
