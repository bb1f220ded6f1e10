/**
 * Memory scopes: `tidy(fn)` frees every tensor created inside `fn` except what it returns.
 * @module
 */

/** Anything with an explicit lifetime. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** Records a freshly created tensor in the innermost open scope (no-op outside scopes). */
export function track(t: Disposable): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Removes a tensor from the innermost scope holding it, so scope exit will not free it. */
export function untrack(t: Disposable): void {
  for (let i = stack.length - 1; i >= 0; i--) {
    if (stack[i].delete(t)) return;
  }
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 8) return;
  if (typeof (value as Disposable).dispose === "function" && "isDisposed" in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

/**
 * Runs `fn` in a scope: tensors created inside and not part of its result (a tensor, or
 * arrays, maps and plain objects of them) are disposed when it returns or throws. Returned
 * tensors move to the enclosing scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new Error("tidy: the function returned a Promise; tidy scopes must be synchronous");
    }
  } catch (e) {
    stack.pop();
    for (const t of scope) if (!t.isDisposed) t.dispose();
    throw e;
  }
  stack.pop();
  const keep = new Set<Disposable>();
  collect(result, keep);
  for (const t of scope) {
    if (keep.has(t)) {
      if (stack.length) stack[stack.length - 1].add(t);
    } else if (!t.isDisposed) {
      t.dispose();
    }
  }
  return result;
}

/** Moves tensors out of every open scope: they live until disposed explicitly. */
export function keep<T extends Disposable | Disposable[]>(value: T): T {
  const all = new Set<Disposable>();
  collect(value, all);
  for (const t of all) for (const s of stack) s.delete(t);
  return value;
}

/** Disposes a tensor, or arrays and plain objects of tensors. */
export function dispose(value: unknown): void {
  const all = new Set<Disposable>();
  collect(value, all);
  for (const t of all) if (!t.isDisposed) t.dispose();
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
