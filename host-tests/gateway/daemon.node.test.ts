// The gateway daemon, `lichen gateway` (targets/rpi/gateway.ts, gateway-daemon.ts), as a child
// process: its embedded broker and dashboard on free ports, a temp database; two Node nodes
// (SyncEngine + MqttSync) converge through it; its logs are JSON lines; SIGTERM stops it cleanly
// (exit 0); started again, everything is still there (the CLI and the HTTP API say so); a failed
// start (a port in use, a bad database path) is one clear line. Its configuration: config.node.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/core/maps.js";
import { startAppNode, type AppNode } from "../../sim/esp32/app-node.js";
import { assertCleanError, freePort, LICHEN_CLI, PATIENCE_MS, getJson, lichen, spawnChild, waitFor, within, type Child, type Run } from "./helpers.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-daemon-"));
const GW = "gw-test";
const FLEET = "t1";
/** The nodes sample once at boot, then only when the test writes (the firmware's longest interval). */
const ONE_DAY_MS = 86_400_000;
const children: Child[] = [];
const nodes: AppNode[] = [];

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  for (const c of children) c.kill("SIGKILL");
  rmSync(DIR, { recursive: true, force: true });
});

/** Starts `lichen gateway ...args` and waits for its "ready" log line. */
async function startDaemon(args: string[], env: NodeJS.ProcessEnv): Promise<Child> {
  const child = spawnChild([...LICHEN_CLI, "gateway", ...args], { env, timeoutMs: PATIENCE_MS * 2 });
  children.push(child);
  await waitFor("the gateway's ready line", () => child.lines().some((l) => l.event === "ready") || child.proc.exitCode !== null, PATIENCE_MS, () => `stdout: ${child.stdout} stderr: ${child.stderr}`);
  assert.is(child.proc.exitCode, null, `the gateway runs (stderr: ${child.stderr})`);
  return child;
}

async function sigterm(child: Child): Promise<Run> {
  child.kill("SIGTERM");
  return within("the gateway to exit after SIGTERM", PATIENCE_MS, child.exited);
}

test("the daemon: two nodes converge through it; JSON logs; SIGTERM exits 0; a restart keeps everything", async () => {
  const [port, httpPort] = [await freePort(), await freePort()];
  // three sources at once: the config file (db, fleet, timings), the environment (id, dashboard port), flags (broker port)
  const cfg = join(DIR, "gateway.json");
  writeFileSync(cfg, JSON.stringify({ db: "data/gw.db", fleet: FLEET, heartbeatMs: 500, antiEntropyMs: 1000, logLevel: "info", id: "overridden-by-env" }));
  const env = { LICHEN_ID: GW, LICHEN_HTTP_PORT: String(httpPort), LICHEN_FLEET: undefined, LICHEN_CONFIG: undefined };
  // the nodes of this test edit the fleet's config too, as operators
  const policy = join(DIR, "policy.json");
  writeFileSync(policy, JSON.stringify({ write: ["*/{self}", "fleet/config"] }));
  const args = ["--config", cfg, "--port", String(port), "--policy", policy];
  const dbPath = join(DIR, "data/gw.db");
  mkdirSync(join(DIR, "data"));
  // (meanwhile) the database's directory must exist: a clear error otherwise
  const noDir = lichen(["gateway", "--db", join(DIR, "missing/gw.db"), "--port", "0", "--http-port", "0"], { env: { LICHEN_CONFIG: undefined } });
  let gw = await startDaemon(args, env);
  assertCleanError(await noDir, /^lichen: .*missing\/gw\.db/m, "a database in a missing directory", 1);
  const api = `http://127.0.0.1:${httpPort}`;
  const status = await getJson(`${api}/api/status`);
  assert.is(status.body.gateway.id, GW, "the id from the environment beats the config file");
  assert.is(status.body.gateway.fleet, FLEET, "the fleet from the config file");
  assert.is(status.body.gateway.broker, `mqtt://127.0.0.1:${port}`, "the broker port from the flag");
  assert.is(status.body.gateway.db, dbPath, "the db path relative to the config file");

  // a second gateway on the same broker port, or on the same database: a clear error
  const [clash, twice] = await Promise.all([
    lichen(["gateway", "--port", String(port), "--http-port", "0", "--db", join(DIR, "other.db")], { env: { LICHEN_CONFIG: undefined } }),
    lichen(["gateway", "--config", cfg, "--port", "0", "--http-port", "0"], { env }),
  ]);
  assertCleanError(clash, new RegExp(`^lichen: cannot start the embedded MQTT broker: 127\\.0\\.0\\.1:${port} is in use`, "m"), "a broker port in use", 1);
  assertCleanError(twice, /^lichen: another gateway is running on .*gw\.db \(one gateway per database\)$/m, "a database in use", 1);

  const url = `mqtt://127.0.0.1:${port}`;
  const common = { brokerUrl: url, fleet: FLEET, gateways: [GW], intervalMs: ONE_DAY_MS, config: { heartbeat: 500, antiEntropy: 1000, reconnect: 500 } };
  const n1 = await startAppNode({ id: "n1", ...common });
  const n2 = await startAppNode({ id: "n2", ...common });
  nodes.push(n1, n2);
  n1.write({ temperature: 21.5, humidity: 40 });
  n2.write({ temperature: 19.25, humidity: 55 });
  // each sets one of the firmware's keys of fleet/config, at once
  n1.config.set("threshold.temperature", 31.5);
  n1.engine.changed("fleet", "config");
  n2.config.set("threshold.humidity", 70);
  n2.engine.changed("fleet", "config");
  await waitFor(
    "the nodes to converge through the gateway",
    () => n1.engine.inSync(GW) && n2.engine.inSync(GW) && Object.keys(n1.config.value()).length === 2 && Object.keys(n2.config.value()).length === 2,
    PATIENCE_MS,
    () => `n1 ${JSON.stringify(n1.config.value())} n2 ${JSON.stringify(n2.config.value())}; gateway log: ${gw.stdout.slice(-800)}`,
  );
  assert.equal(n1.config.value(), n2.config.value(), "both nodes hold the same fleet/config");
  const entities = (await getJson(`${api}/api/entities`)).body.entities as Array<{ key: string; value: unknown }>;
  assert.equal(entities.find((e) => e.key === "readings/n1")?.value, { humidity: 40, temperature: 21.5 }, "the gateway holds n1's readings");
  assert.equal(entities.find((e) => e.key === "readings/n2")?.value, { humidity: 55, temperature: 19.25 });
  const nodesView = (await getJson(`${api}/api/nodes`)).body.nodes as Array<{ id: string; online: boolean; docs: string[] }>;
  assert.equal(nodesView.filter((n) => n.online).map((n) => n.id), ["n1", "n2"], "both nodes online");

  // the origin rule: n1 relays events of another replica into its own document: refused, logged as a JSON line
  const foreign = new LWWMap("n9");
  foreign.set("t", -40);
  const forged = n1.engine.open("forged", "n1", LWWMap);
  forged.applyDelta(foreign.delta());
  forged.set("own", 1); // a node pushes only when it holds events of its own the gateway lacks
  n1.engine.changed("forged", "n1");
  await waitFor("the forged delta to be logged", () => gw.lines().some((l) => l.event === "forged" && l.peer === "n1"), PATIENCE_MS, () => gw.stdout.slice(-600));

  // the logs: every line a JSON object with ts, level, event
  for (const l of gw.lines()) {
    assert.ok(typeof l.ts === "string" && typeof l.level === "string" && typeof l.event === "string", `a structured log line: ${JSON.stringify(l)}`);
  }
  const events = new Set(gw.lines().map((l) => l.event));
  for (const e of ["starting", "broker-listening", "http-listening", "ready", "mqtt-connected", "presence"]) assert.ok(events.has(e), `logged: ${e}`);

  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  let exit = await sigterm(gw);
  assert.is(exit.code, 0, `SIGTERM: exit 0 (stderr: ${exit.stderr})`);
  assert.is(exit.stderr, "", "nothing on stderr");
  const last = gw.lines().slice(-2).map((l) => l.event);
  assert.equal(last, ["stopping", "stopped"], "it says it stopped");

  // the CLI reads what it stored (while the gateway starts again)
  const [st, insp, restarted] = await Promise.all([lichen(["status", dbPath, "--json"]), lichen(["inspect", dbPath, "readings/n2", "--json"]), startDaemon(args, env)]);
  gw = restarted;
  assert.is(st.code, 0, st.stderr);
  const report = JSON.parse(st.stdout) as { namespaces: Array<{ namespace: string; entities: number }>; logs: Array<{ namespace: string; events: number }> };
  assert.is(report.namespaces.find((n) => n.namespace === "readings")?.entities, 2, "two readings documents stored");
  assert.ok((report.logs.find((l) => l.namespace === "readings")?.events ?? 0) >= 2, "their deltas are in the event log");
  assert.equal(JSON.parse(insp.stdout).value, { humidity: 55, temperature: 19.25 });

  // started again: everything is there
  const ready = gw.lines().find((l) => l.event === "ready")!;
  assert.ok((ready.documents as number) >= 3, `the engine reloaded its documents (${ready.documents})`);
  const again = (await getJson(`${api}/api/entities`)).body.entities as Array<{ key: string; value: unknown }>;
  assert.equal(again.find((e) => e.key === "readings/n1")?.value, { humidity: 40, temperature: 21.5 }, "n1's readings survive the restart");
  assert.equal(again.find((e) => e.key === "fleet/config")?.value, { "threshold.humidity": 70, "threshold.temperature": 31.5 });
  const detail = await getJson(`${api}/api/entity?key=readings/n1`);
  assert.is(detail.status, 200);
  assert.ok(detail.body.log.entityEventCount >= 1, "its events are in the log");
  const after = (await getJson(`${api}/api/nodes`)).body.nodes as Array<{ id: string; online: boolean; lastChange: number | null }>;
  assert.ok(after.find((n) => n.id === "n1")?.lastChange, "the nodes are known from the stored versions, offline");
  exit = await sigterm(gw);
  assert.is(exit.code, 0, `the second SIGTERM: exit 0 (${exit.stderr})`);
});

test.run();
