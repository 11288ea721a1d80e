// Small checks that several modules make the same way.

/** True if the string holds a C0 control character or DEL: what no key, id or name may hold. */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** An object made by a literal (or with no prototype): what values and CBOR maps are made of. */
export function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}
