/**
 * Schedules described as plain JSON (for experiment configs and checkpoint metadata) and
 * built with {@link makeSchedule}.
 * @module
 */

import {
  constantLR,
  cosineLR,
  type CosineLROptions,
  fastATCyclicLR,
  linearWarmup,
  multiStepLR,
  type MultiStepLROptions,
  oneCycleLR,
  type OneCycleLROptions,
  perEpoch,
  piecewiseLinearLR,
  type Schedule,
  stepLR,
  type StepLROptions,
  triangularLR,
  type TriangularLROptions,
  type WarmupOptions,
} from "./schedules.ts";

/** A JSON description of a schedule; `kind` names the factory in schedules.ts. */
export type ScheduleSpec =
  | { kind: "constant"; lr: number }
  | ({ kind: "step" } & StepLROptions)
  | ({ kind: "multiStep" } & MultiStepLROptions)
  | ({ kind: "cosine" } & CosineLROptions)
  | ({ kind: "triangular" } & TriangularLROptions)
  | { kind: "fastATCyclic"; maxLr: number; epochs: number; stepsPerEpoch: number }
  | ({ kind: "oneCycle" } & OneCycleLROptions)
  | { kind: "piecewiseLinear"; points: [number, number][] }
  | ({ kind: "warmup"; inner: ScheduleSpec } & WarmupOptions)
  | { kind: "perEpoch"; inner: ScheduleSpec; stepsPerEpoch: number };

/** Builds the schedule a {@link ScheduleSpec} describes (unknown kinds are an error). */
export function makeSchedule(spec: ScheduleSpec): Schedule {
  switch (spec.kind) {
    case "constant":
      return constantLR(spec.lr);
    case "step":
      return stepLR(spec);
    case "multiStep":
      return multiStepLR(spec);
    case "cosine":
      return cosineLR(spec);
    case "triangular":
      return triangularLR(spec);
    case "fastATCyclic":
      return fastATCyclicLR(spec);
    case "oneCycle":
      return oneCycleLR(spec);
    case "piecewiseLinear":
      return piecewiseLinearLR(spec.points);
    case "warmup":
      return linearWarmup(makeSchedule(spec.inner), spec);
    case "perEpoch":
      return perEpoch(makeSchedule(spec.inner), spec.stepsPerEpoch);
    default: {
      const kind = (spec as { kind?: unknown }).kind;
      throw new Error(
        `makeSchedule: unknown schedule kind ${JSON.stringify(kind)} (expected constant, ` +
          `step, multiStep, cosine, triangular, fastATCyclic, oneCycle, piecewiseLinear, ` +
          `warmup or perEpoch)`,
      );
    }
  }
}
