/**
 * `npm run example:counter`: three replicas count people entering (+) and leaving (−) a room on a
 * PNCounter while offline, then sync pairwise by deltas and agree on the occupancy.
 */
import { Hlc, PNCounter } from "../src/index.js";
import { exchange, runIfMain, SimClock, type Log } from "./_shared.js";

export interface CounterResult {
  ok: boolean;
  values: number[];
  bytes: number;
}

export function main(log: Log = () => {}): CounterResult {
  const clock = new SimClock();
  const make = (id: string) => new PNCounter(id, { clock: new Hlc({ wallClock: clock.now }) });
  const [door, lift, stairs] = [make("door"), make("lift"), make("stairs")];

  // Offline: each replica counts what it sees.
  door.incrementBy(5);
  door.decrement();
  clock.advance(10);
  lift.incrementBy(3);
  lift.decrementBy(2);
  clock.advance(10);
  stairs.increment();
  stairs.decrementBy(1);
  stairs.incrementBy(4);
  log(`offline: door ${door.value()}, lift ${lift.value()}, stairs ${stairs.value()}`);

  // Back online: a chain of delta exchanges, then once more so the first pair hears from the last.
  let bytes = exchange(door, lift);
  bytes += exchange(lift, stairs);
  bytes += exchange(stairs, door);
  const values = [door.value(), lift.value(), stairs.value()];
  log(`after sync (${bytes} B of deltas): door ${values[0]}, lift ${values[1]}, stairs ${values[2]}`);

  const expected = 5 - 1 + 3 - 2 + 1 - 1 + 4; // 9
  const ok = values.every((v) => v === expected) && door.equals(lift) && lift.equals(stairs);
  log(`expected ${expected}: ${ok ? "all three agree" : "MISMATCH"}`);
  return { ok, values, bytes };
}

runIfMain(import.meta.url, main);
