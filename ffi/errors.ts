/**
 * Native status codes and their mapping to thrown errors.
 * @module
 */

/** Status codes of `native/include/topiary.h`. */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  OUT_OF_MEMORY: 2,
  BACKEND: 3,
  UNSUPPORTED: 4,
  NUMERIC: 5,
  LIBRARY_MISSING: 6,
  NO_DRIVER: 35,
  NO_DEVICE: 100,
} as const;

const STATUS_NAMES: Record<number, string> = {
  1: "invalid argument",
  2: "out of memory",
  3: "backend library failure",
  4: "unsupported",
  5: "numeric error",
  6: "library missing",
  35: "no CUDA driver",
  100: "no CUDA device",
};

/** An error raised by a native call: carries the status code and the op that failed. */
export class TopiaryError extends Error {
  /** Native status code (see {@link Status}). */
  readonly status: number;
  /** Name of the op or native function that failed. */
  readonly op: string;

  constructor(status: number, op: string, message: string) {
    super(message);
    this.name = "TopiaryError";
    this.status = status;
    this.op = op;
  }
}

/** Builds the thrown error for a failed native call, naming the op, status and details. */
export function nativeError(
  status: number,
  op: string,
  nativeMessage: string,
  detail?: string,
): TopiaryError {
  const kind = STATUS_NAMES[status] ?? `status ${status}`;
  const msg = nativeMessage || kind;
  return new TopiaryError(status, op, `${op}: ${msg} (${kind})${detail ? ` [${detail}]` : ""}`);
}
