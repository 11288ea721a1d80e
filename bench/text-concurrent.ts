// Section: concurrent text. lichen's Text beside Yjs's Y.Text on the friendsforever editing trace
// (26,078 transactions by 2 agents typing together; Joseph Gentle's editing-traces, CC BY 4.0),
// replayed by its parents with one replica per branch (per agent): before each transaction, the
// agent's replica applies the other agents' transactions that the transaction's parents have seen,
// as the deltas (lichen) or update events (Yjs) they produced; at the end every replica syncs with
// every other. Both libraries run the same schedule in the same process, alternately.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import * as Y from "yjs";
import { Text } from "../src/core/index.js";
import { replicaIds, YJS_CLIENT_ID } from "./fixtures.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";
import { median, spread } from "./timing.js";

const TRACE = fileURLToPath(new URL("../data/traces/friendsforever.json.gz", import.meta.url));
const RUNS = 7;

type Edit = [number, number, string];
interface Txn {
  parents: number[];
  agent: number;
  patches: Edit[];
}
interface Trace {
  endContent: string;
  numAgents: number;
  txns: Txn[];
}

function progress(text: string): void {
  process.stderr.write(`[bench] concurrent text: ${text}\n`);
}

/**
 * For each transaction, the earlier transactions of other agents its agent's replica applies first:
 * those its parents have seen (by the frontier of each parent), in each agent's order. The trace
 * always has the agent's own previous transaction among the ancestors, so one replica per agent works.
 */
function schedule(trace: Trace): number[][] {
  const n = trace.numAgents;
  const byAgent: number[][] = Array.from({ length: n }, () => []);
  const applied = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const frontier: Int32Array[] = [];
  return trace.txns.map((tx, t) => {
    const f = new Int32Array(n).fill(-1);
    for (const p of tx.parents) frontier[p].forEach((x, b) => (f[b] = Math.max(f[b], x)));
    const a = tx.agent;
    const before: number[] = [];
    for (let b = 0; b < n; b++) {
      if (b === a) continue;
      const list = byAgent[b];
      while (applied[a][b] < list.length && list[applied[a][b]] <= f[b]) before.push(list[applied[a][b]++]);
    }
    byAgent[a].push(t);
    f[a] = t;
    frontier.push(f);
    return before;
  });
}

interface Replay<D> {
  replicas: D[];
  /** Bytes of every delta or update sent, in all. */
  sent: number;
}

function replayLichen(trace: Trace, plan: number[][], ids: string[]): Replay<Text> {
  const replicas = ids.map((id) => new Text(id));
  const deltas: Uint8Array[] = [];
  let sent = 0;
  for (let t = 0; t < trace.txns.length; t++) {
    const tx = trace.txns[t];
    const r = replicas[tx.agent];
    for (const p of plan[t]) r.applyDelta(deltas[p]);
    const before = r.version();
    for (const [pos, del, ins] of tx.patches) {
      if (del > 0) r.delete(pos, del);
      if (ins !== "") r.insert(pos, ins);
    }
    const d = r.delta(before);
    sent += d.length;
    deltas.push(d);
  }
  for (const x of replicas) for (const y of replicas) if (x !== y) y.applyDelta(x.delta(y.version()));
  return { replicas, sent };
}

function replayYjs(trace: Trace, plan: number[][]): Replay<Y.Doc> {
  const replicas = Array.from({ length: trace.numAgents }, (_, i) => {
    const d = new Y.Doc();
    d.clientID = YJS_CLIENT_ID + i;
    return d;
  });
  const updates: Uint8Array[] = [];
  let sent = 0;
  let last: Uint8Array = new Uint8Array(0);
  const keep = (u: Uint8Array): void => {
    last = u;
  };
  for (const d of replicas) d.on("update", keep);
  for (let t = 0; t < trace.txns.length; t++) {
    const tx = trace.txns[t];
    const d = replicas[tx.agent];
    for (const p of plan[t]) Y.applyUpdate(d, updates[p]);
    const text = d.getText("t");
    // the transaction's edits in one Yjs transaction, its update event sent (what a provider broadcasts)
    d.transact(() => {
      for (const [pos, del, ins] of tx.patches) {
        if (del > 0) text.delete(pos, del);
        if (ins !== "") text.insert(pos, ins);
      }
    });
    sent += last.length;
    updates.push(last);
  }
  for (const d of replicas) d.off("update", keep);
  for (const x of replicas) for (const y of replicas) if (x !== y) Y.applyUpdate(y, Y.encodeStateAsUpdate(x, Y.encodeStateVector(y)));
  return { replicas, sent };
}

export async function concurrentTextSection(): Promise<{ section: Section; checks: Check[] }> {
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE)).toString("utf8")) as Trace;
  const plan = schedule(trace);
  const ids = replicaIds("mac", trace.numAgents);
  const nTx = trace.txns.length.toLocaleString("en-US");

  progress("harness checks (one replay each, also the warm-up)");
  const l = replayLichen(trace, plan, ids);
  const y = replayYjs(trace, plan);
  const checks: Check[] = [
    {
      what: `friendsforever, Text: every replica ends at the trace's endContent and they are equal`,
      ok: l.replicas.every((r) => r.toString() === trace.endContent && r.equals(l.replicas[0])),
    },
    { what: "friendsforever, Y.Text: every replica ends at the trace's endContent", ok: y.replicas.every((d) => d.getText("t").toString() === trace.endContent) },
  ];
  const lBytes = l.replicas[0].toBytes();
  const back = Text.fromBytes(lBytes);
  const yUpdate = Y.encodeStateAsUpdate(y.replicas[0]);
  const yUpdateV2 = Y.encodeStateAsUpdateV2(y.replicas[0]);
  const yBack = new Y.Doc();
  Y.applyUpdate(yBack, yUpdate);
  checks.push({ what: "friendsforever: Text.fromBytes(toBytes()) equals the replica", ok: back.equals(l.replicas[0]) && back.toString() === trace.endContent });
  checks.push({ what: "friendsforever: Y.applyUpdate(encodeStateAsUpdate()) reads the endContent", ok: yBack.getText("t").toString() === trace.endContent });

  progress(`${RUNS} timed replays each, alternately`);
  const lMs: number[] = [];
  const yMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    replayLichen(trace, plan, ids);
    lMs.push(performance.now() - t0);
    t0 = performance.now();
    replayYjs(trace, plan);
    yMs.push(performance.now() - t0);
  }
  const lT = median(lMs);
  const yT = median(yMs);
  const speedup = yT / lT;
  const ms = (x: number): string => `${num(x, 1)} ms`;
  const targets: Target[] = [
    { figure: "friendsforever (concurrent): time to replay by the parents", target: "≥ 1.5× Yjs's speed", actual: `${ms(lT)} vs ${ms(yT)} (${num(speedup, 2)}×)`, ok: speedup >= 1.5 },
    {
      figure: "friendsforever (concurrent): encoded document",
      target: `≤ Yjs (${yUpdate.length.toLocaleString("en-US")} bytes)`,
      actual: `${lBytes.length.toLocaleString("en-US")} bytes`,
      ok: lBytes.length <= yUpdate.length,
    },
  ];
  const table: Table = {
    title: `friendsforever (${nTx} transactions by ${trace.numAgents} agents, ${trace.endContent.length.toLocaleString("en-US")} characters at the end): Text beside Y.Text`,
    how: `Node ${process.version}, one process. One replica per agent (lichen: ids ${ids.map((x) => `"${x}"`).join(", ")}; Yjs: clientIDs 0x${YJS_CLIENT_ID.toString(16)} + agent). Before each transaction its agent's replica applies the other agents' transactions that its parents have seen, in order, as sent: lichen the delta(version before the transaction) each produced, Yjs the 'update' event of the transaction (its edits in one Y transaction). At the end every replica syncs with every other (lichen delta(version), Yjs encodeStateAsUpdate(state vector)). Replay time: median of ${RUNS} runs, lichen and Yjs alternately, after one checked replay each. Encoded: lichen toBytes() (a saved state with its replica id) vs Y.encodeStateAsUpdate (V1; V2 for information), of agent 0's replica.`,
    columns: ["figure", "lichen Text", "Yjs Y.Text", "lichen ÷ Yjs", "target", "met?"],
    rows: [
      ["replay the trace", `${ms(lT)} (spread ${num(spread(lMs) * 100, 0)}%)`, `${ms(yT)} (spread ${num(spread(yMs) * 100, 0)}%)`, num(lT / yT, 3), "≤ 0.667 (1.5× faster)", met(speedup >= 1.5)],
      ["encoded document", `${lBytes.length.toLocaleString("en-US")} bytes`, `${yUpdate.length.toLocaleString("en-US")} bytes (V2: ${yUpdateV2.length.toLocaleString("en-US")})`, num(lBytes.length / yUpdate.length, 3), "≤ 1", met(lBytes.length <= yUpdate.length)],
      ["deltas / updates sent during the replay", `${l.sent.toLocaleString("en-US")} bytes`, `${y.sent.toLocaleString("en-US")} bytes`, num(l.sent / y.sent, 3), "—", "—"],
    ],
  };
  return { section: { title: "Concurrent text: Text beside Y.Text (friendsforever trace)", tables: [table], targets }, checks };
}
