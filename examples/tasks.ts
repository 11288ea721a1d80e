/**
 * `npm run example:tasks`: the full stack, from a schema to the event log.
 *
 * 1. Schema: Task v1 = title (LWWRegister<string>), done (LWWRegister<boolean>), tags (ORSet<string>);
 *    v2 adds priority (a number, default 3).
 * 2. Code generation: `generate(...)` (src/schema/codegen.ts) writes the v1 and the v2 code into a
 *    temp dir; the example imports that *generated* code (openDb, openTask, storeTask) at run time.
 * 3. Migration: the v1 app stores tasks; the v2 app opens the same KvStore and reads them as v2.
 * 4. Event log: each change is appended to an EventStore as the changed field's delta; the log is
 *    then compacted into a snapshot, and a replica rebuilt from snapshot + later events matches.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  CrdtDb,
  EventStore,
  Hlc,
  MemoryKv,
  VersionVector,
  crdt,
  decodeCbor,
  defineEntity,
  defineSchema,
  encodeCbor,
  generate,
  openEntity,
  plain,
  type Crdt,
  type CrdtOptions,
  type KvStore,
  type LWWRegister,
  type ORSet,
  type Value,
} from "../src/index.js";
import { SimClock, type Log } from "./_shared.js";

const v1Fields = { title: crdt.lwwRegister(plain.string()), done: crdt.lwwRegister(plain.boolean()), tags: crdt.orSet(plain.string()) };
export const TaskV1 = defineEntity({ name: "Task", versions: [{ fields: v1Fields }] });
export const TaskV2 = defineEntity({
  name: "Task",
  versions: [{ fields: v1Fields }, { add: { priority: { type: plain.number(), default: 3, doc: "1 (urgent) to 5" } } }],
});

/** What the example uses of the generated module (its `index.ts`). */
interface TaskLive {
  title: LWWRegister<string>;
  done: LWWRegister<boolean>;
  tags: ORSet<string>;
  priority?: number;
}
interface GeneratedTasks {
  taskVersion: number;
  openDb(kv: KvStore): CrdtDb;
  openTask(value: unknown, replica: string, options?: CrdtOptions): TaskLive;
  storeTask(live: TaskLive): Value;
}

/** Generates the schema's code into `dir` and imports it. */
async function generateAndImport(entity: typeof TaskV1 | typeof TaskV2, dir: string): Promise<{ mod: GeneratedTasks; files: string[] }> {
  mkdirSync(dir, { recursive: true });
  const src = fileURLToPath(new URL("../src", import.meta.url));
  let runtime = relative(dir, src).split(sep).join("/");
  if (!runtime.startsWith(".")) runtime = `./${runtime}`;
  const files = generate(defineSchema(entity), { runtime, source: "tasks example" });
  for (const f of files) writeFileSync(join(dir, f.path), f.contents);
  // ES modules, like lichen: otherwise the generated code would load a second copy of lichen (CommonJS)
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const mod = (await import(pathToFileURL(join(dir, "index.ts")).href)) as GeneratedTasks;
  return { mod, files: files.map((f) => f.path) };
}

export interface TasksResult {
  ok: boolean;
  generated: string[];
  migrated: { t1: { title: string | undefined; done: boolean | undefined; tags: string[]; priority: number | undefined } };
  storedVersion: number | undefined;
  events: { appended: number; droppedByCompaction: number; afterCompaction: number; snapshotSeq: number | undefined };
  replayMatches: boolean;
}

export async function main(log: Log = () => {}): Promise<TasksResult> {
  const clock = new SimClock();
  const options = { clock: new Hlc({ wallClock: clock.now }) };
  const tmp = mkdtempSync(join(tmpdir(), "lichen-tasks-"));
  try {
    const v1 = await generateAndImport(TaskV1, join(tmp, "v1"));
    const v2 = await generateAndImport(TaskV2, join(tmp, "v2"));
    log(`generated (v1 and v2): ${v2.files.join(", ")} (into a temp dir, imported at run time)`);

    const kv = new MemoryKv();
    const events = new EventStore(kv, "tasks");
    let appended = 0;
    /** Runs a change on one field of a task and appends its delta to the event log. */
    const change = <C extends Crdt>(id: string, field: string, c: C, edit: (c: C) => void): void => {
      const before = new VersionVector(c.version().map);
      edit(c);
      events.append(clock.ms, "laptop", encodeCbor([id, field, c.delta(before)]));
      appended++;
    };

    // --- the v1 app ---
    {
      const db = v1.mod.openDb(kv);
      const t1 = v1.mod.openTask({}, "laptop", options);
      change("t1", "title", t1.title, (r) => r.set("write the examples"));
      change("t1", "done", t1.done, (r) => r.set(false));
      change("t1", "tags", t1.tags, (s) => s.add("docs"));
      db.save("Task", "t1", v1.mod.storeTask(t1));
      log(`v1 app: stored task t1 "${t1.title.get()}" (version ${db.storedVersion("Task", "t1")}), ${appended} events`);
    }

    // --- the app is updated: v2 code opens the same store ---
    clock.advance(60);
    const db = v2.mod.openDb(kv);
    const storedBefore = db.storedVersion("Task", "t1");
    const t1 = v2.mod.openTask(db.load("Task", "t1"), "laptop", options); // CrdtDb.load migrates v1 → v2 and writes back
    const storedVersion = db.storedVersion("Task", "t1");
    log(`v2 app: t1 stored at version ${storedBefore}, read as v${v2.mod.taskVersion} with priority ${t1.priority} (default); now stored at version ${storedVersion}`);

    clock.advance(60);
    change("t1", "tags", t1.tags, (s) => s.add("examples"));
    change("t1", "done", t1.done, (r) => r.set(true));
    t1.priority = 1;
    db.save("Task", "t1", v2.mod.storeTask(t1));

    // Compact: a snapshot of the stored task at the last event, dropping the events it covers.
    const snapshotAt = events.lastSeq;
    const dropped = events.compact(snapshotAt, encodeCbor(db.load("Task", "t1")));
    clock.advance(60);
    change("t1", "title", t1.title, (r) => r.set("write and test the examples"));
    db.save("Task", "t1", v2.mod.storeTask(t1));
    const remaining = events.range(events.firstSeq, events.lastSeq);
    log(`event log: ${appended} appended, compaction at #${snapshotAt} dropped ${dropped}, ${remaining.length} left after the snapshot`);

    // Another replica rebuilds the task from the snapshot plus the events after it.
    const snap = events.snapshot();
    const snapState = Object.fromEntries(decodeCbor(snap!.state) as Map<string, Value>); // CBOR maps decode as Map
    const rebuilt = openEntity(TaskV2, snapState, "phone", options);
    for (const e of remaining) {
      const [, field, delta] = decodeCbor(e.data) as [string, "title" | "done" | "tags", Uint8Array];
      (rebuilt[field] as Crdt).applyDelta(delta);
    }
    const replayMatches = rebuilt.title.equals(t1.title) && rebuilt.done.equals(t1.done) && rebuilt.tags.equals(t1.tags) && rebuilt.priority === t1.priority;
    log(`replayed from snapshot + log: "${rebuilt.title.get()}", done ${rebuilt.done.get()}, tags ${JSON.stringify(rebuilt.tags.value().slice().sort())}: ${replayMatches ? "matches" : "DIFFERS"}`);

    const final = v2.mod.openTask(db.load("Task", "t1"), "laptop", options);
    const migrated = { t1: { title: final.title.get(), done: final.done.get(), tags: final.tags.value().slice().sort(), priority: final.priority } };
    const result: TasksResult = {
      ok: false,
      generated: v2.files,
      migrated,
      storedVersion,
      events: { appended, droppedByCompaction: dropped, afterCompaction: remaining.length, snapshotSeq: snap?.seq },
      replayMatches,
    };
    result.ok =
      storedBefore === 1 &&
      storedVersion === 2 &&
      replayMatches &&
      migrated.t1.title === "write and test the examples" &&
      migrated.t1.done === true &&
      migrated.t1.priority === 1 &&
      JSON.stringify(migrated.t1.tags) === JSON.stringify(["docs", "examples"]) &&
      appended === 6 &&
      dropped === 5 &&
      remaining.length === 1;
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// main is async here, so this file has its own "run if invoked directly" check.
const entry = process.argv[1];
if (entry !== undefined && pathToFileURL(entry).href === import.meta.url) {
  main((line) => console.log(line)).then(
    (r) => {
      console.log(r.ok ? "ok" : "FAILED");
      process.exitCode = r.ok ? 0 : 1;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
