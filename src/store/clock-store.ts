import { decodeCbor, encodeCbor } from "../core/codec.js";
import { LichenError } from "../core/errors.js";
import { Hlc, isTimestamp, type HlcOptions } from "../core/hlc.js";
import type { KvStore } from "./kv.js";
import { CLOCK_KEY } from "./keys.js";

/**
 * Opens a replica's clock so that no timestamp is issued twice across
 * restarts. The clock reserves timestamps ahead in spans (one small write per
 * span, by default about 65 s of wall time) and starts, after a restart, past
 * the last reservation. That matters on a node without a wall clock (an
 * ESP32 before SNTP), whose clock is a Lamport counter: without it, events
 * lost in a power cut could have their ids reused by different events.
 */
export function openClock(kv: KvStore, options: Omit<HlcOptions, "reserve"> = {}): Hlc {
  const clock = new Hlc({ ...options, reserve: (upTo) => kv.put(CLOCK_KEY, encodeCbor([1, upTo])) });
  const saved = kv.get(CLOCK_KEY);
  if (saved !== undefined) {
    let record: unknown;
    try {
      record = decodeCbor(saved);
    } catch {
      record = undefined;
    }
    if (!Array.isArray(record) || record[0] !== 1 || !isTimestamp(record[1])) {
      throw new LichenError("CORRUPT", `the clock reservation under ${CLOCK_KEY} is unreadable`);
    }
    clock.observe(record[1]);
  }
  return clock;
}
