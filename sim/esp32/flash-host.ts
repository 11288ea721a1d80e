// The host's half of remoteFlash (esp32-memory-scenario.ts): flash operations from an XS worker
// applied to a FlashSim. Node only (Buffer). Used by esp32-memory.service.ts and bench/esp32.ts.
import type { FlashSim } from "../../src/store/flash-sim.js";

export function handleFlashOp(flash: FlashSim, m: { op: string; [key: string]: unknown }): unknown {
  try {
    switch (m.op) {
      case "flash-get": {
        const v = flash.get(m.key as string);
        return { value: v === undefined ? null : Buffer.from(v).toString("hex") };
      }
      case "flash-set":
        flash.set(m.key as string, Uint8Array.from(Buffer.from(m.value as string, "hex")));
        return {};
      case "flash-delete":
        flash.delete(m.key as string);
        return {};
      case "flash-keys":
        return { keys: flash.keys() };
      case "flash-stats":
        return { ...flash.stats, usedBytes: flash.usedBytes, keys: flash.keys().length };
      default:
        throw new Error(`unknown op ${JSON.stringify(m.op)}`);
    }
  } catch (e) {
    return { error: (e as Error).message };
  }
}
