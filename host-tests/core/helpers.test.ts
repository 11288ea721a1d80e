// The shared helpers of src/core: FNV-1a (hash.ts), hex (hex.ts), the common checks (checks.ts).
// Runs under Node and inside XS: the device computes the same checksums as the gateway.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { hasControlChar, isPlainObject } from "../../src/core/checks.js";
import { LichenError } from "../../src/core/errors.js";
import { fnv1aBytes, fnv1aString } from "../../src/core/hash.js";
import { fromHex, parseHex, toHex } from "../../src/core/hex.js";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

test("FNV-1a gives the published 32-bit vectors, over bytes and over code units", () => {
  // from the FNV reference (isthe.com/chongo/tech/comp/fnv): "a", "foo", "foobar"
  for (const [s, h] of [["a", 0xe40c292c], ["foo", 0xa9f37ed7], ["foobar", 0xbf9cf968]] as const) {
    assert.is(fnv1aBytes(ascii(s)), h, s);
    assert.is(fnv1aString(s), h, s);
  }
  const b = ascii("xxfoobaryy");
  assert.is(fnv1aBytes(b, 2, 8), 0xbf9cf968, "a range of the bytes");
  assert.ok(fnv1aString("\u0100") !== fnv1aString("\u0001"), "a code unit is hashed whole, not its low byte");
});

test("hex: lowercase out, either case in, bad text refused", () => {
  const bytes = Uint8Array.from([0, 1, 0x0f, 0x10, 0xab, 0xff]);
  assert.is(toHex(bytes), "00010f10abff");
  assert.equal(parseHex("00010F10ABff"), bytes);
  assert.equal(parseHex(""), new Uint8Array(0));
  for (const bad of ["0", "0g", "zz", "0 ", "\u{1F600}"]) assert.is(parseHex(bad), undefined, JSON.stringify(bad));
  try {
    fromHex("abc", "a payload");
    assert.unreachable("odd length accepted");
  } catch (e) {
    assert.ok(e instanceof LichenError && e.code === "MALFORMED" && e.message.includes("a payload"), String(e));
  }
});

test("checks: control characters and plain objects", () => {
  assert.ok(hasControlChar("a\u0000"));
  assert.ok(hasControlChar("a\u001f"));
  assert.ok(hasControlChar("\u007f"));
  assert.not.ok(hasControlChar("a b/é\u0080"));
  assert.ok(isPlainObject({}));
  assert.ok(isPlainObject(Object.create(null) as object));
  assert.not.ok(isPlainObject([]));
  assert.not.ok(isPlainObject(new Map()));
});

test.run();
