/**
 * `npm run example:chat`: two people edit the same chat message offline. An MVRegister keeps both
 * versions (a conflict the UI can show); a later edit made after seeing both resolves it.
 */
import { Hlc, MVRegister } from "../src/index.js";
import { exchange, runIfMain, SimClock, type Log } from "./_shared.js";

export interface ChatResult {
  ok: boolean;
  conflict: string[];
  resolved: string[];
}

export function main(log: Log = () => {}): ChatResult {
  const clock = new SimClock();
  const make = (id: string) => new MVRegister<string>(id, { clock: new Hlc({ wallClock: clock.now }) });
  const ana = make("ana");
  const ben = make("ben");

  ana.set("Meet at 6?");
  exchange(ana, ben);
  log(`message: ${JSON.stringify(ben.get())}`);

  // Offline, concurrently: both fix the message.
  clock.advance(3);
  ana.set("Meet at 6:30?");
  clock.advance(3);
  ben.set("Meet at 6 at the station?");
  exchange(ana, ben);
  const conflict = ana.get().slice().sort();
  log(`after sync, conflicted=${ana.conflicted}: ${JSON.stringify(conflict)}`);

  // Ben sees both versions and writes one that replaces them.
  clock.advance(10);
  ben.set("Meet at 6:30 at the station?");
  exchange(ana, ben);
  const resolved = ana.get().slice();
  log(`resolved by a write that saw both, conflicted=${ana.conflicted}: ${JSON.stringify(resolved)}`);

  const ok = conflict.length === 2 && resolved.length === 1 && !ana.conflicted && ana.equals(ben) && resolved[0] === "Meet at 6:30 at the station?";
  return { ok, conflict, resolved };
}

runIfMain(import.meta.url, main);
