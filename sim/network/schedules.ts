// Random fleet schedules for the sync protocol, shared by the tests (a few
// hundred) and by `npm run fuzz` (ten thousand and more). No test library here: a check that
// fails throws a plain Error (the fuzz runs without uvu).
import { ORSet, type LWWMap } from "../../src/index.js";
import type { CoalescePolicy } from "../../src/store/state-store.js";
import { Fleet, openDocs, rng, SHARED_NAMESPACE } from "./simulator.js";

const NODES = ["n1", "n2", "n3"];

/** Writes fleet/config as the gateway's operator would, with the firmware's keys (targets/esp32/documents.toml). */
export function setFleetConfig(config: LWWMap<number>, step: number): void {
  config.set("interval", 1000 * (1 + (step % 10)));
  config.set("threshold.temperature", 25 + (step % 5));
}

interface Outcome {
  fleet: Fleet;
  lastWrite: Map<string, Map<string, number>>;
}

/**
 * One random schedule, from a seed: returns the healed fleet. With `coalesce`, nodes write their
 * flash in batches, so a crash loses their last writes; without, every write is stored at once.
 */
export function runSchedule(seed: number, steps = 60, coalesce?: CoalescePolicy): Outcome {
  const random = rng(seed);
  const fleet = new Fleet(random, { loss: random() * 0.5, duplicate: random() * 0.3, maxDelayMs: 1 + Math.floor(random() * 800) }, coalesce);
  fleet.add("gw", "gateway");
  for (const n of NODES) {
    fleet.add(n, "node");
    openDocs(fleet.peers.get(n)!.engine, n);
    fleet.link(n, "gw");
  }
  openDocs(fleet.peers.get("gw")!.engine, "gw");
  const lastWrite = new Map(NODES.map((n) => [n, new Map<string, number>()]));
  for (let step = 0; step < steps; step++) {
    const r = random();
    const node = NODES[Math.floor(random() * NODES.length)];
    const p = fleet.peers.get(node)!;
    if (r < 0.55) {
      if (!p.up) continue;
      const docs = openDocs(p.engine, node);
      const key = `k${Math.floor(random() * 5)}`;
      const value = step * 10 + Math.floor(random() * 10);
      docs.readings.set(key, value);
      lastWrite.get(node)!.set(key, value);
      p.engine.changed("readings", node);
      docs.events.increment();
      p.engine.changed("events", node);
      if (random() < 0.3) {
        docs.awmap.update("alarms", ORSet, (s) => (random() < 0.7 ? s.add(`${node}-${step % 4}`) : s.remove(`${NODES[step % 3]}-${step % 4}`)));
        p.engine.changed(SHARED_NAMESPACE, "awmap");
      }
      if (random() < 0.2) {
        docs.mode.set(`mode-${step}`);
        p.engine.changed(SHARED_NAMESPACE, "mode");
      }
      // the gateway sets the fleet's config now and then, as an operator does (on fixed steps: no
      // draw from the schedule's generator)
      const gw = fleet.peers.get("gw")!;
      if (step % 7 === 3 && gw.up) {
        setFleetConfig(openDocs(gw.engine, "gw").config, step);
        gw.engine.changed("fleet", "config");
      }
    } else if (r < 0.62) {
      if (p.up) fleet.crash(node);
      else fleet.restart(node, ["gw"]);
    } else if (r < 0.68) {
      fleet.partition(node, "gw", random() < 0.6);
    } else if (r < 0.7) {
      const gw = fleet.peers.get("gw")!;
      if (gw.up) fleet.crash("gw");
      else fleet.restart("gw", NODES.filter((n) => fleet.peers.get(n)!.up));
    }
    fleet.run(Math.floor(random() * 3000));
  }
  // heal: no loss, no partition, everyone up, and time for anti-entropy to finish
  fleet.net = { loss: 0, duplicate: 0, maxDelayMs: 50 };
  for (const n of NODES) fleet.partition(n, "gw", false);
  if (!fleet.peers.get("gw")!.up) fleet.restart("gw", NODES.filter((n) => fleet.peers.get(n)!.up));
  for (const n of NODES) if (!fleet.peers.get(n)!.up) fleet.restart(n, ["gw"]);
  fleet.run(60_000);
  return { fleet, lastWrite };
}

/** Throws `message` unless `ok`. */
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

export function checkConverged({ fleet, lastWrite }: Outcome, seed: number, everyWriteKept = true): void {
  const gw = fleet.peers.get("gw")!.engine;
  for (const n of NODES) {
    const node = fleet.peers.get(n)!.engine;
    for (const doc of node.documents()) {
      const mine = node.get(doc)!;
      const theirs = gw.get(doc);
      if (theirs === undefined) {
        check(mine.version().size === 0, `seed ${seed}: the gateway lacks ${doc}`);
        continue;
      }
      check(mine.equals(theirs), `seed ${seed}: ${n} and the gateway differ on ${doc}: ${JSON.stringify(mine.value())} vs ${JSON.stringify(theirs!.value())}`);
    }
    // every write a node made is there (write-through: nothing was lost to a crash)
    const readings = gw.get(`readings/${n}`) as LWWMap<number>;
    if (everyWriteKept) for (const [k, v] of lastWrite.get(n)!) check(readings.get(k) === v, `seed ${seed}: ${n}'s ${k}: ${JSON.stringify(readings.get(k))}, not ${v}`);
    check(gw.inSync(n) || node.inSync("gw"), `seed ${seed}: ${n} still has unacknowledged changes`);
  }
  const bad = fleet.logs.filter((l) => l.event === "forged" || l.event === "refused");
  check(bad.length === 0, `seed ${seed}: an honest fleet had deltas refused: ${JSON.stringify(bad)}`);
}

