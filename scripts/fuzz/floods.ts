// Floods against a gateway, from one attacker:
//   flood/rate-limit         a burst of valid frames at one instant is processed at most up to the
//                            rate limiter's burst (counted by the acknowledgements it sends back);
//   reassembly/capped        a frame sent in parts larger in total than the receiver's reassembly
//                            limit is never put together and applied;
//   reassembly/under-cap     one under the limit still is (the check above is not passed by a
//                            gateway that drops every part);
//   reassembly/count-capped  thousands of frames begun and never finished (one small part each) hold
//                            at most PARTIALS_HEAP_BYTES of the gateway's heap (measured after a GC).
import { LWWMap } from "../../src/index.js";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { encodeFrame, splitFrame } from "../../src/transport/frames.js";
import { openDocs, rng, type Fleet, type SimPeer } from "../../sim/network/simulator.js";
import type { Findings } from "./findings.js";
import { ATTACKER, FUZZ_OPTIONS, fuzzFleet, GATEWAY } from "./fleet.js";
import { deltaFrame, tryDecodeFrame } from "./wire.js";

function attackedGateway(seed: number): { fleet: Fleet; acks: () => number } {
  const fleet = fuzzFleet(rng(seed), { loss: 0, duplicate: 0, maxDelayMs: 5 });
  fleet.add(GATEWAY, "gateway");
  fleet.add(ATTACKER, "node");
  openDocs(fleet.peers.get(GATEWAY)!.engine, GATEWAY);
  fleet.link(ATTACKER, GATEWAY);
  fleet.run(1000);
  let acks = 0;
  fleet.onSend = (from, to, bytes) => {
    if (from === GATEWAY && to === ATTACKER && tryDecodeFrame(bytes, [GATEWAY, ATTACKER])?.kind === 7) acks++;
  };
  return { fleet, acks: () => acks };
}

export function fuzzFlood(seed: number, findings: Findings): void {
  const { fleet, acks } = attackedGateway(seed);
  const gw = fleet.peers.get(GATEWAY)!.engine;
  const x = fleet.peers.get(ATTACKER)!.engine;
  const readings = x.open("readings", ATTACKER, LWWMap);
  readings.set("t", 1);
  const frame = deltaFrame(`readings/${ATTACKER}`, readings.typeTag, readings.delta());
  const before = acks();
  const sent = 10 * FUZZ_OPTIONS.rateBurst;
  for (let i = 0; i < sent; i++) gw.receive(ATTACKER, frame); // all at one instant: no refill
  const processed = acks() - before;
  findings.check("flood/rate-limit", seed, processed > 0 && processed <= FUZZ_OPTIONS.rateBurst, () => `${sent} frames at one instant: ${processed} processed, over the burst of ${FUZZ_OPTIONS.rateBurst}`);
  console.log(`flood: ${sent} valid frames at one instant, ${processed} processed (burst ${FUZZ_OPTIONS.rateBurst})`);
}

/** A delta of the attacker's own readings of about `bytes` bytes, in PART frames of 4,000 bytes. */
function partsOf(x: SimPeer, bytes: number, tag: string, id: number): { parts: Uint8Array[]; key: string } {
  const m = new LWWMap(ATTACKER, { clock: x.engine.clock });
  const value = "v".repeat(100);
  for (let i = 0; i * 110 < bytes; i++) m.set(`${tag}${i}`, value);
  const frame = deltaFrame(`readings/${ATTACKER}`, m.typeTag, m.delta());
  return { parts: splitFrame(frame, id, 4000), key: `${tag}0` };
}

export function fuzzReassembly(seed: number, findings: Findings): void {
  const { fleet } = attackedGateway(seed);
  const gw = fleet.peers.get(GATEWAY)!.engine;
  const x = fleet.peers.get(ATTACKER)!;
  const spacing = Math.ceil(1000 / FUZZ_OPTIONS.ratePerSecond) + 1;
  const deliver = (parts: Uint8Array[]): void => {
    for (const p of parts) {
      gw.receive(ATTACKER, p);
      fleet.run(spacing);
    }
  };
  const big = partsOf(x, 2 * FUZZ_OPTIONS.maxReassemblyBytes, "big", 7001);
  deliver(big.parts);
  const held = (key: string): boolean => (gw.get(`readings/${ATTACKER}`) as LWWMap | undefined)?.get(key) !== undefined;
  findings.check("reassembly/capped", seed, !held(big.key), () => `a frame of ${big.parts.length} parts (over ${FUZZ_OPTIONS.maxReassemblyBytes} bytes) was reassembled and applied`);
  fleet.run(61_000); // the parts of the refused frame that came after the refusal are abandoned by now
  const small = partsOf(x, FUZZ_OPTIONS.maxReassemblyBytes / 2, "small", 7002);
  deliver(small.parts);
  findings.check("reassembly/under-cap", seed, held(small.key), () => `a frame of ${small.parts.length} parts under ${FUZZ_OPTIONS.maxReassemblyBytes} bytes was not applied`);
  console.log(`reassembly: ${big.parts.length} parts over the limit ${held(big.key) ? "applied" : "dropped"}, ${small.parts.length} parts under it ${held(small.key) ? "applied" : "dropped"}`);
}

/** Heap the begun frames of one peer may hold: a cap in count keeps them well under it. */
export const PARTIALS_HEAP_BYTES = 8 << 20;

/** The heap in use after a full garbage collection. */
function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

export function fuzzPartials(seed: number, findings: Findings): void {
  const { fleet } = attackedGateway(seed);
  const gw = fleet.peers.get(GATEWAY)!.engine;
  const spacing = Math.ceil(1000 / FUZZ_OPTIONS.ratePerSecond) + 1;
  // as many as the rate limiter lets through before the first ones would be abandoned (60 s)
  const count = Math.floor(55_000 / spacing);
  const before = heapAfterGc();
  for (let i = 0; i < count; i++) {
    gw.receive(ATTACKER, encodeFrame({ kind: 5, id: 100_000 + i, index: 0, count: 1024, bytes: new Uint8Array(1) }));
    fleet.run(spacing);
  }
  const grown = heapAfterGc() - before;
  findings.check("reassembly/count-capped", seed, grown <= PARTIALS_HEAP_BYTES, () => `${count} frames begun and never finished hold ${(grown / 1048576).toFixed(1)} MiB of heap`);
  console.log(`reassembly: ${count} frames begun and never finished, heap grown by ${(grown / 1048576).toFixed(1)} MiB (limit ${PARTIALS_HEAP_BYTES / 1048576} MiB)`);
  fleet.onSend = undefined;
}
