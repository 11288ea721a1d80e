/**
 * `npm run demo`: a sensor node and its gateway edit offline, then exchange deltas and converge.
 *
 * Each side holds the firmware's three documents (targets/esp32/node-app.ts): an LWWMap of
 * readings (one key per sensor), a PNCounter of events and an ORSet of alarms. They sync once, go offline and both edit, then each sends the other only what it lacks
 * (`delta(peer.version())` → `applyDelta`). Only lichen's public API (src/index.ts) is used.
 *
 * Time is simulated (one wall clock the demo advances), so the output is the same on every run.
 */
import { Hlc, LWWMap, ORSet, PNCounter, type Crdt, type Value } from "../src/index.js";

// A shared simulated wall clock: 1 June 2025, 08:00:00 UTC, advanced by hand.
let wallMs = Date.UTC(2025, 5, 1, 8, 0, 0);
const wallClock = (): number => wallMs;
const later = (seconds: number): void => {
  wallMs += seconds * 1000;
};
const clockTime = (): string => new Date(wallMs).toISOString().slice(11, 19);

class Replica {
  readonly readings: LWWMap<number>;
  readonly events: PNCounter;
  readonly alarms: ORSet<string>;

  constructor(readonly id: string) {
    // One clock per replica, shared by its CRDTs.
    const clock = new Hlc({ wallClock });
    this.readings = new LWWMap<number>(id, { clock });
    this.events = new PNCounter(id, { clock });
    this.alarms = new ORSet<string>(id, { clock });
  }

  crdts(): Array<[string, Crdt]> {
    return [
      ["readings", this.readings],
      ["events", this.events],
      ["alarms", this.alarms],
    ];
  }

  print(): void {
    console.log(`  ${this.id}`);
    console.log(`    readings  ${show(this.readings.value())}`);
    console.log(`    events    ${this.events.value()}`);
    console.log(`    alarms    ${show(this.alarms.value())}`);
  }
}

function show(v: Value | unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** Both sides send at once what the other lacks, then apply what they got. Returns the bytes sent each way. */
function exchange(a: Replica, b: Replica): { aToB: number[]; bToA: number[] } {
  const pairs = a.crdts().map(([name, x], i) => [name, x, b.crdts()[i]![1]] as const);
  const toB = pairs.map(([, x, y]) => x.delta(y.version()));
  const toA = pairs.map(([, x, y]) => y.delta(x.version()));
  pairs.forEach(([, x, y], i) => {
    y.applyDelta(toB[i]!);
    x.applyDelta(toA[i]!);
  });
  return { aToB: toB.map((d) => d.length), bToA: toA.map((d) => d.length) };
}

function bytesLine(from: Replica, to: Replica, sizes: number[]): string {
  const parts = from.crdts().map(([name], i) => `${name} ${sizes[i]} B`);
  const total = sizes.reduce((s, n) => s + n, 0);
  return `  ${from.id} → ${to.id}: ${parts.join(", ")} (${total} B in all)`;
}

const node = new Replica("node-a4cf12");
const gateway = new Replica("gateway-1");

console.log("lichen demo: a sensor node and its gateway edit offline, then exchange deltas\n");

// Online at first: the node reports a tamper alarm and one reading, and both sides sync.
node.alarms.add("tamper");
node.readings.set("battery_v", 3.92);
exchange(node, gateway);
console.log(`${clockTime()}  both sides in sync: alarms ["tamper"], battery_v 3.92`);

// Offline: the network drops; each side keeps writing locally.
later(60);
node.readings.set("temperature", 21.4);
node.readings.set("humidity", 48);
node.events.incrementBy(3); // three motion events
node.alarms.add("door-open");
later(5);
node.readings.set("battery_v", 3.71);
console.log(`${clockTime()}  node-a4cf12 (offline): temperature 21.4, humidity 48, battery_v 3.71, 3 motion events, alarm "door-open"`);

later(10);
gateway.readings.set("temperature", 20.9); // a calibrated value, written later: it wins
gateway.events.decrement(); // one event acknowledged by the operator
gateway.alarms.remove("tamper"); // the operator clears the tamper alarm
gateway.alarms.add("low-battery");
console.log(`${clockTime()}  gateway-1   (offline): temperature 20.9 (calibrated), 1 event acknowledged, clears "tamper", alarm "low-battery"`);

console.log("\nbefore sync:");
node.print();
gateway.print();

later(30);
console.log(`\n${clockTime()}  back online: each side sends delta(peer.version()), the other applies it`);
const { aToB, bToA } = exchange(node, gateway);
console.log(bytesLine(node, gateway, aToB));
console.log(bytesLine(gateway, node, bToA));

console.log("\nafter sync:");
node.print();
gateway.print();

const converged = node.crdts().every(([, x], i) => {
  const y = gateway.crdts()[i]![1];
  return x.equals(y) && show(x.value()) === show(y.value());
});
console.log(`\nconverged: ${converged ? "yes" : "NO"}`);
if (!converged) process.exitCode = 1;
