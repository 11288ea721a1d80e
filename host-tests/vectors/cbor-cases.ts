// The edge cases of host-tests/vectors/cbor.json (generate-cbor.ts), as JSON descriptions of values:
// {"n": number} ("NaN", "Infinity", "-Infinity", "-0" as strings), {"s": string, "times"?: k} (the
// string repeated k times), {"b": hex, "times"?: k}, {"a": [..]}, {"each": item, "times": k} (an array
// of k items), {"m": [[k, v], ..]} (a Map), true, false, null. The expected bytes are runs [hex, times].

import { fromHex } from "../../src/core/hex.js";

export type Described =
  | null
  | boolean
  | { n: number | string }
  | { s: string; times?: number }
  | { b: string; times?: number }
  | { a: Described[] }
  | { each: Described; times: number }
  | { m: [Described, Described][] };

const n = (x: number | string): Described => ({ n: x });
const s = (x: string): Described => ({ s: x });

export const CBOR_CASES: ReadonlyArray<readonly [string, Described]> = [
  ["zero", n(0)],
  ["minus zero", n("-0")],
  ["23", n(23)],
  ["24", n(24)],
  ["255", n(255)],
  ["256", n(256)],
  ["65535", n(65535)],
  ["65536", n(65536)],
  ["2^32-1", n(4294967295)],
  ["2^32", n(4294967296)],
  ["2^53-1", n(9007199254740991)],
  ["-1", n(-1)],
  ["-24", n(-24)],
  ["-25", n(-25)],
  ["-256", n(-256)],
  ["-257", n(-257)],
  ["-65536", n(-65536)],
  ["-65537", n(-65537)],
  ["-2^31", n(-2147483648)],
  ["-2^31-1", n(-2147483649)],
  ["-2^32", n(-4294967296)],
  ["-2^32-1", n(-4294967297)],
  ["-2^53+1", n(-9007199254740991)],
  ["a timestamp", n(193934131202048)],
  ["1.5", n(1.5)],
  ["-0.1", n(-0.1)],
  ["21.53", n(21.53)],
  ["smallest subnormal", n(5e-324)],
  ["largest double", n(1.7976931348623157e308)],
  ["NaN", n("NaN")],
  ["Infinity", n("Infinity")],
  ["-Infinity", n("-Infinity")],
  ["empty string", s("")],
  ["23 ASCII characters", s("abcdefghijklmnopqrstuvw")],
  ["24 ASCII characters", s("abcdefghijklmnopqrstuvwx")],
  ["255 ASCII characters", { s: "x", times: 255 }],
  ["256 ASCII characters", { s: "y", times: 256 }],
  ["2-byte UTF-8", s("é")],
  ["3-byte UTF-8", s("€")],
  ["4-byte UTF-8 (a surrogate pair)", s("𝄞")],
  ["short string whose UTF-8 crosses 24 bytes", s("éééééééééééé")],
  ["short string whose UTF-8 crosses 256 bytes", { s: "€", times: 63 }],
  ["long string whose UTF-8 crosses 256 bytes", { s: "é", times: 200 }],
  ["long string whose UTF-8 crosses 65536 bytes", { s: "€", times: 30000 }],
  ["mixed text", s("temperature:high ✓ 𝄞 ä")],
  ["a lone surrogate in a short string", s("a\ud800b")],
  ["empty bytes", { b: "" }],
  ["23 bytes", { b: "ab", times: 23 }],
  ["24 bytes", { b: "cd", times: 24 }],
  ["256 bytes", { b: "ef", times: 256 }],
  ["65536 bytes", { b: "01", times: 65536 }],
  ["null", null],
  ["true", true],
  ["false", false],
  ["empty array", { a: [] }],
  ["23 items", { a: Array.from({ length: 23 }, (_, i) => n(i)) }],
  ["24 items", { a: Array.from({ length: 24 }, (_, i) => n(i)) }],
  ["256 items", { each: null, times: 256 }],
  ["nested arrays", { a: [{ a: [{ a: [n(1), { a: [] }] }] }, s("x")] }],
  ["empty map", { m: [] }],
  ["map of strings", { m: [[s("celsius"), n(21.5)], [s("ok"), true], [s("tags"), { a: [s("a"), s("b")] }]] }],
  ["map with integer keys", { m: [[n(1), s("one")], [n(-1), s("minus one")]] }],
  ["24 entries", { m: Array.from({ length: 24 }, (_, i): [Described, Described] => [s(`k${String(i).padStart(2, "0")}`), n(i)]) }],
  ["256 entries", { m: Array.from({ length: 256 }, (_, i): [Described, Described] => [n(i), null]) }],
  ["a frame", { a: [n(1), n(3), s("readings/n1"), n(9), { b: "8301098080" }] }],
];

/** The value a description stands for. */
export function fromDescription(d: Described): unknown {
  if (d === null || typeof d === "boolean") return d;
  if ("n" in d) return typeof d.n === "number" ? d.n : d.n === "-0" ? -0 : Number(d.n);
  if ("s" in d) return d.s.repeat(d.times ?? 1);
  if ("b" in d) return fromHex(d.b.repeat(d.times ?? 1));
  if ("a" in d) return d.a.map(fromDescription);
  if ("each" in d) return Array.from({ length: d.times }, () => fromDescription(d.each));
  return new Map(d.m.map(([k, v]) => [fromDescription(k), fromDescription(v)]));
}

/** Runs of hex: [unit, times] pairs, so long repetitive encodings stay small in the file. */
export type HexRuns = [string, number][];

export function joinRuns(runs: HexRuns): string {
  return runs.map(([unit, times]) => unit.repeat(times)).join("");
}

/** Compresses hex into runs: a unit of 1 to 4 bytes repeated at least 16 bytes' worth becomes one run. */
export function toRuns(hex: string): HexRuns {
  const runs: HexRuns = [];
  let literal = "";
  let i = 0;
  while (i < hex.length) {
    let best: [string, number] | undefined;
    for (let unit = 2; unit <= 8; unit += 2) {
      const u = hex.slice(i, i + unit);
      if (u.length < unit) break;
      let k = 1;
      while (hex.startsWith(u, i + k * unit)) k++;
      if (k * unit >= 32 && (!best || k * unit > best[0].length * best[1])) best = [u, k];
    }
    if (best) {
      if (literal) runs.push([literal, 1]);
      literal = "";
      runs.push(best);
      i += best[0].length * best[1];
    } else {
      literal += hex.slice(i, i + 2);
      i += 2;
    }
  }
  if (literal) runs.push([literal, 1]);
  return runs;
}
