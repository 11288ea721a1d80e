/**
 * `npm run example:notes`: collaborative notes on Text (the counterpart of Repliq's notes-app).
 *
 * Two nodes and a gateway run real SyncEngines on the simulated network of
 * sim/network/simulator.ts (`Fleet`: virtual time, no broker). The nodes reach each other
 * only through the gateway. Both type into the same note at once, character by character; each
 * one's run of characters stays together (runs are not interleaved) and all three converge.
 */
import { Text } from "../src/index.js";
import { makePolicy } from "../src/transport/policy.js";
import { Fleet, rng } from "../sim/network/simulator.js";
import { runIfMain, type Log } from "./_shared.js";

export interface NotesResult {
  ok: boolean;
  texts: { laptop: string; phone: string; gateway: string };
  messages: number;
}

export function main(log: Log = () => {}): NotesResult {
  const fleet = new Fleet(rng(8), { loss: 0, duplicate: 0, maxDelayMs: 20 });
  fleet.policy = makePolicy({ write: ["*/{self}", "notes/*"] }); // both nodes may write the shared notes
  fleet.add("gw", "gateway");
  fleet.add("laptop", "node");
  fleet.add("phone", "node");
  const laptop = fleet.peers.get("laptop")!.engine;
  const phone = fleet.peers.get("phone")!.engine;
  const gw = fleet.peers.get("gw")!.engine;
  const noteOnLaptop = laptop.open("notes", "groceries", Text);
  const notePhone = phone.open("notes", "groceries", Text);
  fleet.link("laptop", "gw");
  fleet.link("phone", "gw");

  const type = (engine: typeof laptop, note: Text, at: number, text: string): void => {
    for (let i = 0; i < text.length; i++) {
      note.insert(at + i, text[i]!);
      engine.changed("notes", "groceries");
      fleet.run(5); // keystrokes 5 ms apart
    }
  };

  type(laptop, noteOnLaptop, 0, "Groceries:");
  fleet.run(2000);
  log(`laptop wrote the title; phone sees ${JSON.stringify(notePhone.value())}`);

  // Both type at the end of the note at the same moment, while each other's keystrokes are in flight.
  fleet.partition("laptop", "gw", true);
  fleet.partition("phone", "gw", true);
  type(laptop, noteOnLaptop, noteOnLaptop.length, " milk");
  type(phone, notePhone, notePhone.length, " eggs");
  log(`concurrently: laptop ${JSON.stringify(noteOnLaptop.value())}, phone ${JSON.stringify(notePhone.value())}`);

  fleet.partition("laptop", "gw", false);
  fleet.partition("phone", "gw", false);
  fleet.run(30_000); // reconnect: digests, deltas, acks (anti-entropy every 5 s)
  const gwNote = gw.get("notes/groceries") as Text | undefined;
  const texts = { laptop: noteOnLaptop.value(), phone: notePhone.value(), gateway: gwNote?.value() ?? "" };
  log(`after sync through the gateway (${fleet.sent} messages): ${JSON.stringify(texts.laptop)}`);

  const converged = texts.laptop === texts.phone && texts.phone === texts.gateway;
  const runsIntact = texts.laptop.includes(" milk") && texts.laptop.includes(" eggs") && texts.laptop.startsWith("Groceries:");
  const ok = converged && runsIntact && texts.laptop.length === "Groceries: milk eggs".length;
  log(`converged: ${converged ? "yes" : "NO"}, runs not interleaved: ${runsIntact ? "yes" : "NO"}`);
  return { ok, texts, messages: fleet.sent };
}

runIfMain(import.meta.url, main);
