// SQLite ingest on the gateway: merged deltas per second through SqliteKv, with the SQL mirror.
//
// Scenario: 100 LWWMap entities (sensor nodes, namespace "readings"), each written by its own
// node replica. 20,000 small deltas (one field set: temp, hum, battery or raw bytes) are made
// beforehand, as a gateway would receive them. Timed: the gateway applies each delta to its copy
// of the entity (applyDelta), and after every `batchSize` deltas persists the state of each
// entity they touched through ONE SqliteKv.batch: the state's bytes (toBytes) as the KvStore op,
// and the entity's value() as its EntityView (one lichen_entities row upserted and one
// lichen_changes row appended per touched entity, one db_version per batch). So a batch of 100
// deltas writes at most 100 entity rows in one transaction; a batch of 1 writes one row and
// commits (and, with synchronous=FULL, syncs the WAL) once per delta.
//
// Each configuration (synchronous FULL/NORMAL × batch size 1/10/100) starts from a fresh
// database file and fresh gateway state and applies the same deltas. `rows` is the number of
// entity rows (lichen_entities) the run maintains; `deltas` how many were ingested.
//
//   npx tsx bench/sqlite-ingest.ts        prints the table (bench/run.ts imports the function)
//
// The file lives in os.tmpdir() unless `dir` is given: put it on the disk the gateway will use
// (an SD card syncs far slower than an SSD, and a tmpfs not at all), or FULL is meaningless.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { LWWMap } from "../src/core/index.js";
import type { EntityView, KvOp } from "../src/store/kv.js";
import { stateKey } from "../src/store/keys.js";
import { SqliteKv, type SqliteSynchronous } from "../src/store/sqlite.js";

export interface SqliteIngestResult {
  /** Entity rows maintained (lichen_entities): the number of entities. */
  rows: number;
  /** Deltas merged per SqliteKv.batch (one transaction). */
  batchSize: number;
  /** Deltas applied and persisted per second, including applyDelta, toBytes and value(). */
  deltasPerSecond: number;
  /** SQLite's synchronous setting for the run: "FULL" (durable at return) or "NORMAL". */
  synchronous: string;
  /** Deltas ingested in the run. */
  deltas: number;
  /** Wall-clock seconds of the run. */
  seconds: number;
}

export interface SqliteIngestOptions {
  entities?: number;
  deltas?: number;
  batchSizes?: readonly number[];
  synchronous?: readonly SqliteSynchronous[];
  /** Where the database files go (default: os.tmpdir()). */
  dir?: string;
}

interface Delta {
  entity: number;
  bytes: Uint8Array;
}

/** The deltas, made once: node i sets one field of its map per delta, round robin over nodes. */
function makeDeltas(entities: number, count: number): Delta[] {
  const nodes = Array.from({ length: entities }, (_, i) => new LWWMap(`n${i}`));
  const out: Delta[] = [];
  for (let k = 0; k < count; k++) {
    const entity = k % entities;
    const node = nodes[entity]!;
    const before = node.version();
    switch ((k / entities) % 4 | 0) {
      case 0:
        node.set("temp", Math.round((15 + Math.sin(k) * 10) * 100) / 100);
        break;
      case 1:
        node.set("hum", 40 + (k % 30));
        break;
      case 2:
        node.set("battery", 3.3 - (k % 100) / 1000);
        break;
      default:
        node.set("raw", new Uint8Array([k & 0xff, (k >> 8) & 0xff, 0xa5, 0x5a]));
    }
    out.push({ entity, bytes: node.delta(before) });
  }
  return out;
}

function ingest(kv: SqliteKv, deltas: readonly Delta[], entities: number, batchSize: number): void {
  const gateway = Array.from({ length: entities }, (_, i) => new LWWMap(`n${i}`));
  const touched = new Set<number>();
  for (let i = 0; i < deltas.length; i += batchSize) {
    const end = Math.min(deltas.length, i + batchSize);
    for (let j = i; j < end; j++) {
      const d = deltas[j]!;
      gateway[d.entity]!.applyDelta(d.bytes);
      touched.add(d.entity);
    }
    const ops: KvOp[] = [];
    const views: EntityView[] = [];
    for (const e of touched) {
      const map = gateway[e]!;
      ops.push({ type: "put", key: stateKey("readings", `n${e}`), value: map.toBytes() });
      views.push({ namespace: "readings", id: `n${e}`, type: "LWWMap", value: map.value() });
    }
    touched.clear();
    kv.batch(ops, views);
  }
}

/** Measures SQLite ingest of merged deltas: one result per (synchronous, batch size). */
export async function benchSqliteIngest(options: SqliteIngestOptions = {}): Promise<SqliteIngestResult[]> {
  const entities = options.entities ?? 100;
  const count = options.deltas ?? 20_000;
  const batchSizes = options.batchSizes ?? [1, 10, 100];
  const modes = options.synchronous ?? (["FULL", "NORMAL"] as const);
  const dir = mkdtempSync(join(options.dir ?? tmpdir(), "lichen-bench-sqlite-"));
  const deltas = makeDeltas(entities, count);
  const results: SqliteIngestResult[] = [];
  try {
    // warm-up: JIT the merge and the driver on a throwaway file, untimed
    const warm = SqliteKv.open(join(dir, "warmup.db"), { synchronous: "NORMAL" });
    ingest(warm, deltas.slice(0, Math.min(2_000, count)), entities, 10);
    warm.close();
    let run = 0;
    for (const synchronous of modes) {
      for (const batchSize of batchSizes) {
        const kv = SqliteKv.open(join(dir, `run${++run}.db`), { synchronous });
        const t0 = performance.now();
        ingest(kv, deltas, entities, batchSize);
        const seconds = (performance.now() - t0) / 1000;
        kv.close();
        results.push({ rows: entities, batchSize, deltasPerSecond: Math.round(count / seconds), synchronous, deltas: count, seconds });
        await new Promise((r) => setImmediate(r)); // let the event loop breathe between runs
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

// Run on its own: print a table.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const results = await benchSqliteIngest();
  console.log(`SQLite ingest (SqliteKv.batch with views), ${process.platform}/${process.arch}, node ${process.version}, files in ${tmpdir()}`);
  console.log("| synchronous | entity rows | batch size | deltas | seconds | deltas/s |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(`| ${r.synchronous} | ${r.rows} | ${r.batchSize} | ${r.deltas} | ${r.seconds.toFixed(2)} | ${r.deltasPerSecond.toLocaleString("en-US")} |`);
  }
}
