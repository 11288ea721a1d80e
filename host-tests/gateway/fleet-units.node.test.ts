// The pieces of running a fleet, alone and in simulated time: settings' parsing and checks, the
// history's changed-fields rows and table, the ingest rate of the monitor (the dashboard's card and
// /metrics), the Prometheus text, Home Assistant's messages.
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { LichenError } from "../../src/core/errors.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryKv } from "../../src/store/kv.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { SyncEngine, type Scheduler } from "../../src/transport/sync-engine.js";
import { historyDocs, HistoryRecorder, pivot, readHistory } from "../../targets/rpi/gateway-history.js";
import { metricsText } from "../../targets/rpi/gateway-metrics.js";
import { GatewayMonitor } from "../../targets/rpi/gateway-monitor.js";
import { checkChange, checkSettingsDoc, parseAssignments } from "../../targets/rpi/gateway-settings.js";
import { HaDiscovery } from "../../targets/rpi/ha-discovery.js";
import { parseSince } from "../../targets/rpi/fleet-cli.js";

const throwsCode = (fn: () => unknown, code: string, pattern: RegExp): void => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, LichenError);
    assert.is((e as LichenError).code, code);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable("it should throw");
};

test("settings: key=value words, types, removal; what is refused", () => {
  assert.equal(parseAssignments(["a=1", "b=2.5", "c=true", "d=eco", 'e="42"', "f=", "g=-3e2"]), { a: 1, b: 2.5, c: true, d: "eco", e: "42", f: null, g: -300 });
  throwsCode(() => parseAssignments(["novalue"]), "INVALID_ARGUMENT", /is not key=value/);
  throwsCode(() => parseAssignments(["=1"]), "INVALID_ARGUMENT", /is not key=value/);
  throwsCode(() => parseAssignments(["bad key=1"]), "INVALID_ARGUMENT", /a key is 1 to 64/);
  throwsCode(() => checkChange({ a: { b: 1 } }), "INVALID_ARGUMENT", /a value is a finite number/);
  throwsCode(() => checkChange({ a: Number.NaN }), "INVALID_ARGUMENT", /a value is a finite number/);
  throwsCode(() => checkChange({}), "INVALID_ARGUMENT", /no setting given/);
  throwsCode(() => checkChange([1]), "INVALID_ARGUMENT", /a JSON object/);
  assert.is(checkSettingsDoc("fleet/config"), "fleet/config");
  throwsCode(() => checkSettingsDoc("readings/n1"), "INVALID_ARGUMENT", /not permitted/);
  throwsCode(() => checkSettingsDoc("fleet"), "INVALID_ARGUMENT", /"fleet\/<id>"/);
});

/** A gateway's SqliteKv on a fresh file, a recorder on it, and a second connection that reads (as `lichen history` does). */
function historyRig(onError?: (e: unknown) => void): { kv: SqliteKv; h: HistoryRecorder; sql: Database.Database; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), "lichen-history-"));
  const kv = SqliteKv.open(join(dir, "gw.db"));
  const h = new HistoryRecorder(kv, onError);
  const sql = new Database(join(dir, "gw.db"));
  return {
    kv,
    h,
    sql,
    close: () => {
      sql.close();
      kv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("history: only the fields that changed, removals as NULL, nothing for a restart; the table carries values forward", () => {
  const { kv, h, sql, close } = historyRig();
  // each change's rows are stored by the batch that stores it (here an empty batch)
  const stored = (n: number): number => {
    kv.batch([]);
    return n;
  };
  h.know("readings/n1", { temp: 20, hum: 40 }); // what the gateway held at start: no row
  assert.is(stored(h.record("readings/n1", { temp: 20, hum: 40 }, 1000)), 0, "no change, no row");
  assert.is(stored(h.record("readings/n1", { temp: 21, hum: 40 }, 2000)), 1, "temp only");
  assert.is(stored(h.record("readings/n1", { temp: 21, hum: 41, battery: 90 }, 3000)), 2);
  assert.is(stored(h.record("readings/n1", { temp: 21, hum: 41 }, 4000)), 1, "battery removed");
  assert.is(stored(h.record("counters/n1", 7, 4000)), 1, "a counter: one field, value");
  const { rows, damaged } = readHistory(sql, "readings/n1");
  assert.is(damaged, 0);
  assert.equal(rows.map((r) => [r.t, r.field, r.value]), [[2000, "temp", 21], [3000, "hum", 41], [3000, "battery", 90], [4000, "battery", null]]);
  const table = pivot(rows);
  assert.equal(table.columns, ["battery", "hum", "temp"]);
  assert.equal(table.records, [
    { t: 2000, values: [null, null, 21] },
    { t: 3000, values: [90, 41, 21] },
    { t: 4000, values: [null, 41, 21] },
  ]);
  assert.equal(readHistory(sql, "readings/n1", { since: 3000, fields: ["hum"] }).rows.map((r) => r.value), [41]);
  // a damaged row is skipped and counted
  sql.prepare("INSERT INTO lichen_history (t, doc, field, value) VALUES (5000, 'readings/n1', 'temp', '{not json')").run();
  const after = readHistory(sql, "readings/n1");
  assert.is(after.damaged, 1);
  assert.is(after.rows.length, 4);
  assert.is(h.prune(3500), 3, "the three rows before 3.5 s pruned");
  close();
});

test("history: pruned by age, rows found by rowid; a clock stepped back never loses a newer row", () => {
  const { kv, h, sql, close } = historyRig();
  // three moves into lichen_history, each sorted by document: rowid order 1000 3000 | 500 2000 4000 | 600 5000
  for (const ts of [[1000, 3000], [500, 2000, 4000], [600, 5000]]) {
    for (const t of ts) h.record("readings/n1", { temp: t }, t);
    kv.batch([]);
    h.merge();
  }
  const left = (): number[] => sql.prepare("SELECT t FROM lichen_history ORDER BY rowid").pluck().all() as number[];
  assert.equal(left(), [1000, 3000, 500, 2000, 4000, 600, 5000]);
  assert.is(h.prune(0), 0);
  assert.is(h.prune(2500), 4, "1000, 500, 2000 and 600");
  assert.equal(left(), [3000, 4000, 5000], "3000 and 4000 kept though older rows followed them");
  assert.is(h.prune(4500), 2);
  assert.equal(left(), [5000]);
  assert.is(h.prune(10_000), 1);
  assert.is(h.prune(10_000), 0, "an empty table");
  assert.is(sql.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'lichen_history_t'").pluck().get(), 0, "no index on t");
  // staged rows are pruned too
  h.record("readings/n1", { temp: 1 }, 20_000);
  kv.batch([]);
  assert.is(h.prune(30_000), 1);
  close();
});

test("history: staged as they come, moved into lichen_history a minute at a time, each document's rows together", () => {
  const { kv, h, sql, close } = historyRig();
  const recent = (): number => sql.prepare("SELECT count(*) FROM lichen_history_recent").pluck().get() as number;
  const sorted = (): string[] => sql.prepare("SELECT doc || ' ' || t FROM lichen_history ORDER BY rowid").pluck().all() as string[];
  const t0 = 1_000_000;
  for (let s = 0; s < 60; s += 20) for (const n of ["n2", "n1"]) h.record(`readings/${n}`, { temp: s }, t0 + s * 1000);
  kv.batch([]);
  assert.is(recent(), 6, "staged");
  assert.equal(sorted(), []);
  const before = readHistory(sql, "readings/n1");
  assert.equal(before.rows.map((r) => r.t), [t0, t0 + 20_000, t0 + 40_000], "read from the staged rows");
  // a batch whose rows reach a minute past the oldest staged one moves them all, but a batch that
  // rolls back moves nothing
  h.record("readings/n2", { temp: 60 }, t0 + 60_000);
  sql.exec("CREATE TRIGGER probe BEFORE UPDATE ON lichen_meta BEGIN SELECT RAISE(ABORT, 'probe'); END");
  assert.throws(() => kv.batch([], [{ namespace: "readings", id: "n2", type: "LWWMap", value: { temp: 60 } }]), /probe/);
  assert.is(recent(), 6);
  sql.exec("DROP TRIGGER probe");
  kv.batch([]);
  assert.is(recent(), 0, "moved");
  assert.equal(sorted(), [`readings/n1 ${t0}`, `readings/n1 ${t0 + 20_000}`, `readings/n1 ${t0 + 40_000}`, `readings/n2 ${t0}`, `readings/n2 ${t0 + 20_000}`, `readings/n2 ${t0 + 40_000}`, `readings/n2 ${t0 + 60_000}`]);
  assert.equal(readHistory(sql, "readings/n1"), before, "the same history");
  assert.equal(historyDocs(sql), ["readings/n1", "readings/n2"]);
  // the clock of the staged rows starts again: the next row stays staged
  h.record("readings/n1", { temp: 61 }, t0 + 61_000);
  kv.batch([]);
  assert.is(recent(), 1);
  assert.equal(readHistory(sql, "readings/n1").rows.map((r) => r.value), [0, 20, 40, 61], "both tables read, in time order");
  assert.equal(readHistory(sql, "readings/n1", { limit: 2 }).rows.map((r) => r.value), [40, 61]);
  assert.equal(sql.prepare("SELECT count(*) FROM lichen_history_all").pluck().get(), 8, "the view: every row");
  // a restart knows what is staged
  kv.close();
  const kv2 = SqliteKv.open(kv.path);
  const h2 = new HistoryRecorder(kv2);
  h2.record("readings/n1", { temp: 62 }, t0 + 121_000);
  kv2.batch([]);
  assert.is(recent(), 0, "the staged row from before the restart was a minute old: both moved");
  kv2.close();
  close();
});

test("history: a file from before (lichen_history alone, indexed by t too) keeps its rows and takes new ones", () => {
  const dir = mkdtempSync(join(tmpdir(), "lichen-history-"));
  const path = join(dir, "gw.db");
  const old = SqliteKv.open(path);
  old.close();
  const sql = new Database(path);
  sql.exec(`CREATE TABLE lichen_history (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT);
    CREATE INDEX lichen_history_doc_t ON lichen_history (doc, t);
    CREATE INDEX lichen_history_t ON lichen_history (t);
    INSERT INTO lichen_history VALUES (1000, 'readings/n1', 'temp', '20'), (2000, 'readings/n1', 'temp', '21');`);
  // read as it is, before any gateway opened it again
  assert.equal(readHistory(sql, "readings/n1").rows.map((r) => r.value), [20, 21]);
  const kv = SqliteKv.open(path);
  const h = new HistoryRecorder(kv);
  h.know("readings/n1", { temp: 21 });
  h.record("readings/n1", { temp: 22 }, 3000);
  kv.batch([]);
  assert.equal(readHistory(sql, "readings/n1").rows.map((r) => [r.t, r.value]), [[1000, 20], [2000, 21], [3000, 22]]);
  assert.equal(sql.prepare("SELECT name FROM sqlite_master WHERE tbl_name LIKE 'lichen_history%' AND type IN ('index', 'table', 'view') ORDER BY name").pluck().all(), ["lichen_history", "lichen_history_all", "lichen_history_doc_t", "lichen_history_recent"]);
  assert.is(h.prune(2500), 2, "the old rows pruned by age");
  assert.equal(readHistory(sql, "readings/n1").rows.map((r) => r.t), [3000]);
  sql.close();
  kv.close();
  rmSync(dir, { recursive: true, force: true });
});

test("history: rows ride in the batch that stores the change; a rolled-back batch keeps them for the next; a failed history write loses only its rows", () => {
  const errors: unknown[] = [];
  const { kv, h, sql, close } = historyRig((e) => errors.push(e));
  const count = (): number => sql.prepare("SELECT count(*) FROM lichen_history_all").pluck().get() as number;
  h.know("readings/n1", { temp: 20 });
  h.record("readings/n1", { temp: 21 }, 1000);
  assert.is(count(), 0, "pending until a batch stores it");
  // a batch that fails inside its transaction, after the history rows (the mirror's db_version
  // refused by a trigger), rolls back, the history rows with it
  const view = { namespace: "readings", id: "n1", type: "LWWMap", value: { temp: 21 } };
  sql.exec("CREATE TRIGGER probe BEFORE UPDATE ON lichen_meta BEGIN SELECT RAISE(ABORT, 'probe'); END");
  assert.throws(() => kv.batch([{ type: "put", key: "probe-a", value: new Uint8Array([1]) }], [view]), /probe/);
  assert.is(kv.get("probe-a"), undefined, "rolled back");
  assert.is(count(), 0);
  assert.is(errors.length, 0, "not a failure of the history's own");
  sql.exec("DROP TRIGGER probe");
  kv.batch([{ type: "put", key: "probe-a", value: new Uint8Array([1]) }], [view]);
  assert.is(count(), 1, "written by the next batch");
  assert.equal(kv.get("probe-a"), new Uint8Array([1]));
  // the table of staged rows gone: the history's rows fail, the batch's own writes do not
  sql.exec("DROP TABLE lichen_history_recent");
  h.record("readings/n1", { temp: 22 }, 2000);
  kv.batch([{ type: "put", key: "probe-b", value: new Uint8Array([2]) }]);
  assert.equal(kv.get("probe-b"), new Uint8Array([2]), "the state stored");
  assert.is(errors.length, 1, "the history write's failure reported");
  assert.match(String((errors[0] as Error).message), /lichen_history_recent/);
  // dropped, not retried forever
  sql.exec("CREATE TABLE lichen_history_recent (t INTEGER NOT NULL, doc TEXT NOT NULL, field TEXT NOT NULL, value TEXT)");
  kv.batch([]);
  assert.is(count(), 0);
  assert.is(errors.length, 1);
  close();
});

test("the ingest rate: deltas per second over the last 10 s, steady where one second's count swings", () => {
  let now = 1_000_000;
  const scheduler: Scheduler = { now: () => now, setTimer: () => () => {} };
  const engine = new SyncEngine({ replica: "gw", role: "gateway", kv: new MemoryKv(), scheduler, send: () => {} });
  const m = new GatewayMonitor({ self: "gw", gateways: [], engine, peers: () => [], now: () => now, monotonic: () => now });
  // 1.2 deltas a second: 12 in 10 seconds, as 1, 1, 2, 1, 1, 1, 2, 1, 1, 1
  const perSecond = [1, 1, 2, 1, 1, 1, 2, 1, 1, 1];
  const cards: number[] = [];
  for (const n of perSecond) {
    for (let i = 0; i < n; i++) m.applied("n1", "readings/n1", 10);
    now += 1000;
    m.tick();
    cards.push(m.ingestRate());
  }
  assert.is(m.ingestRate(), 1.2);
  assert.is(m.totals.applied, 12);
  assert.ok(cards.every((c) => c >= 1), "never 0 while deltas arrive");
  engine.close();
});

test("/metrics: the text format, labels escaped, refusals by reason", () => {
  const text = metricsText({
    fleet: 'g"h\\1',
    version: "0.1.0",
    connected: true,
    uptimeMs: 5000,
    totals: { applied: 12, appliedBytes: 1200, refused: 3, forged: 1, local: 2, refusedBy: { forged: 1, quota: 2 } },
    nodes: [
      { id: "n1", role: "node", online: true, lastSeen: 0, lastChange: 0, lagMs: 1500, deliveryMs: 10, inSync: true, pending: [], docs: [], applied: 12, appliedBytes: 1200, refused: 0 },
      { id: "n2", role: "node", online: false, lastSeen: 0, lastChange: null, lagMs: null, deliveryMs: null, inSync: null, pending: null, docs: [], applied: 0, appliedBytes: 0, refused: 3 },
    ],
    dbPath: "/nonexistent/lichen.db",
    brokerClients: undefined,
    ingest: 1.2,
  });
  const lines = text.trimEnd().split("\n");
  for (const l of lines) assert.match(l, /^(# (HELP|TYPE) lichen_[a-z_]+ .+|lichen_[a-z_]+(\{[a-z]+="(?:[^"\\]|\\.)*"(,[a-z]+="(?:[^"\\]|\\.)*")*\})? -?[\d.]+(e[+-]?\d+)?)$/, `a valid line: ${l}`);
  assert.ok(lines.includes('lichen_info{fleet="g\\"h\\\\1",version="0.1.0"} 1'));
  assert.ok(lines.includes("lichen_nodes_online 1"));
  assert.ok(lines.includes('lichen_node_lag_seconds{peer="n1",role="node"} 1.5'));
  assert.not.ok(text.includes('lichen_node_lag_seconds{peer="n2"'), "no lag where it is unknown");
  assert.ok(lines.includes('lichen_deltas_refused_total{reason="quota"} 2'));
  assert.ok(lines.includes('lichen_sqlite_bytes{file="db"} 0'));
  assert.not.ok(text.includes("lichen_broker_clients"), "no broker figure with an external broker");
});

test("Home Assistant: one config per numeric field, once; only a node's own documents; values and availability", () => {
  const sent: Array<[string, string, boolean]> = [];
  const ha = new HaDiscovery({ fleet: "gh", publish: (t, p, r) => sent.push([t, p, r]) });
  ha.changed("n1", "readings/n1", { temp: 20, hum: 40, note: "x" });
  ha.changed("n1", "readings/n1", { temp: 21, hum: 40 });
  ha.changed("n1", "readings/n2", { temp: 5 }); // not n1's
  ha.changed("n1", "counters/n1", 7); // not an object
  ha.presence("n1", false);
  assert.equal(sent.filter(([t]) => t.endsWith("/config")).map(([t]) => t), ["homeassistant/sensor/lichen_gh_n1_readings_temp/config", "homeassistant/sensor/lichen_gh_n1_readings_hum/config"]);
  assert.equal(sent.filter(([t]) => t === "lichen-ha/gh/n1/readings").map(([, p]) => JSON.parse(p)), [{ temp: 20, hum: 40 }, { temp: 21, hum: 40 }]);
  assert.equal(sent[sent.length - 1], ["lichen-ha/gh/n1/availability", "offline", true]);
  assert.ok(sent.every(([, , r]) => r), "retained");
});

test("--since: durations ago, ISO dates, ms", () => {
  const now = Date.UTC(2026, 0, 31, 12);
  assert.is(parseSince("30m", now), now - 1_800_000);
  assert.is(parseSince("2h", now), now - 7_200_000);
  assert.is(parseSince("7d", now), now - 7 * 86_400_000);
  assert.is(parseSince("2026-01-31T08:00Z", now), Date.UTC(2026, 0, 31, 8));
  assert.is(parseSince("1769860800000", now), 1769860800000);
  assert.throws(() => parseSince("yesterday-ish", now), /expected a time/);
});

test.run();
