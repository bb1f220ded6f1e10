/**
 * `@topiary/attacks`: adversarial attacks, robust evaluation and adversarial training
 * objectives. Built on `@topiary/core`; see DESIGN.md "Attacks and robust evaluation".
 * The fused attack-step kernels already live in core (`attackStep`, `projectToBall`).
 * @module
 */

export {};
