// lichen's core: conflict-free replicated data types with delta sync and a
// deterministic CBOR encoding, identical under Node and inside XS.
export { LichenError, type LichenErrorCode } from "./errors.js";
export { checkReplicaId, compareReplicaIds, MAX_REPLICA_ID_LENGTH } from "./replica.js";
export {
  Hlc,
  HLC_EPOCH_MS,
  HLC_LOGICAL_SPAN,
  DEFAULT_MAX_DRIFT_MS,
  DEFAULT_RESERVE_SPAN,
  physicalTimestamp,
  timestampToMs,
  type HlcOptions,
  type WallClock,
} from "./hlc.js";
export { VersionVector, type Dot, type Ordering, type VersionLike } from "./version-vector.js";
export { CausalContext } from "./causal-context.js";
export { FORMAT_VERSION, TypeTag, typeName, encodeCbor, decodeCbor, DEFAULT_MAX_PAYLOAD_BYTES } from "./codec.js";
export { type Value } from "./value.js";
export { Crdt, type CrdtOptions } from "./crdt.js";
export { GCounter, PNCounter } from "./counters.js";
export { LWWRegister } from "./lww-register.js";
export { MVRegister } from "./mv-register.js";
export { GSet, TwoPSet, LWWSet, ORSet } from "./sets.js";
export { LWWMap, AWMap, AWMAP_MAX_NESTING, MAX_KEY_LENGTH, type CrdtClass } from "./maps.js";
export { Rga } from "./rga.js";
export { Text } from "./text.js";
export { crdtClassForTag, loadCrdt } from "./registry.js";
