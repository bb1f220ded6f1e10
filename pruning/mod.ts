/**
 * `@topiary/pruning`: masks, scores and pruning methods. Built on `@topiary/core`; see
 * DESIGN.md "Pruning". The top-k mask kernel already lives in core (`topkMasks`).
 * @module
 */

export {};
