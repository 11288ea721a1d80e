import { MIN_PART_BYTES, type Frame, type FrameKind } from "./frames.js";

type Part = Extract<Frame, { kind: typeof FrameKind.Part }>;

export interface ReassemblyLimits {
  /** Bytes held per peer. */
  readonly maxBytes: number;
  /** Frames being reassembled per peer. */
  readonly maxFrames: number;
  /** Bytes and frames held, all peers together. */
  readonly maxTotalBytes: number;
  readonly maxTotalFrames: number;
  /** A frame whose parts stopped coming this long ago is dropped (ms). */
  readonly abandonMs: number;
}

interface Partial {
  readonly count: number;
  readonly parts: Array<Uint8Array | undefined>;
  received: number;
  bytes: number;
  readonly started: number;
}

/** What adding a part gave: the whole frame, nothing yet, or why the part was dropped. */
export type PartResult = { readonly whole: Uint8Array } | { readonly dropped: string } | undefined;

/**
 * The PART frames being put back together, from every peer. What is held is
 * bounded in bytes and in frames, per peer and for all peers together: a
 * frame that could not fit is refused before anything is held, a peer's
 * older frames make room for its newer ones (a resend replaces a frame that
 * lost a part), and a flood from many peers stops at the totals.
 */
export class Reassembler {
  private readonly byPeer = new Map<string, Map<number, Partial>>();
  private totalBytes = 0;
  private totalFrames = 0;

  constructor(private readonly limits: ReassemblyLimits) {}

  /** Bytes held now, all peers together. */
  get bytes(): number {
    return this.totalBytes;
  }

  add(peer: string, f: Part, now: number): PartResult {
    const { maxBytes, maxFrames, maxTotalBytes, maxTotalFrames } = this.limits;
    let mine = this.byPeer.get(peer);
    if (mine === undefined) {
      mine = new Map();
      this.byPeer.set(peer, mine);
    }
    this.dropAbandoned(mine, now);
    let r = mine.get(f.id);
    if (r === undefined) {
      // parts are at least MIN_PART_BYTES but the last: a count of parts tells the least a frame weighs
      if ((f.count - 1) * MIN_PART_BYTES > maxBytes) return { dropped: `a frame of ${f.count} parts cannot fit in ${maxBytes} bytes` };
      for (const [id, old] of mine) if (mine.size >= maxFrames) this.drop(mine, id, old);
      if (this.totalFrames >= maxTotalFrames) for (const frames of this.byPeer.values()) this.dropAbandoned(frames, now);
      if (this.totalFrames >= maxTotalFrames) return { dropped: "too many frames being reassembled" };
      r = { count: f.count, parts: new Array(f.count).fill(undefined), received: 0, bytes: 0, started: now };
      mine.set(f.id, r);
      this.totalFrames++;
    }
    if (r.count !== f.count) {
      this.drop(mine, f.id, r);
      return { dropped: "parts of one frame disagree on their count" };
    }
    if (r.parts[f.index] !== undefined) return undefined; // a duplicate
    let held = 0;
    for (const x of mine.values()) held += x.bytes;
    for (const [id, old] of mine) {
      if (held + f.bytes.length <= maxBytes || old === r) continue;
      held -= old.bytes;
      this.drop(mine, id, old);
    }
    if (held + f.bytes.length > maxBytes || this.totalBytes + f.bytes.length > maxTotalBytes) {
      this.drop(mine, f.id, r);
      return { dropped: `reassembly over ${maxBytes} bytes` };
    }
    r.parts[f.index] = f.bytes.slice();
    r.received++;
    r.bytes += f.bytes.length;
    this.totalBytes += f.bytes.length;
    if (r.received < r.count) return undefined;
    this.drop(mine, f.id, r);
    const whole = new Uint8Array(r.bytes);
    let at = 0;
    for (const p of r.parts) {
      whole.set(p!, at);
      at += p!.length;
    }
    return { whole };
  }

  /** Forgets a peer's frames (it went away). */
  dropPeer(peer: string): void {
    const mine = this.byPeer.get(peer);
    if (mine === undefined) return;
    for (const [id, r] of mine) this.drop(mine, id, r);
    this.byPeer.delete(peer);
  }

  private dropAbandoned(frames: Map<number, Partial>, now: number): void {
    for (const [id, r] of frames) if (now - r.started > this.limits.abandonMs) this.drop(frames, id, r);
  }

  private drop(frames: Map<number, Partial>, id: number, r: Partial): void {
    if (frames.get(id) !== r) return;
    frames.delete(id);
    this.totalBytes -= r.bytes;
    this.totalFrames--;
  }
}
