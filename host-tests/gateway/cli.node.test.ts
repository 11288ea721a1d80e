// The gateway's storage (targets/rpi/gateway-db.ts) and the `lichen` CLI (targets/rpi/cli.ts),
// Node only. A real database file is built in a temp dir (CRDT states in two namespaces, event
// logs written through recordApplied, also as SyncEngine's onApplied, a CrdtDb entity); then the
// CLI runs as a child process (from its sources: helpers.ts LICHEN_CLI) and its
// outputs are checked: status, inspect, compact, export, and the errors (one line, no stack).
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LICHEN_CLI, PATIENCE_MS } from "./helpers.js";
import { fileURLToPath, pathToFileURL } from "node:url";
import { GCounter, LichenError, LWWMap, ORSet, PNCounter } from "../../src/index.js";
import type { Crdt } from "../../src/core/crdt.js";
import { Hlc } from "../../src/core/hlc.js";
import { loadCrdt } from "../../src/core/registry.js";
import { CrdtDb } from "../../src/store/crdt-db.js";
import { envelopePrefix, eventKey, eventPrefix, statePrefix, stateKey } from "../../src/store/keys.js";
import { type KvOp, MemoryKv } from "../../src/store/kv.js";
import { SQLITE_SCHEMA_VERSION, SqliteKv } from "../../src/store/sqlite.js";
import { SyncEngine, type Scheduler } from "../../src/transport/sync-engine.js";
import { decodeAppliedEvent, decodeNamespaceSnapshot, encodeAppliedEvent, openGatewayDb, type GatewayDb } from "../../targets/rpi/gateway-db.js";
import { EventStore } from "../../src/store/event-store.js";
import { buildProgram, CliError, registerExtensions } from "../../targets/rpi/cli.js";
import { progress } from "../../targets/rpi/progress.js";
import { exportPlan, exportRows, inspect, status } from "../../targets/rpi/report.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const DIR = mkdtempSync(join(tmpdir(), "lichen-cli-"));
const CLI_TIMEOUT_MS = PATIENCE_MS;
const NODE = "a4cf12b3c4d5"; // a sensor node's replica id
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

let files = 0;
const freshPath = (name = "gw"): string => join(DIR, `${name}-${++files}.db`);
const opened: GatewayDb[] = [];
const track = (db: GatewayDb): GatewayDb => (opened.push(db), db);

test.after(() => {
  for (const db of opened) db.close();
  rmSync(DIR, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// at most a few CLI processes at once, so that a test's batch does not starve the machine
const MAX_CLI_PROCESSES = 4;
let running = 0;
const waiting: Array<() => void> = [];

/** Runs `lichen ...args` from its sources (LICHEN_CLI), killed after CLI_TIMEOUT_MS (a failure, not a hang). */
async function lichen(...args: string[]): Promise<Run> {
  if (running >= MAX_CLI_PROCESSES) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await runLichen(args);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function runLichen(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.LICHEN_DEBUG;
    const child = spawn(process.execPath, [...LICHEN_CLI, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`lichen ${args.join(" ")}: no exit after ${CLI_TIMEOUT_MS} ms`));
    }, CLI_TIMEOUT_MS);
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A clean failure: the exit code, exactly one line on stderr (plus commander's usage hint), no stack trace. */
function assertCleanError(r: Run, code: number, pattern: RegExp, what: string): void {
  assert.is(r.code, code, `${what}: exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, pattern, what);
  assert.not.match(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("(add --help"));
  assert.is(lines.length, 1, `${what}: one line: ${JSON.stringify(r.stderr)}`);
  assert.is(r.stdout, "", `${what}: nothing on stdout`);
}

/** RFC 4180 records (CRLF or LF line breaks, quoted fields with "" and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else field += text[i++];
    } else if (c === '"' && field === "") {
      quoted = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r" || c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else field += text[i++];
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

// ---- the fixture: a gateway database as a running gateway leaves it ----

interface Fixture {
  path: string;
  /** The gateway's states as built, for comparison. */
  n1: LWWMap;
  n2: LWWMap;
  c1: PNCounter;
  tags: ORSet;
  /** Deltas logged per doc, in order, and their timestamps. */
  logged: Array<{ doc: string; delta: Uint8Array; ts: number }>;
  dbVersion: number;
}

const NOTE = 'said "hi", then\nleft'; // needs every kind of CSV quoting

function buildFixture(path: string): Fixture {
  const db = openGatewayDb(path, { create: true });
  const nodeClock = new Hlc({ wallClock: () => T0 });
  const gwClock = new Hlc({ wallClock: () => T0 });
  const logged: Fixture["logged"] = [];
  // the node edits its documents; each delta is applied at the gateway, stored, then logged
  const nodeN1 = new LWWMap(NODE, { clock: nodeClock });
  const nodeN2 = new LWWMap(NODE, { clock: nodeClock });
  const nodeC1 = new PNCounter(NODE, { clock: nodeClock });
  const n1 = new LWWMap("gateway-1", { clock: gwClock });
  const n2 = new LWWMap("gateway-1", { clock: gwClock });
  const c1 = new PNCounter("gateway-1", { clock: gwClock });
  const tags = new ORSet("gateway-1", { clock: gwClock });
  const ship = (from: Crdt, to: Crdt, ns: string, id: string, edit: () => void): void => {
    const before = to.version();
    edit();
    const delta = from.delta(before);
    to.applyDelta(delta);
    db.states.save(ns, id, to);
    const ts = nodeClock.now();
    db.recordApplied(NODE, `${ns}/${id}`, delta, ts);
    logged.push({ doc: `${ns}/${id}`, delta, ts });
  };
  ship(nodeN1, n1, "readings", "n1", () => nodeN1.set("temp", 20));
  ship(nodeN1, n1, "readings", "n1", () => nodeN1.set("hum", 40));
  ship(nodeN2, n2, "readings", "n2", () => nodeN2.set("raw", new Uint8Array([0xde, 0xad, 0xbe, 0xef])));
  ship(nodeN1, n1, "readings", "n1", () => nodeN1.set("temp", 21.5));
  ship(nodeN2, n2, "readings", "n2", () => nodeN2.set("note", NOTE));
  ship(nodeN1, n1, "readings", "n1", () => nodeN1.set("mode", "auto"));
  ship(nodeN1, n1, "readings", "n1", () => nodeN1.delete("mode"));
  ship(nodeC1, c1, "counters", "c1", () => nodeC1.incrementBy(5));
  ship(nodeC1, c1, "counters", "c1", () => nodeC1.decrement());
  ship(nodeC1, c1, "counters", "c1", () => nodeC1.increment());
  // a gateway-local document: stored, never logged
  tags.add("greenhouse");
  tags.add("north");
  db.states.save("counters", "tags", tags);
  // a CrdtDb entity at schema 2
  new CrdtDb(db.kv)
    .define({ type: "Sensor", version: 2, migrations: { 1: (v) => ({ ...(v as object), unit: "C" }) } })
    .save("Sensor", "s1", { name: "greenhouse, north", pin: 4, unit: "C" });
  const dbVersion = db.kv.dbVersion();
  db.close();
  return { path, n1, n2, c1, tags, logged, dbVersion };
}

let fixture: Fixture | undefined;
/** One fixture for the read-only commands (built once). */
const shared = (): Fixture => (fixture ??= buildFixture(freshPath("shared")));

// ---- gateway-db ----

test("openGatewayDb: typed errors naming the path; never creates or alters a file unless asked", () => {
  const missing = join(DIR, "missing.db");
  const err = (fn: () => unknown): LichenError => {
    try {
      fn();
    } catch (e) {
      assert.instance(e, LichenError);
      return e as LichenError;
    }
    throw new Error("no error thrown");
  };
  let e = err(() => openGatewayDb(missing));
  assert.is(e.code, "STORAGE");
  assert.ok(e.message.includes(missing), e.message);
  assert.not.ok(existsSync(missing), "no file created");

  const text = join(DIR, "notes.txt");
  writeFileSync(text, "hello, not a database\n");
  e = err(() => openGatewayDb(text));
  assert.is(e.code, "CORRUPT");
  assert.ok(e.message.includes(text), e.message);

  const empty = join(DIR, "empty.db");
  writeFileSync(empty, "");
  assert.is(err(() => openGatewayDb(empty)).code, "CORRUPT");

  const foreign = join(DIR, "foreign.db");
  const other = new Database(foreign);
  other.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  other.close();
  e = err(() => openGatewayDb(foreign));
  assert.is(e.code, "CORRUPT");
  assert.match(e.message, /not a lichen one/);
  assert.is(err(() => openGatewayDb(foreign, { create: true })).code, "CORRUPT", "create never adopts another program's database");
  const check = new Database(foreign, { readonly: true });
  assert.equal(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(), ["t"], "the foreign file is untouched");
  check.close();
  // an empty file, or a SQLite file without tables, becomes a lichen database only with create
  const blank = join(DIR, "blank.db");
  const b = new Database(blank);
  b.pragma("user_version = 7"); // writes the header: a SQLite file without tables
  b.close();
  assert.ok(statSync(blank).size > 0);
  assert.is(err(() => openGatewayDb(blank)).code, "CORRUPT");
  track(openGatewayDb(blank, { create: true })).close();
  track(openGatewayDb(empty, { create: true })).close();
  assert.is(track(openGatewayDb(empty)).schemaVersion(), SQLITE_SCHEMA_VERSION);

  const dir = join(DIR, "a-directory");
  mkdirSync(dir);
  assert.is(err(() => openGatewayDb(dir)).code, "STORAGE");

  // create: true makes a new database (the daemon's case)
  const fresh = freshPath();
  const db = track(openGatewayDb(fresh, { create: true }));
  assert.is(db.schemaVersion(), SQLITE_SCHEMA_VERSION);
  assert.equal(db.logs(), []);
});

test("recordApplied logs [id, delta] per namespace, and works as SyncEngine's onApplied", () => {
  const db = track(openGatewayDb(freshPath(), { create: true }));
  // a node engine and a gateway engine over an in-memory link, frames pumped by hand
  const timers: Array<() => void> = [];
  const scheduler: Scheduler = { now: () => Date.now(), setTimer: (_ms, fn) => (timers.push(fn), () => {}) };
  const queue: Array<[string, string, Uint8Array]> = [];
  const applied: string[] = [];
  const node = new SyncEngine({ replica: NODE, role: "node", kv: new MemoryKv(), scheduler, send: (peer, f) => queue.push([NODE, peer, f]) });
  const gw = new SyncEngine({
    replica: "gateway-1",
    role: "gateway",
    kv: db.kv,
    scheduler,
    send: (peer, f) => queue.push(["gateway-1", peer, f]),
    onApplied: (peer, doc, delta) => {
      applied.push(doc);
      db.recordApplied(peer, doc, delta);
    },
  });
  const engines: Record<string, SyncEngine> = { [NODE]: node, "gateway-1": gw };
  const pump = (): void => {
    for (let i = 0; queue.length > 0 && i < 10_000; i++) {
      const [from, to, frame] = queue.shift()!;
      engines[to]!.receive(from, frame);
    }
    assert.is(queue.length, 0, "the exchange settles");
  };
  node.connect("gateway-1", "gateway");
  gw.connect(NODE, "node");
  pump();
  const m = node.open("readings", NODE, LWWMap);
  m.set("temp", 19.5);
  node.changed("readings", NODE);
  pump();
  m.set("temp", 20);
  node.changed("readings", NODE);
  pump();
  node.close();
  gw.close();
  assert.ok(applied.length >= 2, `the gateway applied the node's deltas (${applied.join(", ")})`);
  const events = db.events("readings").range();
  assert.is(events.length, applied.length, "one event per applied delta");
  for (const ev of events) {
    assert.is(ev.node, NODE);
    const { id, delta } = decodeAppliedEvent(ev.data);
    assert.is(id, NODE);
    assert.ok(delta.length > 0);
  }
  assert.ok(events[1]!.ts > events[0]!.ts, "stamped by an increasing clock");
  assert.equal(db.logs(), ["readings"]);
  const stored = loadCrdt(db.kv.get(stateKey("readings", NODE))!) as LWWMap;
  assert.equal(stored.value(), { temp: 20 });
});

test("appliedOp's record (its data written in place) is the bytes appendOp stores for encodeAppliedEvent's data, and reads back", () => {
  const db = track(openGatewayDb(freshPath(), { create: true }));
  const ts = 1733300000000 * 1024 + 7;
  let seq = 0;
  for (const size of [0, 1, 20, 21, 22, 23, 24, 200, 255, 256, 65535, 65536]) {
    const delta = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
    for (const id of ["n1", "a4cf12b30001", "nœud"]) {
      const op = db.appliedOp(NODE, `readings/${id}`, delta, ts) as KvOp & { type: "put" };
      const want = new EventStore(new MemoryKv(), "readings").appendOp(ts, NODE, encodeAppliedEvent(id, delta));
      assert.is(Buffer.from(op.value).toString("hex"), Buffer.from(want.value).toString("hex"), `${size} bytes, ${id}`);
      assert.is(op.key, eventKey("readings", ++seq));
      db.kv.batch([op]);
      const ev = db.events("readings").range(seq, seq)[0]!;
      assert.equal([ev.ts, ev.node], [ts, NODE]);
      const back = decodeAppliedEvent(ev.data);
      assert.is(back.id, id);
      assert.equal([...back.delta], [...delta]);
    }
  }
});

test("readOnly: reads exactly what SqliteKv reads, writes nothing, refuses writes", () => {
  const path = freshPath("ro");
  buildFixture(path);
  // keys that stress the key encoding: astral characters, U+E000.., a lone surrogate
  const kv = SqliteKv.open(path);
  const odd = ["x/\u{1F600}a", "x/\uE000b", "x/\uD83Dc", "x/plain", "x/\u00e9"];
  odd.forEach((k, i) => kv.put(k, new Uint8Array([i])));
  const keys = kv.keys();
  const values = keys.map((k) => [...kv.get(k)!]);
  const prefixes = ["", statePrefix(), eventPrefix("readings"), "x/", "x/\uD83D", envelopePrefix("Sensor")];
  const byPrefix = prefixes.map((p) => kv.keys(p));
  const version = kv.dbVersion();
  const changes = kv.changesSince(0, { limit: 3 });
  kv.close();
  const mtime = statSync(path).mtimeMs;

  const db = track(openGatewayDb(path, { readOnly: true }));
  assert.ok(db.readOnly);
  assert.equal(db.kv.keys(), keys);
  assert.equal(db.kv.keys().map((k) => [...db.kv.get(k)!]), values);
  assert.equal(prefixes.map((p) => db.kv.keys(p)), byPrefix);
  assert.is(db.kv.dbVersion(), version);
  assert.equal(db.kv.changesSince(0, { limit: 3 }), changes);
  assert.is(db.kv.get("missing"), undefined);
  assert.is(status(db).namespaces.length, 2);
  for (const write of [() => db.kv.put("a", new Uint8Array(1)), () => db.kv.delete("a"), () => db.states.save("readings", "n9", new GCounter("gw")), () => db.recordApplied(NODE, "readings/n1", new Uint8Array(1)), () => db.compact("readings", { threshold: 0 })]) {
    try {
      write();
      assert.unreachable("a write on a read-only database");
    } catch (e) {
      assert.instance(e, LichenError);
      assert.is((e as LichenError).code, "STORAGE");
      assert.match((e as LichenError).message, /opened read-only/);
    }
  }
  db.close();
  assert.is(statSync(path).mtimeMs, mtime, "the file was not written");
});

test("extensions: a module's registerCommands(program) adds commands (the place of `lichen gateway`)", async () => {
  const program = buildProgram();
  const loaded = await registerExtensions(program, ["../../host-tests/gateway/ext-fixture"]);
  assert.equal(loaded, ["../../host-tests/gateway/ext-fixture"]);
  // an absent module is an error that names it, never skipped
  const absent: string[] = [];
  assert.equal(await registerExtensions(buildProgram(), ["no-such-module"], (e) => absent.push(e.message)), []);
  assert.is(absent.length, 1);
  assert.match(absent[0]!, /no-such-module\.js failed to load/);
  const ext = (await import("./ext-fixture.js")) as typeof import("./ext-fixture.js");
  await program.parseAsync(["node", "lichen", "hello", "world", "--loud"]);
  assert.equal(ext.calls, [["world", "loud"]]);
  assert.ok(program.commands.some((c) => c.name() === "hello"));
  // a module without registerCommands is an error that says so (main() prints it as a warning)
  const problems: string[] = [];
  assert.equal(await registerExtensions(buildProgram(), ["progress", "../../host-tests/gateway/ext-fixture"], (e) => problems.push(e.message)), ["../../host-tests/gateway/ext-fixture"]);
  assert.is(problems.length, 1);
  assert.match(problems[0]!, /progress\.ts exports no registerCommands/);
  try {
    await registerExtensions(buildProgram(), ["progress"]);
    assert.unreachable("progress.ts has no registerCommands");
  } catch (e) {
    assert.instance(e, CliError);
    assert.match((e as Error).message, /progress\.ts exports no registerCommands/);
  }
});

test("lichen status: size, db_version, namespaces with counts and types, event logs, versions", async () => {
  const f = shared();
  const r = await lichen("status", f.path);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, "");
  const s = r.stdout;
  assert.ok(s.includes(`file        ${f.path}`), s);
  assert.match(s, /^size\s+\d+(\.\d)? (B|KiB|MiB) \(\d+ bytes\)/m);
  assert.match(s, new RegExp(`^schema\\s+${SQLITE_SCHEMA_VERSION} \\(this lichen: ${SQLITE_SCHEMA_VERSION}\\)$`, "m"));
  assert.match(s, /^formats\s+state payloads 1 \(this lichen: 1\); envelopes 1 \(this lichen: 1\)$/m);
  assert.match(s, new RegExp(`^db_version\\s+${f.dbVersion}$`, "m"));
  assert.match(s, /^\s+counters\s+2 entities\s+ORSet: 1, PNCounter: 1$/m);
  assert.match(s, /^\s+readings\s+2 entities\s+LWWMap: 2$/m);
  assert.match(s, /^\s+Sensor\s+1 entity\s+schema v2: 1$/m);
  assert.match(s, /^\s+counters\s+3\s+1\.\.3\s+none$/m);
  assert.match(s, /^\s+readings\s+7\s+1\.\.7\s+none$/m);

  const j = await lichen("status", f.path, "--json");
  assert.is(j.code, 0, j.stderr);
  const rep = JSON.parse(j.stdout);
  assert.is(rep.dbVersion, f.dbVersion);
  assert.is(rep.schemaVersion, SQLITE_SCHEMA_VERSION);
  assert.ok(rep.fileBytes > 0);
  assert.equal(rep.mirror, { entities: 5, changes: rep.mirror.changes });
  assert.equal(
    rep.namespaces.map((n: { namespace: string; entities: number; types: object }) => [n.namespace, n.entities, n.types]),
    [
      ["counters", 2, { PNCounter: 1, ORSet: 1 }],
      ["readings", 2, { LWWMap: 2 }],
    ],
  );
  assert.equal(rep.envelopes, [{ type: "Sensor", entities: 1, schemaVersions: { 2: 1 }, formats: [1] }]);
  assert.equal(rep.logs, [
    { namespace: "counters", events: 3, firstSeq: 1, lastSeq: 3, snapshot: null },
    { namespace: "readings", events: 7, firstSeq: 1, lastSeq: 7, snapshot: null },
  ]);
  assert.is(rep.otherKeys, 0);
});

test("lichen inspect: type, value, version vector, size; --json", async () => {
  const f = shared();
  const [text, json, env, bytesEntity] = await Promise.all([
    lichen("inspect", f.path, "readings/n1"),
    lichen("inspect", f.path, "readings/n1", "--json"),
    lichen("inspect", f.path, "Sensor/s1"),
    lichen("inspect", f.path, "readings/n2", "--json"),
  ]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^entity\s+readings\/n1$/m);
  assert.match(text.stdout, /^kind\s+CRDT state \(key s\/readings\/n1, payload format 1\)$/m);
  assert.match(text.stdout, /^type\s+LWWMap$/m);
  assert.match(text.stdout, /^owner\s+gateway-1$/m);
  assert.match(text.stdout, /^value\s+\{"hum":40,"temp":21\.5\}$/m);
  assert.ok(text.stdout.includes(`version   ${JSON.stringify(f.n1.version().toJSON())}`), text.stdout);
  assert.not.match(text.stdout, /^events/m, "no events without --events");

  assert.is(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  assert.is(info.kind, "state");
  assert.is(info.type, "LWWMap");
  assert.equal(info.value, { hum: 40, temp: 21.5 });
  assert.equal(info.version, f.n1.version().toJSON());
  assert.is(info.size, f.n1.toBytes().length);
  assert.is(info.format, 1);
  assert.is(info.log, undefined);

  assert.is(env.code, 0, env.stderr);
  assert.match(env.stdout, /^kind\s+CrdtDb entity \(key d\/Sensor\/s1, envelope format 1\)$/m);
  assert.match(env.stdout, /^type\s+Sensor@2$/m);
  assert.match(env.stdout, /^schema\s+stored at version 2/m);
  assert.match(env.stdout, /^value\s+\{"name":"greenhouse, north","pin":4,"unit":"C"\}$/m);

  const n2 = JSON.parse(bytesEntity.stdout);
  assert.equal(n2.value, { note: NOTE, raw: { $bytes: "deadbeef" } }, "bytes as in the SQL mirror");
});

test("lichen inspect --events: the entity's events (seq, time, node, delta size) and the snapshot", async () => {
  const f = shared();
  const [text, json, local, last] = await Promise.all([
    lichen("inspect", f.path, "readings/n1", "--events"),
    lichen("inspect", f.path, "readings/n1", "--events", "--json"),
    lichen("inspect", f.path, "counters/tags", "--events", "--json"),
    lichen("inspect", f.path, "readings/n1", "--events", "--last", "2", "--json"),
  ]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^events\s+5 events of this entity in log readings \(7 events, seq 1\.\.7\)$/m);
  const mine = f.logged.filter((l) => l.doc === "readings/n1");
  const rows = text.stdout.split("\n").filter((l) => /^\s+\d+\s+\d{4}-\d\d-\d\dT/.test(l));
  assert.is(rows.length, 5, text.stdout);
  assert.match(rows[0]!, new RegExp(`^\\s+1\\s+2025-01-15T12:00:00\\.000Z\\s+${NODE}\\s+${mine[0]!.delta.length} B$`));
  assert.match(text.stdout, /^snapshot\s+none$/m);

  const info = JSON.parse(json.stdout);
  assert.equal(
    info.log.entityEvents.map((e: { seq: number; node: string; deltaBytes: number; ts: number; time: string }) => [e.seq, e.node, e.deltaBytes, e.ts, e.time]),
    mine.map((l, i) => [[1, 2, 4, 6, 7][i], NODE, l.delta.length, l.ts, new Date(T0).toISOString()]),
  );
  assert.equal([info.log.events, info.log.firstSeq, info.log.lastSeq, info.log.entityEventCount, info.log.unreadable, info.log.snapshot], [7, 1, 7, 5, 0, null]);

  const lastTwo = JSON.parse(last.stdout);
  assert.equal(lastTwo.log.entityEvents.map((e: { seq: number }) => e.seq), [6, 7], "--last 2");
  assert.is(lastTwo.log.entityEventCount, 5);

  const tags = JSON.parse(local.stdout);
  assert.equal(tags.value, ["greenhouse", "north"]);
  assert.equal(tags.log.entityEvents, [], "a gateway-local document has no events in its namespace's log");
});

test("lichen compact: snapshot at the last seq, events dropped, states still loadable; --dry-run changes nothing", async () => {
  const path = freshPath("compact");
  const f = buildFixture(path);
  const dry = await lichen("compact", path, "--threshold", "3", "--dry-run");
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^counters: 3 events \(seq 1\.\.3\), not over 3: left as is$/m);
  assert.match(dry.stdout, /^readings: 7 events \(seq 1\.\.7\): snapshot at seq 7 \(2 entities, \d+ bytes\), would drop 7 events$/m);
  let db = track(openGatewayDb(path));
  assert.is(db.events("readings").range().length, 7, "a dry run drops nothing");
  assert.is(db.events("readings").snapshot(), undefined);
  db.close();

  const r = await lichen("compact", path, "--threshold", "3");
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^readings: 7 events \(seq 1\.\.7\): snapshot at seq 7 \(2 entities, \d+ bytes\), dropped 7 events$/m);
  assert.match(r.stdout, /^compacted 1 of 2 logs, dropped 7 events$/m);

  db = track(openGatewayDb(path));
  const log = db.events("readings");
  assert.equal(log.range(), [], "the events are gone");
  assert.is(log.lastSeq, 7, "seq numbering goes on from the snapshot");
  const snap = log.snapshot()!;
  assert.is(snap.seq, 7);
  const entries = decodeNamespaceSnapshot(snap.state);
  assert.equal(entries.map(([id]) => id), ["n1", "n2"]);
  const s1 = loadCrdt(entries[0]![1]) as LWWMap;
  assert.ok(s1.equals(f.n1), "the snapshot's state is the entity's state");
  assert.ok((loadCrdt(entries[1]![1]) as LWWMap).equals(f.n2));
  assert.ok((db.states.load("readings", "n1", (b) => LWWMap.fromBytes(b)) as LWWMap).equals(f.n1), "the state itself is untouched and loadable");
  assert.is(db.events("counters").range().length, 3, "a log under the threshold is kept");
  // the log goes on after compaction
  assert.is(db.recordApplied(NODE, "readings/n1", f.n1.delta(), physical()), 8);
  db.close();

  const after = await lichen("inspect", path, "readings/n1", "--events");
  assert.match(after.stdout, /^events\s+1 event of this entity in log readings \(1 event, seq 8\.\.8\)$/m);
  assert.match(after.stdout, /^snapshot\s+at seq 7, \d+ bytes, 2 entities; this entity: \d+ bytes$/m);
  const st = JSON.parse((await lichen("status", path, "--json")).stdout);
  assert.equal(st.logs[1].snapshot.seq, 7);
  assert.equal(st.logs[1].snapshot.entities, 2);

  // the default threshold (1000) leaves these small logs alone; --json reports it
  const j = await lichen("compact", path, "--json");
  assert.is(j.code, 0, j.stderr);
  const res = JSON.parse(j.stdout);
  assert.is(res.threshold, 1000);
  assert.equal(res.logs.map((l: { compacted: boolean }) => l.compacted), [false, false]);
});

const physical = (): number => new Hlc({ wallClock: () => T0 + 60_000 }).now();

test("lichen export: JSON and CSV, parsed back, equal to the SQL mirror; --namespace, --out", async () => {
  const f = shared();
  const [json, csv, ns] = await Promise.all([
    lichen("export", f.path),
    lichen("export", f.path, "--format", "csv"),
    lichen("export", f.path, "--namespace", "readings", "--format", "json"),
  ]);
  assert.is(json.code, 0, json.stderr);
  assert.is(json.stderr, "");
  const rows = JSON.parse(json.stdout) as Array<{ namespace: string; id: string; type: string; value: unknown }>;
  assert.equal(
    rows.map((r) => [r.namespace, r.id, r.type]),
    [
      ["counters", "c1", "PNCounter"],
      ["counters", "tags", "ORSet"],
      ["readings", "n1", "LWWMap"],
      ["readings", "n2", "LWWMap"],
      ["Sensor", "s1", "Sensor@2"],
    ],
  );
  assert.equal(rows[0]!.value, 5);
  assert.equal(rows[3]!.value, { note: NOTE, raw: { $bytes: "deadbeef" } });
  // the same as the SQL mirror, text for text
  const sql = new Database(f.path, { readonly: true });
  const mirror = sql.prepare("SELECT namespace, id, type, value FROM lichen_entities ORDER BY namespace, id").all() as Array<{ namespace: string; id: string; type: string; value: string }>;
  sql.close();
  const byKey = new Map(mirror.map((m) => [`${m.namespace}/${m.id}`, m]));
  for (const r of rows) assert.equal(r.value, JSON.parse(byKey.get(`${r.namespace}/${r.id}`)!.value), `${r.namespace}/${r.id} as in the mirror`);

  assert.is(csv.code, 0, csv.stderr);
  assert.ok(csv.stdout.includes("\r\n"), "RFC 4180 line breaks");
  const records = parseCsv(csv.stdout);
  assert.equal(records[0], ["namespace", "id", "type", "value"]);
  assert.is(records.length, 6);
  for (let i = 0; i < rows.length; i++) {
    const [n, id, type, value] = records[i + 1]!;
    assert.equal([n, id, type], [rows[i]!.namespace, rows[i]!.id, rows[i]!.type]);
    assert.equal(JSON.parse(value!), rows[i]!.value, `CSV value of ${n}/${id}`);
  }
  assert.ok(csv.stdout.includes('"{""note"":""said \\""hi\\"", then\\nleft""'), "quotes doubled inside a quoted field");

  assert.equal((JSON.parse(ns.stdout) as typeof rows).map((r) => r.id), ["n1", "n2"]);

  const out = join(DIR, "export.csv");
  const toFile = await lichen("export", f.path, "--format", "csv", "--out", out);
  assert.is(toFile.code, 0, toFile.stderr);
  assert.is(toFile.stdout, "");
  assert.match(toFile.stderr, /^exported 5 entities to /);
  assert.is(readFileSync(out, "utf8"), csv.stdout);

  // a namespace that is not there is an error, as it is for compact (not an empty export)
  const none = await lichen("export", f.path, "--namespace", "nothing-here");
  assert.is(none.code, 1);
  assert.match(none.stderr, /no namespace or CrdtDb type nothing-here/);
  assert.is(none.stdout, "");
});

test("errors: bad flags, unknown command → exit 2; missing, non-SQLite, foreign, damaged file → one clear line, exit 1", async () => {
  const f = shared();
  const text = join(DIR, "readme.txt");
  writeFileSync(text, "not a database at all\n");
  const foreign = join(DIR, "other-app.db");
  const other = new Database(foreign);
  other.exec("CREATE TABLE t (x)");
  other.close();
  // a lichen file whose pages after the header are garbage
  const damaged = join(DIR, "damaged.db");
  const good = readFileSync(f.path);
  const bad = Buffer.alloc(Math.max(good.length, 8192), 0xa5);
  good.copy(bad, 0, 0, 100);
  writeFileSync(damaged, bad);
  const missing = join(DIR, "nope", "gw.db");

  const runs = await Promise.all([
    lichen("status", f.path, "--bogus"),
    lichen("frobnicate", f.path),
    lichen("compact", f.path, "--threshold", "many"),
    lichen("export", f.path, "--format", "xml"),
    lichen("inspect", f.path),
    lichen("status", missing),
    lichen("status", text),
    lichen("inspect", text, "readings/n1"),
    lichen("status", foreign),
    lichen("export", damaged),
    lichen("inspect", f.path, "readings/n9"),
    lichen("inspect", f.path, "no-slash"),
    lichen("export", f.path, "--out", join(DIR, "no-such-dir", "x.json")),
    lichen("compact", f.path, "--namespace", "nothing"),
    lichen(),
  ]);
  const [bogus, unknown, threshold, format, missingArg, missingFile, notSqlite, notSqlite2, notLichen, damagedRun, noEntity, badEntity, badOut, noLog, noArgs] = runs;
  assertCleanError(bogus!, 2, /unknown option '--bogus'/, "unknown option");
  assertCleanError(unknown!, 2, /unknown command 'frobnicate'/, "unknown command");
  assertCleanError(threshold!, 2, /--threshold <n>.*'many' is invalid/, "bad --threshold");
  assertCleanError(format!, 2, /'xml' is invalid.*json, csv/, "bad --format");
  assertCleanError(missingArg!, 2, /missing required argument 'entity'/, "missing argument");
  assertCleanError(missingFile!, 1, new RegExp(`^lichen: ${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: no such file \\[STORAGE\\]$`, "m"), "missing file");
  assertCleanError(notSqlite!, 1, /^lichen: .*readme\.txt: not a SQLite database \(no SQLite header\) \[CORRUPT\]$/m, "not SQLite");
  assertCleanError(notSqlite2!, 1, /readme\.txt: not a SQLite database .*\[CORRUPT\]/, "not SQLite (inspect)");
  assertCleanError(notLichen!, 1, /other-app\.db: a SQLite database, but not a lichen one .*\[CORRUPT\]/, "foreign SQLite");
  assertCleanError(damagedRun!, 1, /damaged\.db.*\[CORRUPT\]/, "damaged file");
  assertCleanError(noEntity!, 1, /^lichen: no entity readings\/n9 in .* \(namespaces: counters, readings\)$/m, "missing entity");
  assertCleanError(badEntity!, 1, /an entity is "namespace\/id".*\[INVALID_ARGUMENT\]/, "bad entity");
  assertCleanError(badOut!, 1, /^lichen: cannot write .*x\.json: /m, "unwritable --out");
  assertCleanError(noLog!, 1, /namespace nothing has no event log .*\(logs: counters, readings\)/, "compact of a missing log");
  assert.is(noArgs!.code, 2, "no command: usage, exit 2");
  assert.match(noArgs!.stderr, /Usage: lichen/);
  assert.not.ok(existsSync(join(DIR, "nope")), "nothing created for a missing path");
  const check = new Database(foreign, { readonly: true });
  assert.equal(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all(), ["t"], "a foreign file is left untouched");
  check.close();
});

test("--help, --version, help per command", async () => {
  const [help, version, statusHelp, exportHelp, helpCmd] = await Promise.all([
    lichen("--help"),
    lichen("--version"),
    lichen("status", "--help"),
    lichen("export", "--help"),
    lichen("help", "compact"),
  ]);
  assert.is(help.code, 0);
  for (const c of ["status", "inspect", "compact", "export"]) assert.match(help.stdout, new RegExp(`^  ${c} `, "m"));
  assert.is(version.code, 0);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };
  assert.is(version.stdout.trim(), pkg.version);
  assert.is(pkg.bin.lichen, "./bin/lichen.js");
  assert.is(statusHelp.code, 0);
  assert.match(statusHelp.stdout, /Usage: lichen status \[options\] <db>/);
  assert.match(exportHelp.stdout, /--format <format>.*\(choices: "json", "csv", default: "json"\)/s);
  assert.is(helpCmd.code, 0);
  assert.match(helpCmd.stdout, /--threshold <n>.*\(default: 1000\)/s);
});

test("stopping and reopening keeps everything: after close(), and after a writer is killed", async () => {
  const path = freshPath("reopen");
  buildFixture(path);
  const snapshotOf = (db: GatewayDb): unknown => ({
    status: { ...status(db), fileBytes: 0, walBytes: 0 },
    entities: [...exportRows(db, exportPlan(db))],
    n1: inspect(db, "readings/n1", { events: true }),
    events: db.logs().map((ns) => db.events(ns).range().map((e) => [e.seq, e.ts, e.node, [...e.data]])),
  });
  let db = track(openGatewayDb(path));
  const before = snapshotOf(db);
  db.close();
  db = track(openGatewayDb(path));
  assert.equal(snapshotOf(db), before, "close and reopen");
  db.close();

  // a writer process that stores a state and logs an event, says so, and is killed (no close)
  const script = join(DIR, "writer.ts");
  const mod = pathToFileURL(join(ROOT, "targets/rpi/gateway-db.ts")).href;
  const core = pathToFileURL(join(ROOT, "src/index.ts")).href;
  writeFileSync(
    script,
    `import { openGatewayDb } from ${JSON.stringify(mod)};
import { GCounter } from ${JSON.stringify(core)};
const db = openGatewayDb(process.argv[2]);
const c = new GCounter("gateway-1");
c.incrementBy(42);
db.states.save("counters", "killed", c);
db.recordApplied(${JSON.stringify(NODE)}, "counters/killed", c.delta());
process.stdout.write("written\\n");
setInterval(() => {}, 1000);
`,
  );
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, path], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the writer did not report in time: ${err}`));
    }, CLI_TIMEOUT_MS);
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      if (s.includes("written")) child.kill("SIGKILL");
    });
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`the writer exited by itself: ${err}`));
    });
  });
  db = track(openGatewayDb(path));
  const after = snapshotOf(db) as { entities: unknown[]; events: unknown[][] };
  assert.equal(db.states.load("counters", "killed", (b) => loadCrdt(b))?.value(), 42, "the killed writer's state is there");
  assert.is(after.events[0]!.length, 4, "and its event");
  const kept = before as { entities: unknown[]; events: unknown[][] };
  assert.equal(after.events[1], kept.events[1], "the rest as it was");
  assert.is(after.entities.length, kept.entities.length + 1);
  db.close();
  const r = await lichen("inspect", path, "counters/killed", "--events");
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^value\s+42$/m);
  assert.match(r.stdout, /^events\s+1 event of this entity in log counters/m);
});

test("the progress bar draws only on a terminal, and clears its line", () => {
  const writes: string[] = [];
  const stream = { isTTY: false, columns: 80, write: (s: string) => writes.push(s) };
  const quiet = progress("exporting", 10, { stream });
  for (let i = 0; i < 10; i++) quiet.tick();
  quiet.done();
  assert.equal(writes, [], "nothing on a pipe or file");
  let t = 0;
  const bar = progress("exporting", 4, { stream: { ...stream, isTTY: true }, now: () => (t += 50), intervalMs: 100, delayMs: 0 });
  for (let i = 0; i < 4; i++) bar.tick();
  bar.done();
  assert.ok(writes.length >= 2 && writes.length <= 4, `throttled: ${writes.length} draws`);
  assert.match(writes[writes.length - 2]!, /\[#+\] 100% 4\/4 exporting/);
  assert.is(writes[writes.length - 1], "\r\x1b[K", "cleared when done");
  writes.length = 0;
  const quick = progress("exporting", 4, { stream: { ...stream, isTTY: true }, now: () => 0 });
  for (let i = 0; i < 4; i++) quick.tick();
  quick.done();
  assert.equal(writes, [], "work done within the delay draws nothing");
});

test.run();
