// The gateway daemon: `lichen gateway` (gateway.ts registers the command and imports this file
// when it runs).
//
//   SQLite (openGatewayDb)  ←  SyncEngine (in MqttSync, role "gateway")  ←→  MQTT broker  ←→  nodes, gateways
//          ↑ gateway-ingest.ts: group commit, event log in the same batch    (embedded aedes with
//          ↑ GatewayMonitor (presence, lag, ingest)  →  dashboard (HTTP, SSE)  lichen's ACL, or --broker)
//
// - Everything is in the SQLite file: the engine reloads every document at start, so a restart
//   loses nothing. The replica clock is openClock(db.kv), shared by the engine and the event log.
// - The origin rule is the engine's: a node's delta bringing events of another replica is refused
//   and logged ("forged"). This gateway's own id is always a trusted gateway; other gateways only
//   if listed (--gateways): any other peer announcing the gateway role is held to the origin rule.
// - Logs: one JSON object per line on stdout: {"ts","level","event",...fields}. The engine's log
//   entries (forged, refused, rate-limited, frame-error, peer-error), presence, the broker's ACL
//   refusals, MQTT errors, maintenance, start and stop. A peer's warnings are rate-limited: one
//   line per peer, event and 10 s, with `suppressed`: the count of lines held back before it.
// - The embedded broker (broker-node.ts): this gateway connects to it in process, under its
//   own id, which no network client may take; --users, --cert/--key and the limits set it up.
// - SIGTERM / SIGINT: graceful shutdown: the engine flushed and closed with the offline presence
//   published, the embedded broker, the dashboard and the database closed; exit 0. A second signal
//   exits at once (1).
// - Maintenance, every minute: event logs over --compact-threshold events are compacted
//   (gateway-db's compact), the SQL mirror's change rows older than the last --keep-changes
//   db_versions are pruned, and the history's rows older than --history-days.
// - The write path (gateway-ingest.ts): the deltas received together are stored in one
//   transaction with their event-log entries and change rows, and acknowledged after it.
// - History (gateway-history.ts): every change stored, local or from a peer, adds one row per
//   field that changed to lichen_history, in the transaction that stores the change.
// - Settings (gateway-settings.ts): fleet/* documents written through `write`, from the HTTP API
//   (`lichen set`, the dashboard's form); the tracker follows which nodes applied a change.
// - Home Assistant discovery (ha-discovery.ts), with --ha-discovery: published by the MQTT client.
//
// startGateway() is the daemon without the process around it (signals, exit): scripts/start.ts
// and the tests use it in process.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { createServer } from "node:net";
import type { Crdt } from "../../src/core/crdt.js";
import type { CrdtClass } from "../../src/core/maps.js";
import { docParts } from "../../src/core/names.js";
import { openClock } from "../../src/store/clock-store.js";
import { SqliteKv } from "../../src/store/sqlite.js";
import { startEmbeddedBroker, type BrokerRejection, type EmbeddedBroker } from "../../src/transport/broker-node.js";
import { MqttSync } from "../../src/transport/mqtt-node.js";
import { readUsersFile, type Users } from "../../src/transport/users-file-node.js";
import type { PeerStatus } from "../../src/transport/mqtt-peer.js";
import type { SyncPolicy } from "../../src/transport/policy.js";
import type { SyncEngine, SyncLogEntry } from "../../src/transport/sync-engine.js";
import { startDashboard, tickEvent, type Dashboard, type DashboardContext, type GatewayInfo } from "./dashboard-server.js";
import { isLoopback, LOG_LEVELS, type GatewayConfig, type LogLevel } from "./gateway-config.js";
import { openGatewayDb, type GatewayDb } from "./gateway-db.js";
import { HistoryRecorder } from "./gateway-history.js";
import { gatewayWritePath } from "./gateway-ingest.js";
import { GatewayMonitor } from "./gateway-monitor.js";
import { SettingsTracker } from "./gateway-settings.js";
import { HaDiscovery } from "./ha-discovery.js";
import { LWWMap } from "../../src/core/maps.js";
import { documentSchemas } from "../esp32/documents.js";
import { LogLimiter } from "./log-limit.js";
import { packageVersion } from "./package-version.js";

/** A peer's warnings (malformed frames, refusals, broker rejections): at most one line per peer and event in this interval. */
export const PEER_LOG_INTERVAL_MS = 10_000;

// ---- logs ----

export type LogFields = Record<string, unknown>;
export type Logger = (level: LogLevel, event: string, fields?: LogFields) => void;

/** One JSON object per line: {"ts","level","event",...fields}, for levels at or above `minLevel`. */
export function jsonLogger(minLevel: LogLevel, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const min = LOG_LEVELS.indexOf(minLevel);
  return (level, event, fields = {}) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const line: LogFields = { ts: new Date().toISOString(), level, event };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in line)) line[k] = v instanceof Error ? v.message : v;
    write(`${JSON.stringify(line)}\n`);
  };
}

/** A one-line error message from anything thrown. */
export function errorMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ").trim();
}


/** A startup failure with a message for people (the CLI prints it in one line). */
export class GatewayStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GatewayStartError";
  }
}

// ---- the gateway ----

export interface Gateway {
  readonly config: GatewayConfig;
  readonly db: GatewayDb;
  readonly sync: MqttSync;
  readonly engine: SyncEngine;
  readonly monitor: GatewayMonitor;
  /** The broker's URL as this gateway connects to it. */
  readonly brokerUrl: string;
  /** The embedded broker, if it runs one. */
  readonly broker: EmbeddedBroker | undefined;
  /** The dashboard's URL. */
  readonly httpUrl: string;
  readonly dashboard: Dashboard;
  readonly history: HistoryRecorder;
  readonly settings: SettingsTracker;
  info(): GatewayInfo;
  /** Opens (or creates) a document, changes it, and syncs it: a write made by the gateway itself. */
  write<C extends Crdt>(ns: string, id: string, type: CrdtClass<C>, change: (doc: C) => void): C;
  /** Graceful shutdown; resolves when everything is closed. Idempotent. */
  stop(reason?: string): Promise<void>;
}

export interface StartOptions {
  readonly log?: Logger;
  /** Who may write what (default: each node its own documents; see src/transport/policy.ts). */
  readonly policy?: SyncPolicy;
  /** Called on every presence change (after it is logged). */
  readonly onPresence?: (peer: string, status: PeerStatus) => void;
  /** Called after a peer's delta was applied, stored and logged. */
  readonly onApplied?: (peer: string, doc: string, bytes: number) => void;
  /** Called when the MQTT connection comes up or goes down. */
  readonly onConnection?: (connected: boolean) => void;
  /** Tick period of the monitor and of the dashboard's live updates (default 1000 ms). */
  readonly tickMs?: number;
  /** Maintenance period (default 60 s). */
  readonly maintenanceMs?: number;
  /** Time of the rate-limited peer warnings (default Date.now). */
  readonly now?: () => number;
}

/** Whether a TCP port is free to listen on (mosquitto or another gateway may hold it). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * One gateway per database file: two engines on one file would share a replica id and its clock.
 * On Linux, a listening socket in the abstract namespace named after the file is the lock: the
 * kernel frees it when the process ends, however it ends (no stale lock after a power cut).
 * Elsewhere there is no lock. Resolves to its release.
 */
export async function lockDatabase(path: string): Promise<() => Promise<void>> {
  if (process.platform !== "linux") return async () => {};
  const name = `\0lichen-gateway-${createHash("sha256").update(path).digest("hex").slice(0, 32)}`;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? new GatewayStartError(`another gateway is running on ${path} (one gateway per database)`) : e),
    );
    server.listen({ path: name }, () => resolve());
  });
  server.unref();
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Runs the periodic upkeep of the database once; returns what it did. */
export function maintain(db: GatewayDb, config: Pick<GatewayConfig, "compactThreshold" | "keepChanges" | "historyDays">, log: Logger, history?: HistoryRecorder, now = Date.now()): void {
  if (history !== undefined && config.historyDays > 0) {
    try {
      const rows = history.prune(now - config.historyDays * 86_400_000);
      if (rows > 0) log("info", "history-pruned", { rows, days: config.historyDays });
    } catch (e) {
      log("error", "history-prune-failed", { message: errorMessage(e) });
    }
  }
  if (config.compactThreshold > 0) {
    for (const ns of db.logs()) {
      try {
        const r = db.compact(ns, { threshold: config.compactThreshold });
        if (r.compacted) log("info", "compacted", { namespace: ns, dropped: r.dropped, snapshotSeq: r.snapshot?.seq, snapshotBytes: r.snapshot?.bytes });
      } catch (e) {
        log("error", "compact-failed", { namespace: ns, message: errorMessage(e) });
      }
    }
  }
  if (config.keepChanges > 0 && db.kv instanceof SqliteKv) {
    try {
      const v = db.kv.dbVersion();
      if (v > config.keepChanges) {
        const rows = db.kv.pruneChanges(v - config.keepChanges);
        if (rows > 0) log("info", "pruned", { rows, upToDbVersion: v - config.keepChanges });
      }
    } catch (e) {
      log("error", "prune-failed", { message: errorMessage(e) });
    }
  }
}

/**
 * Starts a gateway: the database, the embedded broker (unless config.broker), the sync engine over
 * MQTT, the dashboard. Throws GatewayStartError (a port in use, ...) or LichenError (the database)
 * after closing whatever it had opened.
 */
export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const log = options.log ?? (() => {});
  const version = packageVersion();
  const startedAt = Date.now();
  log("info", "starting", { version, id: config.id, fleet: config.fleet, db: config.db, broker: config.broker ?? `embedded on ${config.host}:${config.port}`, pid: process.pid });

  const cleanup: Array<() => Promise<void> | void> = [];
  const unwind = async (): Promise<void> => {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        // closing after a failed start: nothing more to do
      }
    }
  };

  // a peer's warnings: one line per peer, event and interval (see PEER_LOG_INTERVAL_MS)
  const limiter = new LogLimiter(PEER_LOG_INTERVAL_MS, options.now ?? Date.now);
  const KEY_SEP = "\u0000";
  const peerWarning = (event: string, peer: string | undefined, fields: Record<string, unknown>): void => {
    const held = limiter.admit(`${event}${KEY_SEP}${peer ?? ""}`);
    if (held !== undefined) log("warn", event, held > 0 ? { ...fields, suppressed: held } : fields);
  };
  const flushWarnings = (): void => {
    for (const h of limiter.flush()) {
      const [event, peer] = h.key.split(KEY_SEP) as [string, string];
      log("warn", event, { peer: peer === "" ? undefined : peer, suppressed: h.count, message: `${h.count} more like this in ${PEER_LOG_INTERVAL_MS / 1000} s` });
    }
  };

  try {
    // the lock is named after the real path (symbolic links resolved) of the file-to-be
    let real = config.db;
    try {
      real = join(realpathSync(dirname(config.db)), basename(config.db));
    } catch {
      // a missing directory: openGatewayDb says so
    }
    const unlock = await lockDatabase(real);
    cleanup.push(unlock);
    // ports first: a start that fails on a busy port leaves no new database behind
    if (config.broker === undefined && config.port !== 0 && !(await portFree(config.port, config.host))) {
      throw new GatewayStartError(
        `cannot start the embedded MQTT broker: ${config.host}:${config.port} is in use (mosquitto? then use --broker mqtt://127.0.0.1:${config.port}; or choose another --port)`,
      );
    }
    if (config.httpPort !== 0 && !(await portFree(config.httpPort, config.httpHost))) {
      throw new GatewayStartError(`cannot serve the dashboard on ${config.httpHost}:${config.httpPort}: the port is in use (choose another --http-port)`);
    }
    // a file this start creates is removed if the start fails
    const created = !existsSync(config.db);
    if (created) cleanup.push(() => {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${config.db}${suffix}`, { force: true });
    });
    const db = openGatewayDb(config.db, { create: true });
    cleanup.push(() => db.close());
    // (its rows ride in the batches' transactions: a failed write of them loses them, never a state)
    const history = new HistoryRecorder(db.kv, (e) => log("error", "history-failed", { message: errorMessage(e) }));
    maintain(db, config, log, history);
    const clock = openClock(db.kv);

    // the broker
    let broker: EmbeddedBroker | undefined;
    let brokerUrl: string;
    if (config.broker === undefined) {
      let users: Users | undefined;
      let tls: { cert: Buffer; key: Buffer } | undefined;
      try {
        users = config.users === undefined ? undefined : readUsersFile(config.users);
        tls = config.cert === undefined || config.key === undefined ? undefined : { cert: readFileSync(config.cert), key: readFileSync(config.key) };
      } catch (e) {
        throw new GatewayStartError(`cannot start the embedded MQTT broker: ${errorMessage(e)}`);
      }
      try {
        broker = await startEmbeddedBroker({
          host: config.host,
          port: config.port,
          fleet: config.fleet,
          users,
          tls,
          reservedIds: [config.id],
          unthrottledIds: config.gateways,
          maxPacketBytes: config.maxPacketBytes,
          maxConnections: config.maxConnections,
          publishPerSecond: config.publishRate,
          publishBurst: config.publishBurst,
          onRefused: (r) => peerWarning("acl-refused", r.clientId, { client: r.clientId, action: r.action, topic: r.topic }),
          onRejected: (r: BrokerRejection) => peerWarning("broker-rejected", r.clientId, { ...r, client: r.clientId, clientId: undefined }),
        });
      } catch (e) {
        throw new GatewayStartError(`cannot start the embedded MQTT broker on ${config.host}:${config.port}: ${errorMessage(e)}`);
      }
      const b = broker;
      cleanup.push(() => b.close());
      const scheme = tls === undefined ? "mqtt" : "mqtts";
      brokerUrl = `${scheme}://${urlHost(config.host)}:${broker.port}`;
      log("info", "broker-listening", { url: brokerUrl, embedded: true, users: users?.hashes.size ?? null, tls: tls !== undefined });
      if (!isLoopback(config.host)) {
        if (users === undefined) log("warn", "broker-exposed", { host: config.host, message: "the embedded broker takes anonymous clients on a non-loopback address: the ACL binds topics to client ids, but nothing binds client ids to devices (give it --users FILE, docs/gateway.md)" });
        else if (tls === undefined) log("warn", "broker-cleartext", { host: config.host, message: "the embedded broker's clients send their passwords in clear text on a non-loopback address (give it --cert and --key, docs/gateway.md)" });
      }
    } else brokerUrl = config.broker;

    // the sync engine over MQTT: to the embedded broker in process, else with the external broker's credentials and TLS
    let tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    if (broker === undefined) try {
      tls = {
        ca: config.ca === undefined ? undefined : readFileSync(config.ca),
        cert: config.cert === undefined ? undefined : readFileSync(config.cert),
        key: config.key === undefined ? undefined : readFileSync(config.key),
      };
    } catch (e) {
      throw new GatewayStartError(`cannot read a TLS file: ${errorMessage(e)}`);
    }
    let monitor: GatewayMonitor | undefined;
    let ha: HaDiscovery | undefined;
    const lastMqttError = new Map<string, number>();
    const REFUSALS = new Set(["forged", "refused", "forbidden", "quota", "rate-limited", "frame-error"]);
    // before the change is stored: its rows ride in the batch that stores it
    const recordHistory = (doc: string): void => {
      const crdt = engine.get(doc);
      if (crdt === undefined) return;
      try {
        history.record(doc, crdt.value(), Date.now());
      } catch (e) {
        // the change is stored all the same; only its history rows are lost
        log("error", "history-failed", { doc, message: errorMessage(e) });
      }
    };
    const engineLog = (entry: SyncLogEntry): void => {
      if (REFUSALS.has(entry.event)) monitor?.refused(entry.peer, entry.event, entry.count ?? 1);
      // the engine already writes a peer's warnings once per event and interval, with their count
      if (entry.level === "warn" && entry.peer !== undefined) return log("warn", entry.event, { peer: entry.peer, doc: entry.doc, message: entry.message, count: entry.count });
      if (entry.event === "mqtt-error") {
        // a broker that is down fails every reconnect: say it once a minute
        const at = lastMqttError.get(entry.message) ?? 0;
        if (Date.now() - at < 60_000) return;
        lastMqttError.set(entry.message, Date.now());
      }
      log(entry.level, entry.event, { peer: entry.peer, doc: entry.doc, message: entry.message });
    };
    const inProcess = broker;
    const sync = new MqttSync({
      url: brokerUrl,
      fleet: config.fleet,
      replica: config.id,
      role: "gateway",
      kv: db.kv,
      clock,
      gateways: [config.id, ...config.gateways],
      // the nodes' typed documents (targets/esp32/documents.toml): their schema versions travel in every delta
      documents: documentSchemas,
      policy: options.policy,
      logIntervalMs: PEER_LOG_INTERVAL_MS,
      heartbeatMs: config.heartbeatMs,
      antiEntropyMs: config.antiEntropyMs,
      username: config.username,
      password: config.password,
      ...tls,
      rejectUnauthorized: config.insecure ? false : undefined,
      maxPacketBytes: config.maxPacketBytes,
      stream: inProcess === undefined ? undefined : () => inProcess.connectInProcess(),
      // QoS 0 in process: the link is memory, and with clean sessions a QoS-1 delivery lost with
      // a connection is not redelivered either (lichen's ACKs and resends carry delivery). QoS 1
      // kept a copy of every frame until its PUBACK, which under a flood waits behind the nodes'
      // traffic: enough of them lived long enough to fill the heap's old generation
      qos: inProcess === undefined ? undefined : 0,
      log: engineLog,
      // decoded, checked and applied once; stored in groups with the event log, then acknowledged
      ...gatewayWritePath({
        db,
        engine: () => engine,
        history,
        stamp: () => clock.now(),
        onHistoryError: (e) => log("error", "history-failed", { message: errorMessage(e) }),
        onApplied: (peer, doc, delta) => {
          monitor?.applied(peer, doc, delta.length);
          if (ha !== undefined) {
            try {
              ha.changed(peer, doc, engine.get(doc)?.value());
            } catch (e) {
              log("error", "ha-failed", { peer, doc, message: errorMessage(e) });
            }
          }
          log("debug", "applied", { peer, doc, bytes: delta.length });
          options.onApplied?.(peer, doc, delta.length);
        },
      }),
      onPresence: (peer, s) => {
        monitor?.presence(peer);
        if (s.role === "node") ha?.presence(peer, s.online);
        log("info", "presence", { peer, role: s.role, online: s.online });
        options.onPresence?.(peer, s);
      },
    });
    cleanup.push(() => sync.close());
    const engine = sync.engine;
    for (const doc of engine.documents()) history.know(doc, engine.get(doc)!.value());
    const m = new GatewayMonitor({ self: config.id, gateways: config.gateways, engine, peers: () => sync.peers() });
    monitor = m;
    if (config.haDiscovery) {
      ha = new HaDiscovery({ fleet: config.fleet, prefix: config.haPrefix, publish: (topic, payload, retain) => void sync.client.publish(topic, payload, { qos: 0, retain }) });
      for (const doc of engine.documents()) {
        const [, id] = docParts(doc);
        if (id !== config.id) ha.changed(id, doc, engine.get(doc)!.value());
      }
    }
    const write = <C extends Crdt>(ns: string, id: string, type: CrdtClass<C>, change: (doc: C) => void): C => {
      const doc = engine.open(ns, id, type);
      change(doc);
      recordHistory(`${ns}/${id}`);
      engine.changed(ns, id);
      m.changedLocally(`${ns}/${id}`);
      return doc;
    };
    const settings = new SettingsTracker(engine, (ns, id, change) => write(ns, id, LWWMap, change), () => m.nodes());
    let connected = false;
    sync.client.on("connect", () => {
      connected = true;
      log("info", "mqtt-connected", { url: brokerUrl });
      options.onConnection?.(true);
    });
    let stopping: Promise<void> | undefined;
    sync.client.on("close", () => {
      if (!connected) return;
      connected = false;
      if (stopping !== undefined) return; // our own shutdown
      log("warn", "mqtt-disconnected", { url: brokerUrl });
      options.onConnection?.(false);
    });

    const info = (): GatewayInfo => ({
      id: config.id,
      fleet: config.fleet,
      version,
      broker: brokerUrl,
      brokerEmbedded: broker !== undefined,
      connected: sync.connected,
      db: db.path,
      startedAt,
      gateways: [config.id, ...config.gateways],
    });

    // the dashboard
    const ctx: DashboardContext = {
      info,
      monitor: m,
      engine,
      db,
      onError: (e, url) => log("error", "http-error", { url, message: errorMessage(e) }),
      settings: {
        view: (doc) => settings.view(doc),
        set: (doc, change) => {
          const view = settings.set(doc, change);
          log("info", "settings-changed", { doc, keys: Object.keys(change) });
          return view;
        },
      },
      metrics: () => ({
        fleet: config.fleet,
        version,
        connected: sync.connected,
        uptimeMs: Date.now() - startedAt,
        totals: m.totals,
        nodes: m.nodes(),
        dbPath: db.path,
        brokerClients: broker?.aedes.connectedClients,
        ingest: m.ingestRate(),
      }),
    };
    let dashboard: Dashboard;
    try {
      dashboard = await startDashboard(ctx, { host: config.httpHost, port: config.httpPort });
    } catch (e) {
      const inUse = (e as NodeJS.ErrnoException).code === "EADDRINUSE";
      throw new GatewayStartError(`cannot serve the dashboard on ${config.httpHost}:${config.httpPort}: ${inUse ? "the port is in use (choose another --http-port)" : errorMessage(e)}`);
    }
    cleanup.push(() => dashboard.close());
    log("info", "http-listening", { url: dashboard.url });
    if (!isLoopback(config.httpHost)) log("warn", "dashboard-exposed", { host: config.httpHost, message: "the dashboard has no authentication and is reachable from the network" });

    const tickTimer = setInterval(() => {
      flushWarnings();
      try {
        settings.observe();
        dashboard.broadcast(tickEvent(ctx, m.tick()));
      } catch (e) {
        log("error", "tick-failed", { message: errorMessage(e) });
      }
    }, options.tickMs ?? 1000);
    tickTimer.unref();
    // the open group first: compaction reads the event logs as stored
    const maintenanceTimer = setInterval(() => {
      try {
        engine.commit();
      } catch (e) {
        log("error", "commit-failed", { message: errorMessage(e) });
      }
      maintain(db, config, log, history);
    }, options.maintenanceMs ?? 60_000);
    maintenanceTimer.unref();

    log("info", "ready", { id: config.id, fleet: config.fleet, documents: engine.documents().length, broker: brokerUrl, dashboard: dashboard.url });

    const gateway: Gateway = {
      config,
      db,
      sync,
      engine,
      monitor: m,
      brokerUrl,
      broker,
      httpUrl: dashboard.url,
      dashboard,
      info,
      history,
      settings,
      write,
      stop: (reason = "stop") =>
        (stopping ??= (async () => {
          log("info", "stopping", { reason });
          clearInterval(tickTimer);
          clearInterval(maintenanceTimer);
          const step = async (what: string, f: () => Promise<void> | void): Promise<void> => {
            try {
              await f();
            } catch (e) {
              log("error", "stop-failed", { step: what, message: errorMessage(e) });
            }
          };
          // offline presence published, pending writes flushed, the engine closed, the client ended
          await step("sync", () => sync.close());
          await step("broker", () => broker?.close());
          await step("dashboard", () => dashboard.close());
          await step("db", () => db.close());
          await step("lock", () => unlock());
          log("info", "stopped", { reason });
        })()),
    };
    return gateway;
  } catch (e) {
    await unwind();
    throw e;
  }
}

// ---- the process: `lichen gateway` ----

/**
 * Runs the daemon until SIGTERM or SIGINT, then shuts down gracefully and resolves. Startup
 * failures reject (the command prints them in one line). A fatal error at run time (an exception
 * nobody caught) is logged, the gateway is shut down, and the promise rejects.
 */
export async function runDaemon(config: GatewayConfig, log: Logger = jsonLogger(config.logLevel), policy?: SyncPolicy): Promise<void> {
  let stop: (reason: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  let signalledAt: number | undefined;
  let fatal: unknown;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalledAt !== undefined) {
      // a second signal forces the exit; one that follows at once is the same stop relayed twice (a wrapper, a process group)
      if (Date.now() - signalledAt < 1000) return;
      log("warn", "forced-exit", { signal });
      process.exit(1);
    }
    signalledAt = Date.now();
    stop(signal);
  };
  const onFatal = (e: unknown): void => {
    log("error", "fatal", { message: errorMessage(e), stack: e instanceof Error ? e.stack : undefined });
    if (fatal === undefined) fatal = e;
    stop("fatal");
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("uncaughtException", onFatal);
  process.on("unhandledRejection", onFatal);
  try {
    let gateway: Gateway;
    try {
      gateway = await startGateway(config, { log, policy });
    } catch (e) {
      log("error", "start-failed", { message: errorMessage(e) });
      throw e;
    }
    const reason = await stopped;
    await gateway.stop(reason);
  } finally {
    process.off("uncaughtException", onFatal);
    process.off("unhandledRejection", onFatal);
    // a second signal during the rest of the exit still forces it
    // anything left open (it should not be) must not keep the process alive
    setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
  }
  if (fatal !== undefined) throw new GatewayStartError(`stopped after a fatal error: ${errorMessage(fatal)}`);
}
