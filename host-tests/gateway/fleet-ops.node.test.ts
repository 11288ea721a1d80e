// Running a fleet, end to end against a gateway in process (startGateway: embedded broker and
// dashboard on loopback ports, a temp database) and two Node nodes:
// - settings: `lichen set` / `lichen get` through the HTTP API; the nodes receive the change and
//   the API says, per node, that it applied it; writes outside fleet/*, cross-site writes, bad
//   values are refused and change nothing;
// - history: one row per changed field (not the whole value); `lichen history` as CSV and JSON,
//   one column per field, --since, --field; retention prunes by age;
// - /metrics and /healthz: the figures equal what the gateway measured (its monitor, the file);
//   a refused write is counted under its reason;
// - `lichen backup` while the gateway runs; the gateway restored from it catches up from the nodes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/core/maps.js";
import { defaults, type GatewayConfig } from "../../targets/rpi/gateway-config.js";
import { maintain, startGateway, type Gateway } from "../../targets/rpi/gateway-daemon.js";
import { startAppNode, type AppNode } from "../../sim/esp32/app-node.js";
import { freePort, getJson, lichen, PATIENCE_MS, waitFor } from "./helpers.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-fleet-ops-"));
const GW = "gw-ops";
const FLEET = "ops";
const DB = join(DIR, "gw.db");
let gw: Gateway | undefined;
let config: GatewayConfig;
/** The firmware's longest interval: the nodes sample once at boot, then when a test writes. */
const ONE_DAY_MS = 86_400_000;
const nodes: AppNode[] = [];
const applied: Array<{ peer: string; doc: string }> = [];

async function start(): Promise<Gateway> {
  return startGateway(config, { onApplied: (peer, doc) => applied.push({ peer, doc }) });
}

test.before(async () => {
  config = { ...defaults(), id: GW, fleet: FLEET, db: DB, port: await freePort(), httpPort: 0, heartbeatMs: 500, antiEntropyMs: 1000, logLevel: "warn" };
  gw = await start();
  // the firmware's interval, a day: the nodes sample once at boot, then when a test writes
  gw.write("fleet", "config", LWWMap, (c) => c.set("interval", ONE_DAY_MS));
  const common = { brokerUrl: gw.brokerUrl, fleet: FLEET, gateways: [GW], config: { heartbeat: 500, antiEntropy: 1000, reconnect: 500 }, intervalMs: ONE_DAY_MS };
  nodes.push(await startAppNode({ id: "n1", ...common }), await startAppNode({ id: "n2", ...common }));
  await waitFor("both nodes online", () => gw!.monitor.nodes().filter((n) => n.online).length === 2);
  await waitFor("both nodes hold fleet/config", () => nodes.every((n) => n.config.get("interval") === ONE_DAY_MS));
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  await gw?.stop("test done");
  rmSync(DIR, { recursive: true, force: true });
});

const post = (path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: any }> =>
  fetch(new URL(path, gw!.httpUrl), { method: "POST", body, headers, signal: AbortSignal.timeout(PATIENCE_MS) }).then(async (r) => ({ status: r.status, body: await r.json() }));

test("on its embedded broker the gateway publishes at QoS 0 (in process, QoS 1 only kept copies waiting for PUBACKs; docs/mqtt.md)", async () => {
  assert.ok(gw!.broker !== undefined, "the embedded broker");
  assert.is(gw!.sync.peer.qos, 0);
  const seen = new Set<number>();
  const watch = (packet: { qos: number; topic: string }, client: { id: string } | null): void => {
    if (client?.id === GW && packet.topic.startsWith("lichen/")) seen.add(packet.qos);
  };
  gw!.broker!.aedes.on("publish", watch);
  try {
    // its heartbeat (every 500 ms here) and its frames to the nodes
    await waitFor("a publish of the gateway", () => seen.size > 0, PATIENCE_MS);
    assert.equal([...seen], [0]);
  } finally {
    gw!.broker!.aedes.off("publish", watch);
  }
});

test("lichen set / get: through the gateway's HTTP API; the nodes apply the change and the API says when", async () => {
  const url = gw!.httpUrl;
  const set = await lichen(["set", "fleet/config", "interval=43200000", "threshold.temperature=31.5", "mode=eco", "--url", url, "--wait", String(PATIENCE_MS / 1000), "--json"]);
  assert.is(set.code, 0, set.stderr);
  const view = JSON.parse(set.stdout);
  assert.equal(view.value, { interval: 43_200_000, "threshold.temperature": 31.5, mode: "eco" });
  for (const n of nodes) {
    assert.is(n.config.get("interval"), 43_200_000, `${n.id} has the new value`);
    const row = view.nodes.find((x: { id: string }) => x.id === n.id);
    assert.is(row.state, "applied", `${n.id} applied`);
    assert.ok(typeof row.appliedAt === "number" && row.appliedAt >= view.changedAt, `${n.id}: applied after the change`);
  }
  // the change is the gateway's own: authored by its replica, in its engine, in its database
  assert.is(gw!.engine.get("fleet/config")!.version().toJSON()[GW] !== undefined, true);

  const get = await lichen(["get", "fleet/config", "--url", url]);
  assert.is(get.code, 0, get.stderr);
  assert.match(get.stdout, /interval\s+43200000/);
  assert.match(get.stdout, /n1 {2}applied/);

  // removing a key
  const unset = await lichen(["set", "fleet/config", "mode=", "--url", url, "--json"]);
  assert.is(unset.code, 0, unset.stderr);
  assert.not.ok("mode" in JSON.parse(unset.stdout).value);
});

test("settings: refusals are clear and change nothing", async () => {
  const url = gw!.httpUrl;
  const before = JSON.stringify(gw!.engine.get("readings/n1")?.value() ?? null);
  const own = await lichen(["set", "readings/n1", "temperature=99", "--url", url]);
  assert.is(own.code, 1);
  assert.match(own.stderr, /not permitted.*fleet\/\*/);
  assert.is(JSON.stringify(gw!.engine.get("readings/n1")?.value() ?? null), before, "a node's document is left alone");

  const bad = await lichen(["set", "fleet/config", "novalue", "--url", url]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /is not key=value/);

  const config = JSON.stringify(gw!.engine.get("fleet/config")!.value());
  // a cross-site form: text/plain, or JSON from another origin
  assert.is((await post("/api/settings?doc=fleet/config", '{"interval":1}', { "Content-Type": "text/plain" })).status, 403);
  assert.is((await post("/api/settings?doc=fleet/config", '{"interval":1}', { "Content-Type": "application/json", Origin: "http://evil.example" })).status, 403);
  const nested = await post("/api/settings?doc=fleet/config", '{"interval":{"a":1}}', { "Content-Type": "application/json" });
  assert.is(nested.status, 400);
  assert.match(nested.body.error, /a value is a finite number/);
  assert.is((await post("/api/settings?doc=fleet/config", "{not json", { "Content-Type": "application/json" })).status, 400);
  assert.is((await post("/api/settings?doc=readings/n1", '{"temperature":1}', { "Content-Type": "application/json" })).status, 403, "a node's document");
  assert.is(JSON.stringify(gw!.engine.get("fleet/config")!.value()), config, "nothing changed");

  const down = await lichen(["get", "--url", "http://127.0.0.1:1/"]);
  assert.is(down.code, 1);
  assert.match(down.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:1/);
});

test("history: one row per changed field; lichen history as CSV and JSON; --since, --field; retention", async () => {
  const n1 = nodes[0]!;
  const count = (): number => gw!.db.sql.prepare("SELECT count(*) FROM lichen_history_all WHERE doc = 'readings/n1'").pluck().get() as number;
  // stored, not only applied: the gateway commits received deltas in groups, their history rows
  // in the group's transaction
  const storedTemp = (): unknown => (gw!.db.states.load("readings", "n1", (b) => LWWMap.fromBytes(b))?.value() as any)?.temperature;
  n1.write({ temperature: 20.5, humidity: 40 });
  await waitFor("temperature 20.5 stored at the gateway", () => storedTemp() === 20.5);
  const afterFirst = count();
  await new Promise((r) => setTimeout(r, 10)); // t0 after the first write's rows, in another millisecond
  const t0 = Date.now();
  n1.write({ temperature: 21.25 }); // humidity unchanged
  await waitFor("temperature 21.25 stored at the gateway", () => storedTemp() === 21.25);
  assert.is(count(), afterFirst + 1, "one row: only temperature changed");
  const last = gw!.db.sql.prepare("SELECT field, value FROM lichen_history_all WHERE doc = 'readings/n1' ORDER BY t DESC LIMIT 1").get() as { field: string; value: string };
  assert.equal(last, { field: "temperature", value: "21.25" }, "the row holds the field, not the whole value");

  const csv = await lichen(["history", DB, "readings/n1", "--format", "csv"]);
  assert.is(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trimEnd().split("\r\n");
  assert.is(lines[0], "time,humidity,temperature", "one column per field");
  assert.match(lines[lines.length - 1]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z,40,21\.25$/, "the last row carries humidity forward");

  const json = await lichen(["history", DB, "readings/n1", "--format", "json", "--field", "temperature", "--since", new Date(t0).toISOString()]);
  assert.is(json.code, 0, json.stderr);
  const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
  assert.is(rows.length, 1);
  assert.equal(Object.keys(rows[0]!).sort(), ["t", "temperature", "time"]);
  assert.is(rows[0]!.temperature, 21.25);

  const none = await lichen(["history", DB, "readings/nope"]);
  assert.is(none.code, 1);
  assert.match(none.stderr, /no history of readings\/nope.*readings\/n1/);

  // the API the dashboard's chart reads
  const api = await getJson(new URL(`/api/history?doc=readings/n1&field=temperature&since=${t0}`, gw!.httpUrl).href);
  assert.equal(api.body.rows.map((r: { value: number }) => r.value), [21.25]);

  // retention: rows older than --history-days go at the next maintenance
  const total = gw!.db.sql.prepare("SELECT count(*) FROM lichen_history_all").pluck().get() as number;
  assert.ok(total > 0);
  maintain(gw!.db, { ...config, compactThreshold: 0, keepChanges: 0, historyDays: 1 }, () => {}, gw!.history, Date.now() + 86_400_000 + 60_000);
  assert.is(gw!.db.sql.prepare("SELECT count(*) FROM lichen_history_all").pluck().get(), 0, "all older than a day at that time");
});

/** Prometheus text → { "name{labels}": value }. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

test("/metrics and /healthz tell what the gateway measured; a refused write is counted by reason", async () => {
  // n1 writes n2's document: the gateway refuses it (the write policy)
  const n1 = nodes[0]!;
  const forged = n1.engine.open("readings", "n2", LWWMap);
  forged.set("temperature", -40);
  n1.engine.changed("readings", "n2");
  await waitFor("the refusal counted", () => (gw!.monitor.totals.refusedBy.forbidden ?? 0) > 0, PATIENCE_MS, () => JSON.stringify(gw!.monitor.totals));
  n1.write({ temperature: 22 });
  await waitFor("temperature 22 at the gateway", () => (gw!.engine.get("readings/n1")?.value() as any)?.temperature === 22);

  const r = await fetch(new URL("/metrics", gw!.httpUrl), { signal: AbortSignal.timeout(PATIENCE_MS) });
  assert.is(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /# TYPE lichen_deltas_applied_total counter/);
  const m = parseMetrics(text);
  assert.is(m.get("lichen_deltas_applied_total"), applied.length, "applied: as many as onApplied calls");
  assert.is(m.get("lichen_deltas_applied_total"), gw!.monitor.totals.applied);
  assert.is(m.get('lichen_deltas_refused_total{reason="forbidden"}'), gw!.monitor.totals.refusedBy.forbidden);
  assert.is(m.get("lichen_nodes_online"), 2);
  assert.is(m.get('lichen_node_online{peer="n1",role="node"}'), 1);
  assert.ok((m.get('lichen_node_lag_seconds{peer="n1",role="node"}') ?? -1) >= 0);
  assert.is(m.get('lichen_sqlite_bytes{file="db"}'), statSync(DB).size);
  assert.is(m.get("lichen_mqtt_connected"), 1);
  // the embedded broker's clients: the gateway itself and the two nodes
  assert.is(m.get("lichen_broker_clients"), 3);

  const h = await getJson(new URL("/healthz", gw!.httpUrl).href);
  assert.is(h.status, 200);
  assert.is(h.body.ok, true);
});

test("lichen backup while the gateway runs; a gateway restored from it catches up from the nodes", async () => {
  const copy = join(DIR, "backup.db");
  const b = await lichen(["backup", DB, copy]);
  assert.is(b.code, 0, b.stderr);
  assert.ok(existsSync(copy));
  const again = await lichen(["backup", DB, copy]);
  assert.is(again.code, 1, "an existing file is not replaced");
  assert.match(again.stderr, /exists/);
  const st = await lichen(["status", copy, "--json"]);
  assert.is(st.code, 0, st.stderr);
  assert.ok(JSON.parse(st.stdout).namespaces.some((n: { namespace: string }) => n.namespace === "readings"));

  // after the backup: n2 writes; then the gateway's disk is lost and restored from the backup
  nodes[1]!.write({ temperature: 30.75, humidity: 55 });
  await waitFor("n2's new reading at the gateway", () => (gw!.engine.get("readings/n2")?.value() as any)?.temperature === 30.75);
  await gw!.stop("restore");
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${DB}${suffix}`, { force: true });
  copyFileSync(copy, DB);
  gw = await start();
  assert.not.equal((gw.engine.get("readings/n2")?.value() as any)?.temperature, 30.75, "the backup predates the write");
  await waitFor("the restored gateway caught up from n2", () => (gw!.engine.get("readings/n2")?.value() as any)?.temperature === 30.75, PATIENCE_MS, () => JSON.stringify(gw!.engine.get("readings/n2")?.value()));
});

test.run();
