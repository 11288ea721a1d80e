// One document-key grammar (src/core/names.ts): every entry point that takes a namespace, an id or
// a "namespace/id" refuses the same bad names with a LichenError of the same code and the same
// words: frames from the network (MALFORMED), and INVALID_ARGUMENT from the stores, the sync
// engine, the policy, the CLI's entity argument, the settings API and CrdtDb (the schema's store).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LichenError } from "../../src/core/errors.js";
import { GCounter } from "../../src/core/counters.js";
import { LWWMap } from "../../src/core/maps.js";
import { idRule, MAX_ID_LENGTH, MAX_NAME_LENGTH, nameRule } from "../../src/core/names.js";
import { CrdtDb } from "../../src/store/crdt-db.js";
import { EventStore } from "../../src/store/event-store.js";
import { MemoryKv } from "../../src/store/kv.js";
import { StateStore } from "../../src/store/state-store.js";
import { decodeFrame, encodeFrame, FrameKind } from "../../src/transport/frames.js";
import { makePolicy } from "../../src/transport/policy.js";
import { SyncEngine, type Scheduler } from "../../src/transport/sync-engine.js";
import { VersionVector } from "../../src/core/version-vector.js";
import { checkSettingsDoc } from "../../targets/rpi/gateway-settings.js";
import { parseEntity } from "../../targets/rpi/report.js";

/** The words of the name rule, whatever the name is of (a namespace, a log, an entity type). */
const NAME_WORDS = nameRule("").slice(4);

const BAD_NAMESPACES = ["", "a b", "x".repeat(MAX_NAME_LENGTH + 1), "\u00e9t\u00e9", "a:b", "a\u0000", "*"];
const BAD_IDS = ["", "x".repeat(MAX_ID_LENGTH + 1), "a\u0000b", "a\nb", "a\u007fb", "\u001f"];
const GOOD: Array<[string, string]> = [
  ["readings", "n1"],
  ["a.b-c_D9", "x/y z \u00e9\u{1F600}"],
  ["n".repeat(MAX_NAME_LENGTH), "i".repeat(MAX_ID_LENGTH)],
];

const scheduler: Scheduler = { now: () => 1_700_000_000_000, setTimer: () => () => {} };

/** Every entry point, as a function of a namespace and an id; `code` is what it throws. */
const ENTRY_POINTS: Array<{ name: string; code: string; run: (ns: string, id: string) => unknown }> = [
  { name: "frames: DELTA", code: "MALFORMED", run: (ns, id) => decodeFrame(encodeFrame({ kind: FrameKind.Delta, doc: `${ns}/${id}`, type: 1, delta: new Uint8Array(0) })) },
  { name: "frames: ACK", code: "MALFORMED", run: (ns, id) => decodeFrame(encodeFrame({ kind: FrameKind.Ack, doc: `${ns}/${id}`, version: new VersionVector() })) },
  { name: "StateStore.save", code: "INVALID_ARGUMENT", run: (ns, id) => new StateStore(new MemoryKv()).save(ns, id, new GCounter("n1")) },
  { name: "StateStore.load", code: "INVALID_ARGUMENT", run: (ns, id) => new StateStore(new MemoryKv()).load(ns, id, GCounter.fromBytes) },
  { name: "SyncEngine.open", code: "INVALID_ARGUMENT", run: (ns, id) => new SyncEngine({ replica: "gw", role: "gateway", kv: new MemoryKv(), scheduler, send: () => {} }).open(ns, id, LWWMap) },
  { name: "policy: a write pattern", code: "INVALID_ARGUMENT", run: (ns, id) => makePolicy({ write: [`${ns}/${id}`] }) },
  { name: "CLI: an entity argument", code: "INVALID_ARGUMENT", run: (ns, id) => parseEntity(`${ns}/${id}`) },
  { name: "CrdtDb (the schema's store)", code: "INVALID_ARGUMENT", run: (ns, id) => new CrdtDb(new MemoryKv()).define({ type: ns, version: 1 }).save(ns, id, { x: 1 }) },
];

function refusal(fn: () => unknown): LichenError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof LichenError) return e;
    throw e;
  }
  return undefined;
}

test("every entry point accepts the same good names", () => {
  for (const [ns, id] of GOOD) {
    for (const p of ENTRY_POINTS) assert.is(refusal(() => p.run(ns, id)), undefined, `${p.name}: ${ns}/${id}`);
    assert.is(refusal(() => checkSettingsDoc(`fleet/${id}`)), undefined, `settings: fleet/${id}`);
    assert.is(refusal(() => new EventStore(new MemoryKv(), ns)), undefined, `EventStore: ${ns}`);
  }
});

test("every entry point refuses the same bad namespaces, with one code and the name rule's words", () => {
  for (const ns of BAD_NAMESPACES) {
    for (const p of ENTRY_POINTS) {
      if (p.name === "policy: a write pattern" && ns === "*") continue; // "*" is the policy's wildcard, not a name
      const e = refusal(() => p.run(ns, "n1"));
      assert.ok(e !== undefined, `${p.name} accepted the namespace ${JSON.stringify(ns)}`);
      assert.is(e!.code, p.code, `${p.name}: ${JSON.stringify(ns)}`);
      assert.ok(e!.message.includes(NAME_WORDS), `${p.name}: ${JSON.stringify(ns)}: ${e!.message}`);
    }
    const log = refusal(() => new EventStore(new MemoryKv(), ns));
    assert.ok(log?.code === "INVALID_ARGUMENT" && log.message.includes(NAME_WORDS), `EventStore: ${JSON.stringify(ns)}: ${log?.message}`);
    const settings = refusal(() => checkSettingsDoc(`${ns}/config`));
    assert.ok(settings?.code === "INVALID_ARGUMENT" && settings.message.includes(NAME_WORDS), `settings: ${JSON.stringify(ns)}: ${settings?.message}`);
  }
});

test("every entry point refuses the same bad ids, with one code and the id rule's words", () => {
  for (const id of BAD_IDS) {
    for (const p of ENTRY_POINTS) {
      const e = refusal(() => p.run("readings", id));
      assert.ok(e !== undefined, `${p.name} accepted the id ${JSON.stringify(id)}`);
      assert.is(e!.code, p.code, `${p.name}: ${JSON.stringify(id)}`);
      assert.ok(e!.message.includes(idRule()), `${p.name}: ${JSON.stringify(id)}: ${e!.message}`);
    }
    const settings = refusal(() => checkSettingsDoc(`fleet/${id}`));
    assert.ok(settings?.code === "INVALID_ARGUMENT" && settings.message.includes(idRule()), `settings: ${JSON.stringify(id)}: ${settings?.message}`);
  }
});

test("a document key needs its slash; the id may hold more", () => {
  const delta = (doc: string): unknown => decodeFrame(encodeFrame({ kind: FrameKind.Delta, doc, type: 1, delta: new Uint8Array(0) }));
  assert.is(refusal(() => delta("no-slash"))?.code, "MALFORMED");
  assert.is(refusal(() => parseEntity("no-slash"))?.code, "INVALID_ARGUMENT");
  assert.is(refusal(() => checkSettingsDoc("fleet"))?.code, "INVALID_ARGUMENT");
  assert.equal(parseEntity("readings/a/b"), ["readings", "a/b"]);
  assert.is((delta("readings/a/b") as { doc: string }).doc, "readings/a/b");
});

test.run();
