// The whole editing traces (gzipped, so under Node only; XS replays their prefixes from
// host-tests/vectors/trace-fixture.json in text.test.ts). Source: Joseph Gentle's editing-traces,
// CC BY 4.0, see data/traces/README.md. Positions there count code points; both traces are
// ASCII, so they are UTF-16 positions too.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Text } from "../../src/index.js";

const TRACES = fileURLToPath(new URL("../../data/traces", import.meta.url));
type Edit = [number, number, string];

function load<T>(name: string): T {
  return JSON.parse(gunzipSync(readFileSync(`${TRACES}/${name}`)).toString("utf8")) as T;
}

function apply(t: Text, [pos, del, ins]: Edit): void {
  if (del > 0) t.delete(pos, del);
  if (ins !== "") t.insert(pos, ins);
}

const paper = load<{ startContent: string; endContent: string; txns: Array<{ patches: Edit[] }> }>("automerge-paper.json.gz");
const edits = paper.txns.flatMap((t) => t.patches);

test(`automerge-paper: ${edits.length.toLocaleString("en-US")} edits into one Text give its endContent; the bytes decode to an equal document that goes on editing`, () => {
  assert.is(edits.length, 259778);
  assert.is(paper.startContent, "");
  const doc = new Text("a4cf12b3c4d5");
  const peer = new Text("gateway");
  edits.forEach((e, i) => {
    apply(doc, e);
    if (i % 5000 === 4999) peer.applyDelta(doc.delta(peer.version())); // a peer kept in sync by deltas along the way
  });
  assert.is(doc.toString(), paper.endContent);
  assert.is(doc.length, paper.endContent.length);
  assert.is(doc.version().get("a4cf12b3c4d5"), 182315 + 77463, "one counter per inserted and per deleted character");
  peer.applyDelta(doc.delta(peer.version()));
  assert.ok(peer.equals(doc));

  const bytes = doc.toBytes();
  const back = Text.fromBytes(bytes);
  assert.is(back.replica, "a4cf12b3c4d5");
  assert.ok(back.equals(doc));
  assert.equal(back.toBytes(), bytes, "re-encoding changed the bytes");
  assert.is(back.toString(), paper.endContent);
  console.log(`encoded document: ${bytes.length.toLocaleString("en-US")} bytes for ${paper.endContent.length.toLocaleString("en-US")} characters`);

  // the decoded replica and the peer edit concurrently, then sync
  back.insert(0, "% typeset with care\n");
  back.delete(100, 50);
  peer.insert(peer.length, "\n% the end\n");
  peer.delete(200, 10);
  const toPeer = back.delta(peer.version());
  back.applyDelta(peer.delta(back.version()));
  peer.applyDelta(toPeer);
  assert.is(back.toString(), peer.toString());
  assert.ok(back.equals(peer));
  const expected = `% typeset with care\n${paper.endContent.slice(0, 80)}${paper.endContent.slice(130, 200)}${paper.endContent.slice(210)}\n% the end\n`;
  assert.is(back.toString(), expected);
});

interface Txn {
  parents: number[];
  agent: number;
  patches: Edit[];
}
const friends = load<{ endContent: string; numAgents: number; txns: Txn[] }>("friendsforever.json.gz");

/** One replica per agent; before each transaction its replica gets the other agents' transactions its parents have seen, as the deltas they made. */
function replay(ids: string[]): Text[] {
  const txns = friends.txns;
  const reps = ids.map((id) => new Text(id));
  const deltas: Uint8Array[] = [];
  const byAgent: number[][] = ids.map(() => []);
  const applied = ids.map(() => ids.map(() => 0));
  const frontier: Int32Array[] = [];
  txns.forEach((tx, t) => {
    const f = new Int32Array(ids.length).fill(-1);
    for (const p of tx.parents) {
      assert.ok(p < t, "parents come first");
      frontier[p].forEach((x, b) => (f[b] = Math.max(f[b], x)));
    }
    const a = tx.agent;
    // the agent's own previous transaction is always among the ancestors: one replica per agent works
    assert.is(f[a], byAgent[a].length > 0 ? byAgent[a][byAgent[a].length - 1] : -1);
    const r = reps[a];
    ids.forEach((_, b) => {
      if (b === a) return;
      const list = byAgent[b];
      while (applied[a][b] < list.length && list[applied[a][b]] <= f[b]) r.applyDelta(deltas[list[applied[a][b]++]]);
    });
    const before = r.version();
    for (const e of tx.patches) apply(r, e);
    deltas.push(r.delta(before));
    byAgent[a].push(t);
    f[a] = t;
    frontier.push(f);
  });
  for (let round = 0; round < 2; round++) for (const x of reps) for (const y of reps) if (x !== y) y.applyDelta(x.delta(y.version()));
  return reps;
}

test(`friendsforever: ${friends.txns.length.toLocaleString("en-US")} transactions of 2 agents, one replica per agent forked and merged as the parents say, every replica ends at its endContent`, () => {
  assert.is(friends.numAgents, 2);
  const reps = replay(["0", "1"]);
  for (const r of reps) assert.is(r.toString(), friends.endContent);
  assert.ok(reps[0].equals(reps[1]));
  assert.ok(reps[0].version().equals(reps[1].version()));
  const back = Text.fromBytes(reps[0].toBytes());
  assert.ok(back.equals(reps[1]));
  // decoded, it goes on: both replicas edit concurrently again and converge
  back.insert(0, "TL;DR: ");
  reps[1].insert(reps[1].length, "\n-- fin");
  back.applyDelta(reps[1].delta(back.version()));
  reps[1].applyDelta(back.delta(reps[1].version()));
  assert.is(back.toString(), `TL;DR: ${friends.endContent}\n-- fin`);
  assert.ok(back.equals(reps[1]));
});

test("friendsforever with the agents' replica ids in the other order: the replicas still converge (concurrent inserts at one place are ordered by replica id)", () => {
  const reps = replay(["b", "a"]);
  assert.is(reps[0].toString(), reps[1].toString());
  assert.ok(reps[0].equals(reps[1]));
  assert.is(reps[0].length, friends.endContent.length);
  assert.is([...reps[0].toString()].sort().join(""), [...friends.endContent].sort().join(""), "the same characters survive");
});

test.run();
