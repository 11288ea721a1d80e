// The gateway's write path: what it does with each delta a peer sends, each thing once.
//
//   frame → SyncEngine.receive: decoded once, its authorship checked on the decoded delta (no
//           copy of the document), applied once, staged in the StateStore with the keys it
//           changed, and its event-log entry (GatewayDb.appliedOp) joined to the open group
//   group commit (GATEWAY_GROUP_COMMIT deltas, or the event loop turned): ONE SqliteKv.batch
//           holding the states the group touched (a large document's as the deltas themselves,
//           appended to its tail: GATEWAY_TAILS), their change rows (the keys and values each
//           delta changed, not the whole value) and the event-log entries: one fsync
//   then    per delta, the history rows of the keys it changed (one transaction for the group, on
//           the history's own connection) and the caller's notification; then the held frames,
//           the group's ACKs among them: none before its commit
//
// Node only (the gateway's SQLite file). The daemon and bench/gateway-ingest.ts both use it, so
// the bench measures the path the gateway runs.

import type { SyncOptions } from "../../src/transport/sync-engine.js";
import type { SyncEngine } from "../../src/transport/sync-engine.js";
import { GATEWAY_TAILS } from "../../src/store/state-store.js";
import type { GatewayDb } from "./gateway-db.js";
import type { HistoryRecorder } from "./gateway-history.js";

/** Deltas stored in one transaction at most: a flood of frames costs one fsync per this many. */
export const GATEWAY_GROUP_COMMIT = 1024;

export interface WritePathOptions {
  readonly db: GatewayDb;
  /** The engine the options are for (read when a delta was stored, to read the document's fields). */
  readonly engine: () => SyncEngine | undefined;
  /** The history of values (lichen_history), if kept. */
  readonly history?: HistoryRecorder;
  /** The wall clock of the history rows (default Date.now). */
  readonly now?: () => number;
  /** The event log's timestamp of a delta (the replica's HLC). */
  readonly stamp: () => number;
  /** Called for each delta once it is stored, before its ACK is sent. */
  readonly onApplied?: (peer: string, doc: string, delta: Uint8Array, changedKeys: readonly string[] | undefined) => void;
  /** A history write failed: the states are stored (the truth), only history rows are lost. */
  readonly onHistoryError?: (e: unknown) => void;
}

/** The SyncEngine options of a gateway's write path (see the file's header). */
export function gatewayWritePath(o: WritePathOptions): Pick<SyncOptions, "groupCommit" | "tails" | "logApplied" | "onApplied" | "onCommitted"> {
  const now = o.now ?? Date.now;
  return {
    groupCommit: GATEWAY_GROUP_COMMIT,
    tails: GATEWAY_TAILS,
    logApplied: (peer, doc, delta) => [o.db.appliedOp(peer, doc, delta, o.stamp())],
    onApplied: (peer, doc, delta, keys) => {
      const crdt = o.history === undefined ? undefined : o.engine()?.get(doc);
      if (crdt !== undefined) {
        try {
          o.history!.recordKeys(doc, keys, (k) => crdt.valueAt(k), () => crdt.value(), now());
        } catch (e) {
          o.onHistoryError?.(e);
        }
      }
      o.onApplied?.(peer, doc, delta, keys);
    },
    onCommitted: () => {
      try {
        o.history?.flush();
      } catch (e) {
        o.onHistoryError?.(e);
      }
    },
  };
}
