import { decodeCbor, TypeTag } from "./codec.js";
import { Crdt, type CrdtOptions } from "./crdt.js";
import { malformed } from "./errors.js";
import { nestedClass, type CrdtClass } from "./maps.js";
import { Rga } from "./rga.js";
import { Text } from "./text.js";

// Every CRDT type by its wire tag, for code that meets documents of any type
// (the sync engine, the gateway). Apart from maps.ts so that a build which
// uses neither the sequences nor this registry does not carry them.

/** The CRDT class of a wire tag, e.g. to create a replica for a synced document. */
export function crdtClassForTag(tag: number): CrdtClass | undefined {
  if (tag === TypeTag.Text) return Text;
  if (tag === TypeTag.Rga) return Rga;
  return nestedClass(tag);
}

/** Restores a saved state of any type, reading its type from the bytes. */
export function loadCrdt(bytes: Uint8Array, replica?: string, options?: CrdtOptions): Crdt {
  const top = decodeCbor(bytes, options?.maxPayloadBytes);
  const tag = Array.isArray(top) ? top[1] : undefined;
  const ctor = typeof tag === "number" ? crdtClassForTag(tag) : undefined;
  if (ctor === undefined) throw malformed("not a saved lichen CRDT state");
  return Crdt.restore((r) => new ctor(r, options), tag as number, bytes, replica, options?.maxPayloadBytes);
}
