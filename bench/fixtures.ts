// What the Node sections share: replica ids and a wall clock moved by hand, so that byte counts
// do not depend on how fast the machine runs (HLC timestamps are written relative to each other).

import { Hlc } from "../src/core/index.js";

/** A short replica id. */
export const SHORT_ID = "n1";
/** A MAC-like replica id, as a device would use. */
export const MAC_ID = "a4cf12b3c4d5";
/** The replica id of the receiving side (a gateway). */
export const PEER_ID = "gw";
/** The Yjs clientID used where bytes are counted: Yjs draws a random 32-bit id, 5 bytes as a varuint. */
export const YJS_CLIENT_ID = 0xa4cf12b3;

/** The ids of `n` replicas in the style of `id` (short: n0..n99; MAC-like: a4cf12b3c4 + 2 hex digits). */
export function replicaIds(style: "short" | "mac", n: number): string[] {
  return Array.from({ length: n }, (_, i) => (style === "short" ? `n${i}` : `a4cf12b3c4${i.toString(16).padStart(2, "0")}`));
}

/** A wall clock the bench advances by hand; starts at 2025-01-01T00:00:00Z. */
export class ManualWall {
  ms = Date.UTC(2025, 0, 1);
  readonly read = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
  hlc(): Hlc {
    return new Hlc({ wallClock: this.read });
  }
}

/** Operations in the byte-count scenarios happen this far apart (a sensor reporting every second). */
export const OP_INTERVAL_MS = 1000;
