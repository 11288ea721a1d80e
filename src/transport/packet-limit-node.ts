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
