// Typed errors. Every failure on bad input (bytes from the network or flash,
// arguments from a user) is a LichenError with a stable `code`, so callers can
// tell a corrupt frame from a clock problem without parsing messages.

export type LichenErrorCode =
  | "INVALID_ARGUMENT" // a caller passed something the API does not accept
  | "MALFORMED" // bytes that are not a valid lichen payload (truncated, bad CBOR, bad shape)
  | "UNSUPPORTED_VERSION" // a payload written by a newer format than this code knows
  | "WRONG_TYPE" // a valid payload of another CRDT type
  | "TOO_LARGE" // input over a configured size bound
  | "CLOCK_DRIFT" // a remote timestamp too far ahead of the local clock
  | "OUT_OF_ORDER" // a delta made for a replica that has seen more than this one: sync from this one's version
  | "STALE_REFERENCE" // a session delta relative to a version of its sender this replica does not hold: ask for it in full
  | "CORRUPT" // stored bytes that cannot be read back; other keys stay readable
  | "CLOSED" // a store used after close()
  | "STORAGE" // the storage backend failed (flash full, disk error, power cut in a simulation)
  | "MIGRATION_FAILED" // a schema migration threw or returned something that is not a value
  | "RECOVERING"; // a local write while a node that started empty learns its own events back (SyncEngine.recovering)

export class LichenError extends Error {
  readonly code: LichenErrorCode;
  constructor(code: LichenErrorCode, message: string) {
    super(message);
    this.code = code;
    // Preloading freezes Error.prototype on the device, and assigning a property that a frozen
    // prototype holds throws: `name` is defined on the instance instead.
    Object.defineProperty(this, "name", { value: "LichenError", writable: true, configurable: true });
  }
}

export function invalidArgument(message: string): LichenError {
  return new LichenError("INVALID_ARGUMENT", message);
}

export function malformed(message: string): LichenError {
  return new LichenError("MALFORMED", message);
}
