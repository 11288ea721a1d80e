/**
 * `npm run example:todo`: a shared todo list. The item ids live in an ORSet (add/remove; a concurrent
 * add wins over a remove), the titles in an LWWMap (the later rename wins).
 */
import { Hlc, LWWMap, ORSet } from "../src/index.js";
import { exchange, runIfMain, SimClock, type Log } from "./_shared.js";

export interface TodoResult {
  ok: boolean;
  items: string[];
  titles: Record<string, string>;
}

class TodoList {
  readonly items: ORSet<string>;
  readonly titles: LWWMap<string>;
  constructor(id: string, clock: SimClock) {
    const hlc = new Hlc({ wallClock: clock.now });
    this.items = new ORSet<string>(id, { clock: hlc });
    this.titles = new LWWMap<string>(id, { clock: hlc });
  }
  add(item: string, title: string): void {
    this.items.add(item);
    this.titles.set(item, title);
  }
  /** The visible list: items present, with their titles, sorted by id. */
  list(): string[] {
    return this.items.value().slice().sort().map((i) => `${i}: ${this.titles.get(i) ?? "?"}`);
  }
  syncWith(other: TodoList): void {
    exchange(this.items, other.items);
    exchange(this.titles, other.titles);
  }
}

export function main(log: Log = () => {}): TodoResult {
  const clock = new SimClock();
  const alice = new TodoList("alice", clock);
  const bob = new TodoList("bob", clock);

  alice.add("t1", "buy milk");
  alice.add("t2", "fix bike");
  alice.add("t3", "call mum");
  alice.syncWith(bob);
  log(`shared: ${alice.list().join(", ")}`);

  // Offline, concurrently: Alice removes t2 and renames t1; Bob re-adds t2 (he is still on it),
  // removes t3, renames t1 a bit later, and adds t4.
  clock.advance(5);
  alice.items.remove("t2");
  alice.titles.set("t1", "buy oat milk");
  clock.advance(5);
  bob.items.add("t2");
  bob.items.remove("t3");
  bob.titles.set("t1", "buy 2 l oat milk");
  bob.add("t4", "water plants");
  log(`alice offline: ${alice.list().join(", ")}`);
  log(`bob offline:   ${bob.list().join(", ")}`);

  alice.syncWith(bob);
  const items = alice.items.value().slice().sort();
  const titles = Object.fromEntries(items.map((i) => [i, alice.titles.get(i) ?? ""]));
  log(`merged:        ${alice.list().join(", ")}  (t2: Bob's concurrent add wins over Alice's remove)`);

  const ok =
    alice.items.equals(bob.items) &&
    alice.titles.equals(bob.titles) &&
    JSON.stringify(items) === JSON.stringify(["t1", "t2", "t4"]) &&
    titles.t1 === "buy 2 l oat milk";
  return { ok, items, titles };
}

runIfMain(import.meta.url, main);
