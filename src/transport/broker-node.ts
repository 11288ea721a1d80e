// The embedded MQTT broker of a gateway without mosquitto: aedes (MQTT 3.1.1, in process) with
// lichen's ACL, credentials, TLS and limits. Node only (the file name says so).
//
// - ACL (mqtt-topics.ts): a client publishes frames only as itself and reads only its inbox and
//   presence.
// - Credentials (users-file-node.ts): with a users file, every network client must log in, and its
//   client id must be its user name: a device connects only as itself. Without one, anyone may
//   connect (loopback, tests), the ACL still applies.
// - Reserved ids (the gateway's own): only an in-process connection (connectInProcess) may use
//   them, so nobody on the network can take the gateway's place or kick it off.
// - TLS: a certificate and its key make the listener mqtts.
// - Limits: a maximum packet size (checked from the fixed header, before the body is buffered),
//   a maximum number of connections, a publish rate per client (a token bucket; a client over
//   it is slowed down, not dropped: its next publishes wait, and TCP pushes back on it), and at
//   most 4 KiB of a client parsed at once (limitIntake): a flood waits as bytes in the socket
//   and the kernel, not as parsed packets in the heap. And no network client is read while the
//   in-process connections (the gateway's) hold more than a bound (inProcessBacklogBytes): a
//   gateway slower than its nodes slows them down instead of piling up its answers; and at most
//   16 KiB of packets parsed from all network clients together (parsedBytes).
// - aedes 1.2 / mqemitter 7.1 overflow the stack under a flood (see startEmbeddedBroker): the
//   emitter's queue is turned off.
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Duplex } from "node:stream";
import type { Aedes, AedesOptions, Client } from "aedes";
import { invalidArgument } from "../core/errors.js";
import { decodePresence, mayPublish, maySubscribe, parseTopic } from "./mqtt-topics.js";
import { DEFAULT_MAX_PACKET_BYTES, DEFAULT_READ_BATCH_BYTES, IntakeGate, limitIntake, type Intake } from "./packet-limit-node.js";
import type { Scheduler } from "./sync-engine.js";
import { verifyPassword, type Users } from "./users-file-node.js";

export interface AclOptions {
  /** Confine clients to this fleet. */
  readonly fleet?: string;
  /** Called for every publish or subscribe refused. */
  readonly onRefused?: (refusal: { clientId: string | undefined; action: "publish" | "subscribe"; topic: string }) => void;
}

type AuthorizePublish = NonNullable<AedesOptions["authorizePublish"]>;
type AuthorizeSubscribe = NonNullable<AedesOptions["authorizeSubscribe"]>;

/**
 * aedes's authorizePublish with lichen's ACL (mqtt-topics.ts mayPublish): a client publishes
 * frames only as itself (`lichen/F/+/in/<client id>`) and only its own presence. A refused
 * publish makes aedes close the client's connection (MQTT 3.1.1 has no negative PUBACK).
 * Wills are checked too; a will aedes publishes for a client no longer known (client null)
 * passes only if it is an offline presence.
 */
export function authorizePublish(options: AclOptions = {}): AuthorizePublish {
  return (client, packet, callback) => {
    const topic = packet.topic;
    let ok: boolean;
    if (client === null) {
      const t = parseTopic(topic);
      ok = t !== undefined && t.kind === "presence" && (options.fleet === undefined || t.fleet === options.fleet) && isOfflinePresence(packet.payload);
    } else ok = mayPublish(client.id, topic, options.fleet);
    if (ok) return callback(null);
    options.onRefused?.({ clientId: client?.id, action: "publish", topic });
    callback(new Error(`lichen ACL: ${client?.id ?? "(no client)"} may not publish to ${topic}`));
  };
}

function isOfflinePresence(payload: unknown): boolean {
  try {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : new Uint8Array(payload as Uint8Array);
    return decodePresence(bytes).state === "offline";
  } catch {
    return false;
  }
}

/**
 * aedes's authorizeSubscribe with lichen's ACL (maySubscribe): a client subscribes only to its
 * own inbox and to presence. A refused subscription is answered with a failure code (0x80);
 * the connection stays up.
 */
export function authorizeSubscribe(options: AclOptions = {}): AuthorizeSubscribe {
  return (client, sub, callback) => {
    if (maySubscribe(client.id, sub.topic, options.fleet)) return callback(null, sub);
    options.onRefused?.({ clientId: client.id, action: "subscribe", topic: sub.topic });
    callback(null, null);
  };
}

/** Why a connection was refused or closed by the broker (for the gateway's log). */
export type BrokerRejection =
  | { readonly reason: "bad-credentials" | "reserved-id" | "not-own-id"; readonly clientId: string; readonly username: string | undefined }
  | { readonly reason: "packet-too-large"; readonly clientId: string | undefined; readonly bytes: number }
  | { readonly reason: "too-many-connections"; readonly clientId: undefined };

export interface BrokerLimits {
  /** Largest MQTT packet accepted from a network client, in bytes (default 65,536). */
  readonly maxPacketBytes?: number;
  /** Most network connections at once (default 1,000); more are closed at once. */
  readonly maxConnections?: number;
  /** Publishes per second a network client may sustain (default 100; 0: no limit). */
  readonly publishPerSecond?: number;
  /** Publishes a network client may send at once above the rate (default 1,000). */
  readonly publishBurst?: number;
  /**
   * Bytes of a client read and parsed at once (default 4,096): aedes handles a client's next
   * packets only once the previous batch is delivered, so what a flood holds in memory is this
   * much per connection, not its whole backlog (see limitIntake in packet-limit-node.ts).
   */
  readonly readBatchBytes?: number;
  /**
   * Bytes queued on the in-process connections (connectInProcess: the gateway's), both ways, over
   * which no network client is read (default 32,768). The gateway answers every frame it takes,
   * and the broker reads those answers a batch at a time like any client's: without this bound,
   * a flood from many clients is read faster than the gateway's answers are, and they pile up
   * in its connection (a heap snapshot during a flood of 200,000 frames: 150,000 writes). With
   * it, the flood waits in the kernel until the gateway's queue is down again.
   */
  readonly inProcessBacklogBytes?: number;
  /**
   * Bytes of packets read from network clients and not yet handled, all clients together
   * (default 16,384): past it, no client is read until some are handled. Each client's batch
   * (readBatchBytes) bounds what one client holds; this bounds them all, so that a flood from
   * hundreds of clients is a few dozen KiB of parsed packets at a time, not hundreds of batches
   * that live long enough to fill the heap's old generation. A client waiting for its publish
   * rate does not count against it.
   */
  readonly parsedBytes?: number;
}

export interface EmbeddedBrokerOptions extends AclOptions, BrokerLimits {
  /** Default 1883; 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string;
  /** With users (readUsersFile), every network client logs in, as its own client id. */
  readonly users?: Users;
  /** Client ids that only connectInProcess() may use: the gateway's own. */
  readonly reservedIds?: readonly string[];
  /** Client ids not held to the publish rate: other gateways, which relay a whole fleet. */
  readonly unthrottledIds?: readonly string[];
  /** A PEM certificate (chain) and its key: the listener speaks TLS (mqtts). */
  readonly tls?: { readonly cert: string | Uint8Array; readonly key: string | Uint8Array };
  /** Called for every connection refused or closed by a limit. */
  readonly onRejected?: (rejection: BrokerRejection) => void;
  /** Time and timers of the publish rate limit (default: the process's). */
  readonly scheduler?: Scheduler;
}

export interface EmbeddedBroker {
  readonly port: number;
  readonly host: string;
  /** mqtt://host:port or mqtts://host:port */
  readonly url: string;
  /** The aedes instance (its events: "publish", "clientError", ...). */
  readonly aedes: Aedes;
  /** Bytes queued now on the in-process connections, both ways (see inProcessBacklogBytes). */
  inProcessBacklog(): number;
  /** The gate of the network clients' intake (parsedBytes and inProcessBacklogBytes): what is parsed now, who waits. */
  readonly gate: IntakeGate;
  /** A connection to the broker inside this process: not on the network, trusted with a reserved id, no limits. */
  connectInProcess(): Duplex;
  /** Stops listening and drops every client (their wills are published first). */
  close(): Promise<void>;
}

/** The default of inProcessBacklogBytes: a few dozen frames and their answers. */
export const DEFAULT_IN_PROCESS_BACKLOG_BYTES = 32_768;

/** The default of parsedBytes: 4 clients' batches. */
export const DEFAULT_PARSED_BYTES = 16_384;

/** A client that reads nothing for this long while the broker writes to it is dropped: it would hold every publish to it (aedes waits for its socket to drain). */
const DRAIN_TIMEOUT_MS = 10_000;

const defaultScheduler: () => Scheduler = () => ({
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
});

function positive(name: string, v: number | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) throw invalidArgument(`${name} must be an integer of at least ${min}`);
  return v;
}

/**
 * An aedes broker (MQTT 3.1.1, in process) with lichen's ACL, credentials, TLS and limits,
 * listening on TCP (see the top of this file).
 *
 * aedes 1.2.0 runs mqemitter 7.1.0 with `concurrency: 100`: past 100 messages in flight, the
 * emitter queues them, and a delivery that completes synchronously (a topic nobody subscribes
 * to, aedes's own $SYS handlers) drains the queue by recursion (released → _do → parallel →
 * released), one stack frame group per queued message: a flood of 200 clients × 1,000 frames
 * throws "Maximum call stack size exceeded" (mqemitter pull request #204 is still open).
 * `concurrency: 0` turns the queue off. Nothing is lost in bounds: aedes reads a client's next
 * chunk only once every packet of the previous one is handled, so what is in flight stays one
 * socket read per client, and the number of clients is capped.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const maxPacketBytes = positive("maxPacketBytes", options.maxPacketBytes, DEFAULT_MAX_PACKET_BYTES, 64);
  const maxConnections = positive("maxConnections", options.maxConnections, 1000);
  const publishPerSecond = positive("publishPerSecond", options.publishPerSecond, 100, 0);
  const publishBurst = positive("publishBurst", options.publishBurst, 1000);
  const readBatchBytes = positive("readBatchBytes", options.readBatchBytes, DEFAULT_READ_BATCH_BYTES);
  const inProcessBacklogBytes = positive("inProcessBacklogBytes", options.inProcessBacklogBytes, DEFAULT_IN_PROCESS_BACKLOG_BYTES);
  const parsedBytes = positive("parsedBytes", options.parsedBytes, DEFAULT_PARSED_BYTES);
  const reserved = new Set(options.reservedIds ?? []);
  const unthrottled = new Set(options.unthrottledIds ?? []);
  const scheduler = options.scheduler ?? defaultScheduler();
  const inProcess = new WeakSet<object>();
  const trusted = (client: Client | null): boolean => client !== null && inProcess.has(client.conn as object);

  const acl = authorizePublish(options);
  // a client waiting for its rate holds its batch, but not the others' intake
  const intakes = new WeakMap<object, Intake>();
  const throttle = publishPerSecond > 0 ? publishThrottle(scheduler, publishPerSecond, publishBurst, (client) => intakes.get(client.conn as object)?.park()) : undefined;
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker({
    concurrency: 0, // see above: mqemitter's queue overflows the stack under a flood
    drainTimeout: DRAIN_TIMEOUT_MS,
    authenticate: (client, username, password, callback) => {
      const refuse = (reason: "bad-credentials" | "reserved-id" | "not-own-id", returnCode: number): void => {
        options.onRejected?.({ reason, clientId: client.id, username });
        callback(Object.assign(new Error(`lichen: connection refused (${reason})`), { returnCode }), false);
      };
      if (trusted(client)) return callback(null, true);
      if (reserved.has(client.id)) return refuse("reserved-id", 2);
      if (options.users === undefined) return callback(null, true);
      if (username === undefined || password === undefined) return refuse("bad-credentials", 4);
      if (username !== client.id) return refuse("not-own-id", 5);
      verifyPassword(options.users, username, password).then(
        (ok) => (ok ? callback(null, true) : refuse("bad-credentials", 4)),
        () => refuse("bad-credentials", 4),
      );
    },
    authorizePublish: (client, packet, callback) => {
      acl(client, packet, (err) => {
        if (err !== null && err !== undefined) return callback(err);
        if (throttle === undefined || client === null || trusted(client) || unthrottled.has(client.id) || client.closed) return callback(null);
        throttle(client, () => callback(null));
      });
    },
    authorizeSubscribe: authorizeSubscribe(options),
  } as AedesOptions);

  // the broker's ends of the in-process connections; the network's intake waits while they hold too much
  const links = new Set<InMemoryEnd>();
  const inProcessBacklog = (): number => {
    let n = 0;
    for (const end of links) n += end.queued() + end.other().queued();
    return n;
  };
  const gate = new IntakeGate(parsedBytes, () => inProcessBacklog() > inProcessBacklogBytes);
  const sockets = new Set<Socket>();
  const accept = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setNoDelay(true); // small frames must not wait for Nagle's algorithm
    const intake = limitIntake(socket, maxPacketBytes, {
      batchBytes: readBatchBytes,
      gate,
      onTooLarge: (bytes) => {
        const id = (socket as unknown as { client?: Client }).client?.id ?? undefined;
        options.onRejected?.({ reason: "packet-too-large", clientId: id ?? undefined, bytes });
      },
    });
    intakes.set(socket, intake);
    broker.handle(socket);
  };
  const server: Server = options.tls === undefined ? createTcpServer(accept) : createTlsServer({ cert: toPem(options.tls.cert), key: toPem(options.tls.key) }, accept);
  server.maxConnections = maxConnections;
  server.on("drop", () => options.onRejected?.({ reason: "too-many-connections", clientId: undefined }));
  // a client failing its TLS handshake: its socket is closed, the listener stays up
  server.on("tlsClientError", () => {});
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 1883, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 1883);
  const scheme = options.tls === undefined ? "mqtt" : "mqtts";
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `${scheme}://${urlHost}:${port}`,
    aedes: broker,
    inProcessBacklog,
    gate,
    connectInProcess() {
      const [mine, theirs] = duplexPair();
      inProcess.add(mine);
      links.add(mine);
      // the backlog shrank: the broker read some of it, or either end's writes drained (the gate
      // also polls while it holds streams: not every way it shrinks has an event)
      const check = (): void => gate.check();
      mine.on("drain", check);
      theirs.on("drain", check);
      mine.once("close", () => {
        links.delete(mine);
        check();
      });
      // trusted, never gated (the network's intake waits for it), but batched like the others:
      // the gateway's own burst is parsed a batch at a time
      limitIntake(mine, Number.MAX_SAFE_INTEGER, { batchBytes: readBatchBytes, onRead: check });
      broker.handle(mine);
      return theirs;
    },
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      })()),
  };
}

function toPem(x: string | Uint8Array): string | Buffer {
  return typeof x === "string" ? x : Buffer.from(x);
}

/**
 * A token bucket per client: `burst` publishes at once, then `perSecond`. A publish over the
 * budget is let through when its turn comes (the bucket goes into debt), so a client's order is
 * kept and aedes, which waits for a chunk's publishes before reading the next, stops reading it.
 * `onWait` is told when a client has to wait.
 */
function publishThrottle(scheduler: Scheduler, perSecond: number, burst: number, onWait: (client: Client) => void): (client: Client, go: () => void) => void {
  const buckets = new WeakMap<Client, { tokens: number; at: number }>();
  return (client, go) => {
    const now = scheduler.now();
    let b = buckets.get(client);
    if (b === undefined) buckets.set(client, (b = { tokens: burst, at: now }));
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * perSecond) / 1000);
    b.at = now;
    b.tokens -= 1;
    if (b.tokens >= 0) return go();
    onWait(client);
    scheduler.setTimer((-b.tokens * 1000) / perSecond, () => {
      if (!client.closed) go();
    });
  };
}

/** Two connected in-memory streams: what one writes, the other reads (with backpressure). */
function duplexPair(): [InMemoryEnd, InMemoryEnd] {
  const ends: InMemoryEnd[] = [];
  const a = new InMemoryEnd(() => ends[1]!);
  const b = new InMemoryEnd(() => ends[0]!);
  ends.push(a, b);
  return [a, b];
}

class InMemoryEnd extends Duplex {
  /** The write waiting for the other end to read (backpressure). */
  waiting: (() => void) | undefined;

  constructor(readonly other: () => InMemoryEnd) {
    super();
  }

  /** Bytes this end holds: written and not yet passed on, and passed to it and not yet read. */
  queued(): number {
    return this.writableLength + this.readableLength;
  }

  override _read(): void {
    const w = this.other().waiting;
    this.other().waiting = undefined;
    w?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.other().push(chunk)) callback();
    else this.waiting = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other().push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const other = this.other();
    if (!other.destroyed) other.destroy();
    callback(error);
  }
}
