// Yjs (through lib0/webcrypto) reads `crypto.getRandomValues` when its module loads; XS has no
// `crypto`. This module is imported first by the XS entry, so the shim is in place before that.
// Math.random starts from the same seed in every XS worker, so Yjs's client ids are deterministic.

const g = globalThis as { crypto?: unknown };
if (g.crypto === undefined) {
  g.crypto = {
    subtle: {},
    getRandomValues<T extends ArrayBufferView>(array: T): T {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
      return array;
    },
  };
}
