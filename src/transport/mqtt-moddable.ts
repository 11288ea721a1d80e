// lichen's MQTT binding on the device: a SyncEngine over the Moddable SDK's MQTT client.
// Device-only: it imports Moddable's "mqtt" module (the library manifest includes
// $(MODDABLE)/modules/network/mqtt/manifest.json). The protocol logic is in mqtt-peer.ts, shared
// with the Node binding.
//
// Moddable's client (modules/network/mqtt/mqtt.js and documentation/network/network.md of the
// Moddable SDK), the part used here:
//   import Client from "mqtt";            // the default export
//   const c = new Client({ host, port, id, user, password, will, timeout, Socket, secure });
//     will: { topic, message (string or ArrayBuffer), retain (SDK 3.5.0 and later), quality }
//     timeout: the MQTT keepalive in ms (none when omitted); Socket/secure: TLS with SecureSocket
//   c.onReady = () => {}                  // CONNACK received: publish and subscribe only from now on
//   c.onMessage = (topic, data) => {}     // data: an ArrayBuffer
//   c.onClose = () => {}                  // connection lost or refused: the client is dead
//   c.publish(topic, data, { retain })    // data: string or ArrayBuffer (not a view); throws when closed
//   c.subscribe(topic)                    // QoS 0
//   c.close()                             // DISCONNECT, then closes the socket
// It speaks MQTT 3.1.1 at QoS 0 only (always a clean session) and never reconnects by itself:
// after onClose, this binding creates a new Client after a delay, with backoff.

// @ts-ignore: a Moddable module; its shape is declared by ModdableClient below (on the host,
// "mqtt" is MQTT.js, whose types are unrelated)
import MqttClientModule from "mqtt";
import { invalidArgument } from "../core/errors.js";
import { MqttPeer, type MqttClientLike, type MqttPeerOptions, type PeerStatus } from "./mqtt-peer.js";
import type { Scheduler, SyncEngine } from "./sync-engine.js";

/** The part of Moddable's MQTT Client that this binding uses. */
export interface ModdableClient {
  publish(topic: string, data: ArrayBuffer | string, flags?: { retain?: boolean }): void;
  subscribe(topic: string): void;
  close(): void;
  onReady?: () => void;
  onMessage?: (topic: string, data: ArrayBuffer) => void;
  onClose?: () => void;
}

export interface ModdableClientOptions {
  host: string;
  port?: number;
  id: string;
  user?: string;
  password?: string | ArrayBuffer;
  will?: { topic: string; message: ArrayBuffer; retain?: boolean };
  timeout?: number;
  Socket?: unknown;
  secure?: unknown;
}

export type ModdableClientConstructor = new (options: ModdableClientOptions) => ModdableClient;

/** Moddable's Timer module, as imported by the app: `import Timer from "timer"`. */
export interface ModdableTimer {
  set(callback: () => void, ms?: number): unknown;
  clear(id: unknown): void;
}

/**
 * A Scheduler from Moddable's Timer. Call it from the app (never at module scope: the device
 * preloads modules): `timerScheduler(Timer, () => Time.ticks)`. `now` defaults to Date.now;
 * Time.ticks (the "time" module) is monotonic, which suits the scheduler better.
 */
export function timerScheduler(Timer: ModdableTimer, now: () => number = Date.now): Scheduler {
  return {
    now,
    setTimer(ms, fn) {
      let id: unknown = Timer.set(() => {
        id = undefined;
        fn();
      }, Math.max(0, ms));
      return () => {
        if (id !== undefined) Timer.clear(id);
        id = undefined;
      };
    },
  };
}

export interface ModdableSyncOptions extends Omit<MqttPeerOptions, "client" | "qos"> {
  readonly host: string;
  /** Default 1883 (Moddable's default; 8883 is usual with TLS). */
  readonly port?: number;
  /** The MQTT client id. Default: the replica id, which the broker's ACL binds to the topics (keep it so). */
  readonly clientId?: string;
  readonly user?: string;
  readonly password?: string | ArrayBuffer;
  /** TLS: Moddable's SecureSocket and its options ({ protocolVersion, certificate, ... }). */
  readonly Socket?: unknown;
  readonly secure?: unknown;
  /** MQTT keepalive, ms (Moddable's `timeout`): default 60 s; 0 for none (then only our heartbeats tell). */
  readonly keepaliveMs?: number;
  /** First delay before reconnecting after a lost connection; doubles up to maxReconnectMs (defaults 1 s, 60 s). */
  readonly reconnectMs?: number;
  readonly maxReconnectMs?: number;
  /** The Client class. Default: Moddable's, from "mqtt". */
  readonly Client?: ModdableClientConstructor;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
  return bytes.slice().buffer as ArrayBuffer;
}

/**
 * A SyncEngine over Moddable's MQTT client, QoS 0. Connects at once; after a lost connection it
 * creates a new client (with backoff) and, once ready, subscribes and announces itself again,
 * and the digest exchange resumes.
 */
export class ModdableMqttSync {
  readonly peer: MqttPeer;
  private readonly options: ModdableSyncOptions;
  private readonly Client: ModdableClientConstructor;
  private readonly like: MqttClientLike;
  private client: ModdableClient | undefined;
  private ready = false;
  private closed = false;
  private delay: number;
  private cancelReconnect: (() => void) | undefined;

  constructor(options: ModdableSyncOptions) {
    if (typeof options.host !== "string" || options.host === "") throw invalidArgument("host is the broker's host name");
    this.options = options;
    this.Client = options.Client ?? (MqttClientModule as unknown as ModdableClientConstructor);
    this.delay = options.reconnectMs ?? 1000;
    this.like = {
      publish: (topic, payload, o) => {
        const c = this.client;
        if (c === undefined || !this.ready) return;
        try {
          c.publish(topic, toArrayBuffer(payload), o.retain ? { retain: true } : undefined);
        } catch {
          // the connection just closed: onClose follows, and the protocol repairs the loss
        }
      },
      subscribe: (topic) => {
        const c = this.client;
        if (c === undefined || !this.ready) return;
        try {
          c.subscribe(topic);
        } catch {
          // as above
        }
      },
    };
    this.peer = new MqttPeer({ ...options, qos: 0, client: this.like });
    this.open();
  }

  get engine(): SyncEngine {
    return this.peer.engine;
  }

  get connected(): boolean {
    return this.peer.isConnected;
  }

  peers(): PeerStatus[] {
    return this.peer.peers();
  }

  /** Clean shutdown: offline presence (retained), the engine closed (pending writes flushed), the client closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    this.peer.close();
    const c = this.client;
    this.client = undefined;
    this.ready = false;
    if (c !== undefined) {
      c.onReady = c.onMessage = c.onClose = undefined;
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  }

  private open(): void {
    const o = this.options;
    const will = this.peer.will();
    const settings: ModdableClientOptions = {
      host: o.host,
      id: o.clientId ?? o.replica,
      will: { topic: will.topic, message: toArrayBuffer(will.payload), retain: true },
    };
    if (o.port !== undefined) settings.port = o.port;
    if (o.user !== undefined) settings.user = o.user;
    if (o.password !== undefined) settings.password = o.password;
    const keepalive = o.keepaliveMs ?? 60_000;
    if (keepalive > 0) settings.timeout = keepalive;
    if (o.Socket !== undefined) settings.Socket = o.Socket;
    if (o.secure !== undefined) settings.secure = o.secure;
    let c: ModdableClient;
    try {
      c = new this.Client(settings);
    } catch {
      this.retry();
      return;
    }
    this.client = c;
    c.onReady = () => {
      if (this.client !== c || this.closed) return;
      this.ready = true;
      this.delay = o.reconnectMs ?? 1000;
      this.like.onConnect?.();
    };
    c.onMessage = (topic, data) => {
      if (this.client !== c || this.closed) return;
      this.like.onMessage?.(topic, new Uint8Array(data));
    };
    c.onClose = () => {
      if (this.client !== c) return;
      this.client = undefined;
      this.ready = false;
      c.onReady = c.onMessage = c.onClose = undefined;
      this.like.onDisconnect?.();
      this.retry();
    };
  }

  private retry(): void {
    if (this.closed) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.options.maxReconnectMs ?? 60_000);
    this.cancelReconnect = this.options.scheduler.setTimer(wait, () => {
      this.cancelReconnect = undefined;
      if (!this.closed) this.open();
    });
  }
}
