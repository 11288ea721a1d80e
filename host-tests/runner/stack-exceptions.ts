// Device tests whose code under test needs more stack than the ESP32's (the manifest's 512 slots),
// measured in the device xsnap-worker with LICHEN_DEVICE_STACK=<slots> npm test -- --xs-only <file>
// (the stack granted above the harness; a test that overflows ends its file). Each is granted the
// slots it was measured to run with, and the runner prints it on every run: these are things the
// device cannot do today, not tests that pass on the device.

export interface StackException {
  /** Slots granted above the harness (measured: runs with these, overflows with the next lower step). */
  slots: number;
  why: string;
}

/** file → full test name ("suite › test", as reported), or "*" for every other test of the file → exception. */
export const STACK_EXCEPTIONS: Readonly<Record<string, Readonly<Record<string, StackException>>>> = {
  "host-tests/core/bad-input.test.ts": {
    "AWMap: random, truncated and bit-flipped bytes give a typed error and change nothing": { slots: 768, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 640" },
    "hostile CBOR: deep nesting, huge declared lengths, tags, indefinite lengths, big integers": { slots: 2048, why: "decodes payloads nested to CBOR_MAX_DEPTH (48) levels, one recursion per level: overflows 1,536" },
  },
  "host-tests/core/cbor.test.ts": {
    "*": { slots: 2048, why: "more of its tests overflow 512 with nested values, found one per run (an overflow ends the file): the whole file is granted 2,048, with which it runs" },
    "property: what is encoded decodes to the same value, and re-encodes to the same bytes": { slots: 2048, why: "values nested up to CBOR_MAX_DEPTH (48) levels: overflows 512; runs with 2,048 (its whole file ran with it); the least it needs is not measured" },
    "encoding refuses what lichen never writes, with INVALID_ARGUMENT": { slots: 2048, why: "encodes values nested to CBOR_MAX_DEPTH (48) levels: overflows 512; runs with 2,048 (its whole file ran with it); the least it needs is not measured" },
    "decoding accepts 16- and 32-bit floats, and nesting up to the limit": { slots: 2048, why: "decodes payloads nested to CBOR_MAX_DEPTH (48) levels, one recursion per level: overflows 1,024" },
    "decoding refuses what lichen never writes, with MALFORMED": { slots: 2048, why: "decodes payloads nested to CBOR_MAX_DEPTH (48) levels, one recursion per level: overflows 1,024" },
  },
  "host-tests/core/properties.test.ts": {
    "*": { slots: 2048, why: "more of its tests overflow 512 with nested values, found one per run (an overflow ends the file): the whole file is granted 2,048, with which it runs" },
    "AWMap: applyDelta(delta(v)) equals a full merge": { slots: 2048, why: "AWMap with nested CRDT values: overflows 512; runs with 2,048 (its whole file ran with it); the least it needs is not measured" },
    "AWMap: merge is commutative, associative and idempotent": { slots: 2048, why: "AWMap with nested CRDT values: overflows 512; runs with 2,048 (its whole file ran with it); the least it needs is not measured" },
    "AWMap: a version never claims more than the state holds": { slots: 640, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 512" },
    "AWMap: replicas converge whatever the delivery order, duplicates included": { slots: 640, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 512" },
  },
  "host-tests/core/types.test.ts": {
    "AWMap: nested CRDTs merge; a concurrent update survives a delete": { slots: 640, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 512" },
  },
  "host-tests/core/vectors.test.ts": {
    "AWMap: the checked-in bytes decode to the scenario's value and re-encode unchanged": { slots: 640, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 512" },
    "AWMap: the scenario encodes to the checked-in bytes": { slots: 640, why: "AWMap with nested CRDT values: merging/encoding recurses per nesting level: overflows 512" },
  },
  "host-tests/transport/group-commit.test.ts": {
    "*": { slots: 640, why: "a gateway's group commit (not device code) driven with its nodes in one realm, frames delivered synchronously: more of its tests overflow 512, one per run (an overflow ends the file); the whole file runs with 640" },
    "a full group commits at once; the rest waits for the loop": { slots: 640, why: "a gateway's group commit (not device code) driven with the nodes in one realm: overflows 512" },
  },
  "host-tests/transport/hostile.test.ts": {
    "authorship: foreign counts, and foreign values nested in an own write, are refused": { slots: 640, why: "nested values checked per level: overflows 512" },
  },
  "host-tests/transport/sync.test.ts": {
    "several gateways converge with each other; each node talks only to its own": { slots: 608, why: "the shared AWMap of nested CRDTs (shared/awmap) synced through the protocol, each delivery entered with this stack above the simulated event loop: overflows 512, runs with 608 (not measured lower: the first test of the file overflows 576 and ends the file)" },
    "nodes that coalesce their flash writes lose only unsent writes in a crash, and still converge": { slots: 608, why: "the shared AWMap of nested CRDTs (shared/awmap) synced through the protocol, each delivery entered with this stack above the simulated event loop: overflows 512, runs with 608 (not measured lower: the first test of the file overflows 576 and ends the file)" },
    "random schedules with loss, duplicates, reordering, partitions and crashes converge": { slots: 608, why: "the shared AWMap of nested CRDTs (shared/awmap) synced through the protocol, each delivery entered with this stack above the simulated event loop: overflows 576" },
  },
};

/** The slots each excepted test of `file` gets, by full test name. */
export function stackExceptionsOf(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, e] of Object.entries(STACK_EXCEPTIONS[file] ?? {})) out[name] = e.slots;
  return out;
}
