// The gateway's write path: what it does with each delta a peer sends, each thing once.
//
//   frame → SyncEngine.receive: decoded once, its authorship checked on the decoded delta (no
//           copy of the document), applied once, staged in the StateStore with the keys it
//           changed; its event-log entry (GatewayDb.appliedOp) joins the open group, and the
//           history rows of the keys it changed wait for the group's batch
//   group commit (GATEWAY_GROUP_COMMIT deltas, or the event loop turned): ONE SqliteKv.batch
//           holding the states the group touched (a large document's as the deltas themselves,
//           appended to its tail: GATEWAY_TAILS), their change rows (the keys and values each
//           delta changed, not the whole value), the event-log entries and the history rows
//           (HistoryRecorder, a BatchRows of the SqliteKv): one transaction, one fsync
//   then    per delta, the caller's notification; then the held frames, the group's ACKs among
//           them: none before its commit
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
  /** The engine the options are for (read when a delta was applied, to read the document's fields). */
  readonly engine: () => SyncEngine | undefined;
  /** The history of values (lichen_history), if kept: a recorder on `db.kv`. */
  readonly history?: HistoryRecorder;
  /** The wall clock of the history rows (default Date.now). */
  readonly now?: () => number;
  /** The event log's timestamp of a delta (the replica's HLC). */
  readonly stamp: () => number;
  /** Called for each delta once it is stored, before its ACK is sent. */
  readonly onApplied?: (peer: string, doc: string, delta: Uint8Array, changedKeys: readonly string[] | undefined) => void;
  /** Reading a delta's history rows failed: the delta is stored all the same, only its history rows are lost. */
  readonly onHistoryError?: (e: unknown) => void;
}

/** The SyncEngine options of a gateway's write path (see the file's header). */
export function gatewayWritePath(o: WritePathOptions): Pick<SyncOptions, "groupCommit" | "tails" | "logApplied" | "onApplied"> {
  const now = o.now ?? Date.now;
  const history = o.history;
  return {
    groupCommit: GATEWAY_GROUP_COMMIT,
    tails: GATEWAY_TAILS,
    logApplied: (peer, doc, delta, keys) => {
      const crdt = history === undefined ? undefined : o.engine()?.get(doc);
      if (crdt !== undefined) {
        try {
          history!.recordKeys(doc, keys, crdt, now());
        } catch (e) {
          o.onHistoryError?.(e);
        }
      }
      return [o.db.appliedOp(peer, doc, delta, o.stamp())];
    },
    ...(o.onApplied === undefined ? {} : { onApplied: o.onApplied }),
  };
}
