// The gateway's write path on its SQLite file with incremental states (GATEWAY_TAILS): a large
// document's deltas are stored alone after its base, and everything that reads the file reads
// the whole state: the gateway restarted, a read-only CLI (inspect, export, status, compact), and
// the SQL mirror of docs/sql.md.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hlc } from "../../src/core/hlc.js";
import { LWWMap } from "../../src/core/maps.js";
import { stateKey, tailPrefix } from "../../src/store/keys.js";
import { MemoryKv } from "../../src/store/kv.js";
import { SyncEngine } from "../../src/transport/sync-engine.js";
import { LoopTime } from "../../sim/network/loop-time.js";
import { openGatewayDb, type GatewayDb } from "../../targets/rpi/gateway-db.js";
import { gatewayWritePath } from "../../targets/rpi/gateway-ingest.js";
import { exportPlan, exportRows, inspect, status } from "../../targets/rpi/report.js";

const KEYS = 3000;

function gatewayOn(db: GatewayDb, time: LoopTime, out: Array<[string, Uint8Array]>): SyncEngine {
  const clock = new Hlc({ wallClock: () => time.t });
  let engine: SyncEngine | undefined;
  engine = new SyncEngine({
    replica: "gw",
    role: "gateway",
    kv: db.kv,
    scheduler: time,
    clock,
    send: (to, f) => out.push([to, f]),
    antiEntropyMs: 7 * 24 * 3600_000,
    ...gatewayWritePath({ db, engine: () => engine, stamp: () => clock.now(), now: () => time.t }),
  });
  return engine;
}

test("a large map's deltas land in its tail; the restarted gateway, the CLI and the SQL mirror read the whole state", () => {
  const dir = mkdtempSync(join(tmpdir(), "lichen-tails-"));
  try {
    const path = join(dir, "gateway.db");
    const time = new LoopTime();
    time.t = 1_700_000_000_000;
    let db = openGatewayDb(path, { create: true });
    const out: Array<[string, Uint8Array]> = [];
    const toGw: Uint8Array[] = [];
    let gw = gatewayOn(db, time, out);
    const node = new SyncEngine({ replica: "n1", role: "node", kv: new MemoryKv(), scheduler: time, clock: new Hlc({ wallClock: () => time.t }), send: (_to, f) => toGw.push(f), antiEntropyMs: 7 * 24 * 3600_000 });
    const map = node.open("config", "n1", LWWMap<number>);
    for (let i = 0; i < KEYS; i++) map.set(`k${i}`, i);
    node.changed("config", "n1");
    const settle = (): void => {
      for (let moved = true; moved; ) {
        moved = false;
        for (const f of toGw.splice(0)) (gw.receive("n1", f), (moved = true));
        if (time.turn()) moved = true;
        for (const [to, f] of out.splice(0)) if (to === "n1") (node.receive("gw", f), (moved = true));
      }
    };
    gw.connect("n1", "node");
    node.connect("gw", "gateway");
    settle();
    const base = db.kv.get(stateKey("config", "n1"))!;
    assert.ok(base.length > 30000, `a base of ${base.length} bytes`);
    for (let s = 1; s <= 5; s++) {
      time.t += 1000;
      map.set(`k${s}`, -s);
      map.set(`new${s}`, s);
      node.changed("config", "n1");
      settle();
    }
    assert.is(db.kv.keys(tailPrefix()).length, 5, "five deltas, five tail entries");
    assert.equal(db.kv.get(stateKey("config", "n1")), base, "the base was not rewritten");
    assert.ok(gw.get("config/n1")!.equals(map));

    // the read-only CLI's reads, on the file as the daemon left it
    const ro = openGatewayDb(path, { readOnly: true });
    try {
      const info = inspect(ro, "config/n1")!;
      assert.equal(info.value, map.value());
      const rows = [...exportRows(ro, exportPlan(ro, "config"))];
      assert.equal(rows.map((r) => JSON.parse(r.valueJson)), [map.value()]);
      assert.equal(status(ro).namespaces.find((n) => n.namespace === "config")?.types, { LWWMap: 1 });
      // the SQL mirror (docs/sql.md): patched in place, whole
      const v = ro.sql.prepare("SELECT json_extract(value, '$.k3') AS k3, json_extract(value, '$.new5') AS new5, (SELECT count(*) FROM json_each(e.value)) AS n FROM lichen_entities e WHERE namespace = 'config' AND id = 'n1'").get() as { k3: number; new5: number; n: number };
      assert.equal(v, { k3: -3, new5: 5, n: KEYS + 5 });
    } finally {
      ro.close();
    }

    // the gateway restarts: its document is the base with the tail applied
    gw.close();
    db.close();
    db = openGatewayDb(path, { create: true });
    out.length = 0;
    gw = gatewayOn(db, time, out);
    assert.ok(gw.get("config/n1")!.equals(map), "reloaded: base + tail = the node's map");
    assert.equal(gw.get("config/n1")!.toBytes(), db.states.storedBytes("config", "n1"));
    // and goes on appending after the tail it read
    gw.connect("n1", "node");
    node.disconnect("gw");
    node.connect("gw", "gateway");
    time.t += 1000;
    map.set("k0", 1234);
    node.changed("config", "n1");
    settle();
    assert.is(db.kv.keys(tailPrefix()).length, 6);
    assert.ok(gw.get("config/n1")!.equals(map));
    // compact: the namespace's snapshot holds the whole states
    const c = db.compact("config", { threshold: 0 });
    assert.ok(c.compacted);
    gw.close();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
