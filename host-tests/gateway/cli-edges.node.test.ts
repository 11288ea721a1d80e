// The CLI's edges, each with the behaviour it must have:
// - a damaged row (a state, an event, a snapshot that does not decode) is reported and skipped:
//   export, status, inspect and compact do the rest, print a count, and exit 3; never an abort;
// - export --namespace of nothing is an error, as compact's is; --last without --events too;
// - generate --out <a file> is a clear error; the docs' TOML example generates as written;
// - `lichen gateway` that fails on a busy port leaves no database behind;
// - the docs name one database file;
// - --ha-discovery needs --broker; the discovery messages reach a broker Home Assistant reads.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/core/maps.js";
import { encodeCbor } from "../../src/core/codec.js";
import { eventPrefix, snapshotKey, stateKey } from "../../src/store/keys.js";
import { openGatewayDb } from "../../targets/rpi/gateway-db.js";
import { defaults } from "../../targets/rpi/gateway-config.js";
import { startGateway } from "../../targets/rpi/gateway-daemon.js";
import { startAppNode } from "../../sim/esp32/app-node.js";
import { assertCleanError, freePort, lichen, PATIENCE_MS, ROOT, waitFor, within } from "./helpers.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-cli-edges-"));
test.after(() => rmSync(DIR, { recursive: true, force: true }));

/** A database: three readings, each logged; then one state, one event and the snapshot of `counters` damaged. */
function damagedDb(): string {
  const path = join(DIR, `damaged-${Math.random().toString(36).slice(2)}.db`);
  const db = openGatewayDb(path, { create: true });
  for (const id of ["n1", "n2", "n3"]) {
    const m = new LWWMap(id);
    m.set("temp", 20);
    db.states.save("readings", id, m);
    db.recordApplied(id, `readings/${id}`, m.delta(), 1);
  }
  const c = new LWWMap("gw");
  c.set("x", 1);
  db.states.save("counters", "c1", c);
  db.recordApplied("gw", "counters/c1", c.delta(), 1);
  db.recordApplied("gw", "counters/c1", c.delta(), 2);
  db.compact("counters", { threshold: 0 });
  db.recordApplied("gw", "counters/c1", c.delta(), 3);
  // the damage
  db.kv.put(stateKey("readings", "n2"), new Uint8Array([0xff, 0x00, 0x13]));
  db.kv.put(db.kv.keys(eventPrefix("readings"))[1]!, encodeCbor(["not", "an", "event"]));
  db.kv.put(snapshotKey("counters"), new Uint8Array([0x01, 0x02]));
  db.close();
  return path;
}

test("damaged rows: export, status, inspect, compact do the rest, count them, exit 3", async () => {
  const path = damagedDb();
  const exp = await lichen(["export", path, "--format", "json"]);
  assert.is(exp.code, 3, exp.stderr);
  const rows = JSON.parse(exp.stdout) as Array<{ namespace: string; id: string }>;
  assert.equal(rows.filter((r) => r.namespace === "readings").map((r) => r.id), ["n1", "n3"], "the others exported");
  assert.match(exp.stderr, /^lichen: export: 3 entities exported: 1 damaged, skipped \(readings\/n2: .*\)$/m);

  const st = await lichen(["status", path]);
  assert.is(st.code, 3, st.stderr);
  assert.match(st.stdout, /readings\s+3 entities\s+.*unreadable: 1/);
  assert.match(st.stdout, /counters\s+.*DAMAGED: the snapshot of log counters is unreadable/);
  assert.match(st.stderr, /2 damaged, skipped \(state readings\/n2: unreadable; log counters: /);

  const ins = await lichen(["inspect", path, "readings/n1", "--events"]);
  assert.is(ins.code, 3, ins.stderr);
  assert.match(ins.stdout, /value\s+\{"temp":20\}/);
  assert.match(ins.stdout, /1 event of the log unreadable/);
  const insSnap = await lichen(["inspect", path, "counters/c1", "--events"]);
  assert.is(insSnap.code, 3, insSnap.stderr);
  assert.match(insSnap.stdout, /value\s+\{"x":1\}/, "the value is shown");
  assert.match(insSnap.stdout, /DAMAGED: the snapshot of log counters is unreadable/);

  const cmp = await lichen(["compact", path, "--threshold", "0"]);
  assert.is(cmp.code, 3, cmp.stderr);
  assert.match(cmp.stderr, /compact: 2 logs not compacted, 0 done: 2 damaged, skipped \(counters: .*; readings: .*readings\/n2.*\)/);
});

test("export --namespace of nothing, --last without --events: errors", async () => {
  const db = openGatewayDb(join(DIR, "ok.db"), { create: true });
  const m = new LWWMap("n1");
  m.set("temp", 1);
  db.states.save("readings", "n1", m);
  db.close();
  const [nope, last] = await Promise.all([lichen(["export", join(DIR, "ok.db"), "--namespace", "nope"]), lichen(["inspect", join(DIR, "ok.db"), "readings/n1", "--last", "3"])]);
  assertCleanError(nope, /no namespace or CrdtDb type nope in .*\(there are: readings\)/, "export --namespace nope", 1);
  assertCleanError(last, /--last lists the last events: give --events too/, "--last without --events", 2);
});

test("generate --out <a file>: a clear error; the TOML example of docs/schema.md generates as written", async () => {
  const file = join(DIR, "a-file");
  writeFileSync(file, "x");
  const schema = join(DIR, "schema.toml");
  const doc = readFileSync(join(ROOT, "docs/schema.md"), "utf8");
  const toml = /```toml\n([\s\S]*?)```/.exec(doc)![1]!;
  writeFileSync(schema, toml);
  const [bad, good] = await Promise.all([lichen(["generate", "--schema", schema, "--out", file]), lichen(["generate", "--schema", schema, "--out", join(DIR, "gen")])]);
  assertCleanError(bad, /--out .*a-file is a file: give a directory/, "generate --out FILE", 1);
  assert.is(good.code, 0, good.stderr);
  assert.ok(existsSync(join(DIR, "gen", "Site.ts")) && existsSync(join(DIR, "gen", "Sensor.ts")));
});

test("lichen gateway on a busy port leaves no database behind", async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  const port = (busy.address() as { port: number }).port;
  try {
    // a file each: on one file the second start could meet the first's lock instead of the busy port
    const dbs = [join(DIR, "never-mqtt.db"), join(DIR, "never-http.db")];
    const [mqtt, http] = await Promise.all([
      lichen(["gateway", "--db", dbs[0]!, "--port", String(port), "--http-port", "0"]),
      lichen(["gateway", "--db", dbs[1]!, "--port", "0", "--http-port", String(port)]),
    ]);
    assertCleanError(mqtt, /is in use/, "busy broker port", 1);
    assertCleanError(http, /cannot serve the dashboard .*the port is in use/, "busy dashboard port", 1);
    for (const db of dbs) assert.not.ok(existsSync(db), `no database created (${db})`);
    assert.equal(readdirSync(DIR).filter((f) => f.startsWith("never")), []);
  } finally {
    busy.close();
  }
});

test("the docs name one database file: lichen.db", () => {
  for (const f of ["README.md", ...readdirSync(join(ROOT, "docs")).map((d) => `docs/${d}`)]) {
    assert.not.match(readFileSync(join(ROOT, f), "utf8"), /gateway\.db\b/, `${f} names gateway.db`);
  }
});

test("Home Assistant: --ha-discovery needs --broker; with one, each node's numeric readings are announced", async () => {
  const refused = await lichen(["gateway", "--ha-discovery", "--db", join(DIR, "ha0.db")]);
  assertCleanError(refused, /--ha-discovery needs an external broker/, "--ha-discovery without --broker", 2);

  // an external broker as Home Assistant's would be: plain aedes, anyone subscribes to anything
  const { Aedes } = await import("aedes");
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const mqtt = await import("mqtt");
  const ha = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "home-assistant" });
  const got = new Map<string, string>();
  ha.on("message", (topic, payload) => got.set(topic, payload.toString()));
  await ha.subscribeAsync(["homeassistant/#", "lichen-ha/#"]);
  const url = `mqtt://127.0.0.1:${port}`;
  const gw = await startGateway({ ...defaults(), id: "gw-ha", fleet: "ha", db: join(DIR, "ha.db"), broker: url, httpPort: 0, heartbeatMs: 500, antiEntropyMs: 1000, haDiscovery: true, logLevel: "warn" });
  const node = await startAppNode({ id: "n1", brokerUrl: url, fleet: "ha", gateways: ["gw-ha"], intervalMs: 86_400_000, config: { heartbeat: 500, antiEntropy: 1000, reconnect: 500 } });
  try {
    node.write({ temperature: 21.5, humidity: 40 });
    // and a text value beside the readings (the firmware's sensors write numbers; another writer may not)
    (node.readings as unknown as LWWMap<string>).set("label", "north");
    node.engine.changed("readings", "n1");
    const cfgTopic = "homeassistant/sensor/lichen_ha_n1_readings_temperature/config";
    await waitFor("the discovery message", () => got.has(cfgTopic) && got.has("lichen-ha/ha/n1/readings"), PATIENCE_MS, () => [...got.keys()].join(", "));
    const cfg = JSON.parse(got.get(cfgTopic)!);
    assert.is(cfg.unique_id, "lichen_ha_n1_readings_temperature");
    assert.is(cfg.state_topic, "lichen-ha/ha/n1/readings");
    assert.is(cfg.unit_of_measurement, "°C");
    assert.is(cfg.device_class, "temperature");
    assert.ok(got.has("homeassistant/sensor/lichen_ha_n1_readings_humidity/config"));
    assert.not.ok(got.has("homeassistant/sensor/lichen_ha_n1_readings_label/config"), "text is not a numeric sensor");
    assert.equal(JSON.parse(got.get("lichen-ha/ha/n1/readings")!), { temperature: 21.5, humidity: 40 });
    await waitFor("n1's availability", () => got.get("lichen-ha/ha/n1/availability") === "online");
  } finally {
    await node.stop().catch(() => {});
    await gw.stop();
    await ha.endAsync();
    await within("the broker to close", PATIENCE_MS, new Promise<void>((r) => aedes.close(() => server.close(() => r()))));
  }
});

test.run();
