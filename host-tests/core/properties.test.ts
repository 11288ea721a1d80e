// Algebraic and convergence properties of every core CRDT, on both engines.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fc, property } from "../prop.js";
import { MODELS, World, type Model, type Op } from "./models.js";
import { LichenError, type Crdt } from "../../src/index.js";

type Step =
  | { kind: "op"; at: number; op: Op }
  | { kind: "send"; from: number; to: number; full: boolean }
  | { kind: "sync"; from: number; to: number }
  | { kind: "gossip"; from: number; via: number; to: number }
  | { kind: "deliver"; pick: number; keep: boolean; stray: number | null }
  | { kind: "tick"; ms: number };

function stepArb(model: Model, replicas: number): fc.Arbitrary<Step> {
  const at = fc.nat(replicas - 1);
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("op" as const), at, op: model.op }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("send" as const), from: at, to: at, full: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("sync" as const), from: at, to: at }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("gossip" as const), from: at, via: at, to: at }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat(), keep: fc.boolean(), stray: fc.option(at, { freq: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 5000 }) }) },
  );
}

function scheduleArb(model: Model, min = 3, max = 4) {
  return fc.integer({ min, max }).chain((n) =>
    fc.record({
      skews: fc.array(fc.integer({ min: -2000, max: 2000 }), { minLength: n, maxLength: n }),
      steps: fc.array(stepArb(model, n), { minLength: 5, maxLength: 50, size: "max" }),
      finalOrder: fc.array(fc.nat(), { maxLength: 80 }),
    }),
  );
}

/** Applies a delta that may have been made for another replica: refusing it as OUT_OF_ORDER is the one allowed outcome besides applying it. */
function offer(to: Crdt, bytes: Uint8Array): void {
  const before = to.toBytes();
  try {
    to.applyDelta(bytes);
  } catch (e) {
    if (!(e instanceof LichenError && e.code === "OUT_OF_ORDER")) throw e;
    assert.equal(to.toBytes(), before, "a refused delta changed the state");
  }
}

interface Message {
  bytes: Uint8Array;
  to: number;
}

interface Run {
  replicas: Crdt[];
  network: Message[];
}

/** Plays a schedule: local operations, deltas made for some version and delivered to any replica, in any order, with duplicates. */
function play(model: Model, s: { skews: number[]; steps: Step[] }): Run {
  const world = new World();
  const replicas = s.skews.map((skew, i) => model.make(`r${i}`, world.clock(skew)));
  const network: Message[] = [];
  for (const step of s.steps) {
    switch (step.kind) {
      case "op":
        step.op(replicas[step.at]);
        break;
      case "send":
        if (step.from !== step.to) {
          const from = replicas[step.from];
          network.push({ bytes: step.full ? from.delta() : from.delta(replicas[step.to].version()), to: step.to });
        }
        break;
      case "sync":
        // a delta made for the receiver's own version, delivered at once
        if (step.from !== step.to) replicas[step.to].applyDelta(replicas[step.from].delta(replicas[step.to].version()));
        break;
      case "gossip":
        // a delta made for a third replica's version: it may skip ahead of the receiver and leave a gap
        if (step.from !== step.to) {
          offer(replicas[step.to], replicas[step.from].delta(replicas[step.via].version()));
        }
        break;
      case "deliver": {
        if (network.length === 0) break;
        const i = step.pick % network.length;
        const msg = network[i];
        if (!step.keep) network.splice(i, 1);
        // a stray message reaches another replica than the one it was made for: deltas are safe anywhere
        const to = replicas[step.stray ?? msg.to];
        offer(to, msg.bytes);
        break;
      }
      case "tick":
        world.now += step.ms;
        break;
    }
  }
  return { replicas, network };
}

/** Anti-entropy until quiet: each pair sends what the other's version lacks. */
function syncAll(replicas: Crdt[]): void {
  for (let round = 0; round < 2; round++) {
    for (const a of replicas) for (const b of replicas) if (a !== b) b.applyDelta(a.delta(b.version()));
  }
}

function assertSame(a: Crdt, b: Crdt, what: string): void {
  assert.equal(a.value(), b.value(), `${what}: values differ`);
  assert.ok(a.equals(b), `${what}: states differ`);
  assert.ok(a.version().equals(b.version()), `${what}: versions differ`);
}

for (const model of MODELS) {
  test(`${model.name}: replicas converge whatever the delivery order, duplicates included`, () => {
    property(`${model.name} convergence`, [scheduleArb(model)], (s) => {
      const { replicas, network } = play(model, s);
      // deliver everything still in flight, in a random order, some twice
      for (const pick of s.finalOrder) {
        if (network.length === 0) break;
        const to = replicas[pick % replicas.length];
        offer(to, network[pick % network.length].bytes);
      }
      syncAll(replicas);
      for (let i = 1; i < replicas.length; i++) assertSame(replicas[0], replicas[i], `r0 vs r${i}`);
    }, { numRuns: 150, xsRuns: 15 });
  });

  test(`${model.name}: a version never claims more than the state holds`, () => {
    property(`${model.name} honest versions`, [scheduleArb(model)], (s) => {
      const { replicas } = play(model, s);
      for (const a of replicas) {
        for (const b of replicas) {
          if (a === b || !b.version().dominates(a.version())) continue;
          // b claims to have seen all a has seen: merging a must change nothing
          const merged = b.clone().merge(a);
          assert.ok(merged.equals(b), `${b.replica} claims ${JSON.stringify(b.version())} but lacks part of ${a.replica}`);
        }
      }
    }, { numRuns: 100, xsRuns: 10 });
  });

  test(`${model.name}: merge is commutative, associative and idempotent`, () => {
    property(`${model.name} join laws`, [scheduleArb(model, 3, 3)], (s) => {
      const [a, b, c] = play(model, s).replicas;
      assertSame(a.clone().merge(b), b.clone().merge(a), "a⊔b vs b⊔a");
      assertSame(a.clone().merge(b).merge(c), a.clone().merge(b.clone().merge(c)), "(a⊔b)⊔c vs a⊔(b⊔c)");
      assertSame(a.clone().merge(a), a, "a⊔a vs a");
    }, { numRuns: 100, xsRuns: 10 });
  });

  test(`${model.name}: applyDelta(delta(v)) equals a full merge`, () => {
    property(`${model.name} delta equals merge`, [scheduleArb(model)], (s) => {
      const { replicas } = play(model, s);
      for (const a of replicas) {
        for (const b of replicas) {
          if (a === b) continue;
          const viaDelta = b.clone();
          viaDelta.applyDelta(a.delta(b.version()));
          assertSame(viaDelta, b.clone().merge(a), `${a.replica}→${b.replica}`);
        }
      }
    }, { numRuns: 100, xsRuns: 10 });
  });

  test(`${model.name}: a clone, and a merge into a clone, edit on as the original would`, () => {
    property(`${model.name} clone edits on`, [scheduleArb(model), model.op], (s, op) => {
      const { replicas } = play(model, s);
      for (const c of replicas) {
        const copy = c.clone();
        assertSame(copy, c, "clone vs original");
        // the copy's own edit continues the original's history: sent back, the two agree
        op(copy);
        c.applyDelta(copy.delta(c.version()));
        assertSame(copy, c, "after an edit on the clone");
        for (const other of replicas) {
          if (other === c) continue;
          const joined = c.clone().merge(other);
          op(joined);
          const viaDelta = c.clone();
          viaDelta.applyDelta(other.delta(viaDelta.version()));
          viaDelta.applyDelta(joined.delta(viaDelta.version()));
          assertSame(viaDelta, joined, `${other.replica} merged into a clone of ${c.replica}, then an edit`);
        }
      }
    }, { numRuns: 60, xsRuns: 8 });
  });

  test(`${model.name}: bytes round trip to an equal state, and editing goes on`, () => {
    property(`${model.name} round trip`, [scheduleArb(model), model.op], (s, op) => {
      for (const c of play(model, s).replicas) {
        const bytes = c.toBytes();
        const back = model.fromBytes(bytes);
        assert.is(back.replica, c.replica);
        assertSame(back, c, "decoded vs original");
        assert.equal(back.toBytes(), bytes, "re-encoding changed the bytes");
        // a decoded replica keeps editing, and its edits sync back
        op(back);
        c.applyDelta(back.delta(c.version()));
        assertSame(back, c, "after an edit on the decoded copy");
      }
    }, { numRuns: 60, xsRuns: 8 });
  });
}

test.run();
