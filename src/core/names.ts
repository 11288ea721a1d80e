// Names of namespaces, logs and entity types: 1 to 64 characters of A-Z a-z 0-9 _ . -
// The pattern is made inside the function: a RegExp created when the module loads would be
// preloaded on the device, where XS's garbage collector mishandles preloaded regexps.

export function isPlainName(s: string): boolean {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(s);
}
