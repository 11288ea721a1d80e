// The package's main entry: `import { GCounter } from "lichen"`. Everything here runs under Node and
// inside XS; the Node-only pieces have their own paths (src/store/sqlite.ts, src/transport/mqtt-node.ts).
export * from "./core/index.js";
export { MemoryKv, MAX_KV_KEY_LENGTH, type KvStore, type KvOp, type EntityView } from "./store/kv.js";
export { StateStore, WRITE_THROUGH, DEVICE_COALESCING, type CoalescePolicy, type StateStoreOptions } from "./store/state-store.js";
export { EventStore, type StoredEvent, type Snapshot } from "./store/event-store.js";
export { CrdtDb, type EntityDef, type Migration } from "./store/crdt-db.js";
export { openClock } from "./store/clock-store.js";
export { FlashKv } from "./store/flash-kv.js";
export { FlashSim } from "./store/flash-sim.js";
export { SyncEngine, type Scheduler, type PeerRole, type SyncOptions, type SyncLogEntry, type DocumentSchema } from "./transport/sync-engine.js";
export type { DocumentHeader } from "./transport/frames.js";
export { makePolicy, type SyncPolicy, type PolicyRules } from "./transport/policy.js";
export * from "./schema/index.js";
