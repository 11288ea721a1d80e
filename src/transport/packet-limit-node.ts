// A maximum MQTT packet size for a Node stream, checked from each packet's fixed header: a
// packet announcing more than the limit closes the connection before its body is buffered.
// MQTT.js and aedes (mqtt-packet) have no such limit in MQTT 3.1.1: without it, one 200 MB
// PUBLISH is 200 MB of memory in whoever reads it. Node only (the file name says so).
import type { Duplex } from "node:stream";

/** The default limit: 64 KiB, far above a lichen frame (4,000 bytes by default) and its topic. */
export const DEFAULT_MAX_PACKET_BYTES = 65_536;

/**
 * Follows MQTT packet boundaries in a byte stream: fixed header byte, remaining length (1 to 4
 * bytes, 7 bits each), body. `push` returns the first packet size over `max`, or -1.
 */
export class PacketSizeTracker {
  private skip = 0; // body bytes of the current packet still to pass
  private inLength = false;
  private length = 0;
  private shift = 0;

  constructor(readonly max: number) {}

  push(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      if (!this.inLength) {
        // the fixed header's first byte: the remaining length follows
        this.inLength = true;
        this.length = 0;
        this.shift = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 2 ** this.shift;
      this.shift += 7;
      if (byte & 0x80) {
        if (this.shift >= 28) return Number.MAX_SAFE_INTEGER; // more than 4 length bytes: not MQTT
        continue;
      }
      this.inLength = false;
      const size = 1 + this.shift / 7 + this.length;
      if (size > this.max) return size;
      this.skip = this.length;
    }
    return -1;
  }
}

/**
 * Watches what is read from `stream` and destroys it at the first packet over `max` bytes,
 * calling `onTooLarge` first. A 'data' listener only observes: a stream read through 'readable'
 * (aedes) stays paused and emits 'data' for what it reads; a piped one (MQTT.js) flows anyway.
 */
export function limitPacketSize(stream: Duplex, max: number, onTooLarge?: (size: number) => void): void {
  const tracker = new PacketSizeTracker(max);
  stream.on("data", (chunk: Uint8Array) => {
    const size = tracker.push(chunk);
    if (size < 0 || stream.destroyed) return;
    onTooLarge?.(size);
    stream.destroy(new Error(`MQTT packet of ${size} bytes over the limit of ${max}`));
  });
}

/** The default of limitIntake: a few dozen small frames per read. */
export const DEFAULT_READ_BATCH_BYTES = 4096;

/**
 * Where to cut a byte stream of MQTT packets so that a piece holds whole packets. `cut(chunk,
 * max)`: the length of the longest prefix of `chunk` that ends on a packet boundary and is at
 * most `max` bytes; when the first packet alone is longer, that packet's end; when `chunk` ends
 * before, all of it. It moves past what it returns: pieces must be handed on in order.
 */
export class PacketCutter {
  /** Bytes of the current packet not yet handed on, counted from the start of the next chunk. */
  private rest = 0;
  /** A fixed header handed on in part (a chunk ended inside it). */
  private head: number[] = [];

  cut(chunk: Uint8Array, max: number): number {
    let end = this.rest;
    if (this.head.length > 0) {
      // finish the header begun in the previous chunk
      const head = this.head;
      let i = 0;
      while (i < chunk.length && !headerDone(head)) head.push(chunk[i++]!);
      if (!headerDone(head)) return this.pass(chunk.length, chunk.length);
      end = i + bodyLength(head, 1);
      this.head = [];
    }
    let last = 0;
    for (;;) {
      if (end > max) return last > 0 ? this.pass(last, last) : this.pass(Math.min(end, chunk.length), end);
      if (end >= chunk.length) return this.pass(chunk.length, end);
      last = end;
      // a fixed header at `end`: the type byte, then 1 to 4 bytes of remaining length
      let i = end + 1;
      while (i < chunk.length && i - end < 5 && (chunk[i]! & 0x80) !== 0) i++;
      if (i >= chunk.length) {
        if (last > 0) return this.pass(last, last);
        this.head = Array.from(chunk.subarray(end));
        this.rest = 0;
        return chunk.length;
      }
      end = i + 1 + bodyLength(chunk, end + 1, i + 1);
    }
  }

  /** Hands on `n` bytes of a chunk in which the current packet ends at `end`. */
  private pass(n: number, end: number): number {
    this.rest = Math.max(0, end - n);
    return n;
  }
}

/** Whether a fixed header is whole: the type byte, then length bytes up to one without the continuation bit (4 at most). */
function headerDone(head: readonly number[]): boolean {
  return head.length >= 5 || (head.length >= 2 && (head[head.length - 1]! & 0x80) === 0);
}

/** The remaining length encoded in bytes[from, to) (to: the end of the length bytes). */
function bodyLength(bytes: ArrayLike<number>, from: number, to = bytes.length): number {
  let length = 0;
  for (let i = from, shift = 0; i < to; i++, shift += 7) length += (bytes[i]! & 0x7f) * 2 ** shift;
  return length;
}

/** How often a closed gate with streams held behind it is judged again, at most. */
const GATE_RETRY_MS = 5;

/**
 * A gate over the intake of many streams (a broker's clients), shared by them: at most
 * `maxParsedBytes` of packets read from them all and not yet handled (each stream's last piece
 * counts until its reader reads again: aedes does once every packet of it is handled), and
 * nothing read while `backlogged()` says so (the embedded broker: the gateway's connection holds
 * too much). A read refused by the gate gets nothing, and the stream is held; it is told to read
 * again, in the order held, as soon as the gate opens. What waits meanwhile stays as bytes in the
 * socket's buffer and past it in the kernel's, where TCP slows the sender down. So what a flood
 * holds in memory is bounded in all, whatever the number of senders or frames: parsed packets
 * die young instead of piling up long enough to fill the heap's old generation.
 */
export class IntakeGate {
  /** The held streams, each with how to tell its reader to read again (Map: in the order held). */
  private readonly held = new Map<Duplex, () => void>();
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private parsed = 0;

  constructor(
    readonly maxParsedBytes: number,
    private readonly backlogged: () => boolean = () => false,
  ) {
    if (!Number.isSafeInteger(maxParsedBytes) || maxParsedBytes < 1) throw new RangeError("the gate lets at least 1 byte through");
  }

  /** Whether a gated stream may be read now. */
  get open(): boolean {
    return this.parsed < this.maxParsedBytes && !this.backlogged();
  }

  /** Bytes read through the gate whose packets are not all handled yet. */
  get parsedBytes(): number {
    return this.parsed;
  }

  /** Streams waiting for the gate to open. */
  get holding(): number {
    return this.held.size;
  }

  /** `n` bytes were read through the gate. */
  take(n: number): void {
    this.parsed += n;
  }

  /** `n` bytes read through the gate are handled. */
  give(n: number): void {
    this.parsed -= n;
    this.check();
  }

  /** A read of `stream` was refused: `wake` is called once the gate is open again. */
  hold(stream: Duplex, wake: () => void): void {
    this.held.set(stream, wake);
  }

  /** `stream` is gone: it is not woken. */
  forget(stream: Duplex): void {
    this.held.delete(stream);
  }

  /**
   * Called whenever the gate may have opened: soon (never inside the caller, which may be a read
   * in progress) wakes held streams in order while it stays open. A woken reader reads at once,
   * so the gate is judged again after each. While streams are held behind a closed gate, it is
   * judged again every few milliseconds too: not every way a backlog shrinks has an event (a
   * stream's buffer read below its high-water mark emits no 'drain').
   */
  check(): void {
    if (this.scheduled || this.held.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const [stream, wake] of [...this.held]) {
        if (!this.open) {
          this.retry ??= setTimeout(() => {
            this.retry = undefined;
            this.check();
          }, GATE_RETRY_MS).unref();
          return;
        }
        this.held.delete(stream);
        if (!stream.destroyed) wake();
      }
    });
  }
}

export interface IntakeOptions {
  /** Bytes of whole packets per read, about (default DEFAULT_READ_BATCH_BYTES; one packet at least, however large). */
  readonly batchBytes?: number;
  /** Called before the stream is destroyed for a packet over maxBytes. */
  readonly onTooLarge?: (size: number) => void;
  /** Whether the reader has handled its last batch (default: aedes's client on the stream). */
  readonly idle?: () => boolean;
  /** While this gate is closed, reads get nothing (see IntakeGate). */
  readonly gate?: IntakeGate;
  /** Called after each read that handed something on (the stream's buffer just shrank). */
  readonly onRead?: () => void;
}

/** What limitIntake returns: its hold on the stream's last piece. */
export interface Intake {
  /** The last piece's packets wait for something else (a rate limit): they stop counting against the gate. */
  park(): void;
}

/**
 * The intake of a stream read with `read()` (aedes reads its clients so): at most `maxBytes` per
 * packet, and at most about `batchBytes` of whole MQTT packets per read (one packet at least,
 * however large). aedes reads a client with `read(null)`, which returns everything buffered
 * (64 KiB and more from a socket), parses it into packets at once, and reads again only once all
 * of them are handled: a client's batch is what its flood holds in memory, as parsed packets on
 * their way to the subscribers. With the cap, a batch is at most `batchBytes` of packets; the
 * rest is put back (unshift) and waits as bytes in the socket's buffer, and past it in the
 * kernel's, where TCP pushes back on the sender. With a gate, nothing is read while it is closed.
 * A packet over `maxBytes` destroys the stream (after `onTooLarge`) as soon as its fixed header
 * is read, before its body is buffered. (limitPacketSize's 'data' listener would see the bytes
 * put back twice: this checks what is handed on, once.)
 */
export function limitIntake(stream: Duplex, maxBytes: number, options: IntakeOptions = {}): Intake {
  const batchBytes = options.batchBytes ?? DEFAULT_READ_BATCH_BYTES;
  if (!Number.isSafeInteger(batchBytes) || batchBytes < 1) throw new RangeError("the read batch is at least 1 byte");
  const idle = options.idle ?? aedesIdle(stream);
  const gate = options.gate;
  const read = stream.read.bind(stream);
  const cutter = new PacketCutter();
  const sizes = new PacketSizeTracker(maxBytes);
  // aedes handles a packet synchronously when it can, and reads its next batch from inside the
  // parse of the current one: a read then would feed the parser in the middle of its work. Such a
  // read gets nothing; once the parse is over, the reader is told to read again if it is idle.
  let parsing = false;
  let refused = false;
  /** Bytes of the last piece counted by the gate. */
  let counted = 0;
  const uncount = (): void => {
    if (counted === 0) return;
    const n = counted;
    counted = 0;
    gate?.give(n);
  };
  if (gate !== undefined) {
    stream.once("close", () => {
      gate.forget(stream);
      uncount();
    });
  }
  const wake = (): void => {
    if (!stream.destroyed && idle()) stream.emit("readable");
  };
  const parsed = (): void => {
    parsing = false;
    if (!refused) return;
    refused = false;
    wake();
  };
  stream.read = (size?: number) => {
    if (size !== undefined && size !== null) return read(size); // read(0) and the like: Readable's own
    if (parsing) {
      refused = true;
      return null;
    }
    uncount(); // aedes reads again once every packet of the last piece is handled
    if (gate !== undefined && !gate.open) {
      gate.hold(stream, wake);
      return null;
    }
    const all = read() as Uint8Array | null;
    if (all === null) return null;
    const n = cutter.cut(all, batchBytes);
    const piece = n === all.length ? all : all.subarray(0, n);
    const tooLarge = sizes.push(piece);
    if (tooLarge >= 0) {
      if (!stream.destroyed) {
        options.onTooLarge?.(tooLarge);
        stream.destroy(new Error(`MQTT packet of ${tooLarge} bytes over the limit of ${maxBytes}`));
      }
      return null;
    }
    if (n < all.length) {
      // put back without a 'readable' event: aedes takes one as "the batch is done" (nextBatch)
      // and would start the next batch early; it reads again by itself once this one is handled
      const state = (stream as unknown as { _readableState?: { needReadable: boolean } })._readableState;
      if (state !== undefined) state.needReadable = false;
      stream.unshift(all.subarray(n));
    }
    parsing = true;
    process.nextTick(parsed);
    if (gate !== undefined) {
      counted = n;
      gate.take(n);
    }
    options.onRead?.();
    return piece;
  };
  return { park: uncount };
}

/** Whether aedes's client on `stream` has handled every packet of its last batch (aedes sets stream.client; its batch counter is _parsingBatch). Without one, the stream is taken as idle. */
function aedesIdle(stream: Duplex): () => boolean {
  return () => {
    const client = (stream as unknown as { client?: { _parsingBatch?: number } }).client;
    return client?._parsingBatch === undefined || client._parsingBatch <= 0;
  };
}
