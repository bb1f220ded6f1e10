/**
 * `core/nn`: layers and blocks built on {@link Module}, with PyTorch's parameter names and
 * state-dict order, seeded initialisers and stochastic-layer contexts.
 * @module
 */

export { copyInto, type LoadOptions, Module, type StateDict } from "./module.ts";
export {
  assignFromCpu,
  type BlockOptions,
  DEFAULT_INIT,
  drawWeight,
  type FanMode,
  fans,
  HYDRA_VGG_INIT,
  initBias,
  initComposite,
  type Initializable,
  type InitOptions,
  initParameters,
  type InitScheme,
  initWeight,
  isInitializable,
  joinName,
  type LayerOptions,
  type WeightInit,
} from "./init.ts";
export { Conv2d, type Conv2dLayerOptions } from "./conv.ts";
export { Linear, type LinearOptions } from "./linear.ts";
export { BatchNorm2d, type BatchNorm2dOptions } from "./batchnorm.ts";
export { Flatten, Identity, ReLU } from "./activation.ts";
export { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, type PoolLayerOptions } from "./pool.ts";
export {
  Dropout,
  type DropoutOptions,
  setStochasticContext,
  type Stochastic,
  StochasticContext,
} from "./dropout.ts";
export { runChain, Sequential } from "./sequential.ts";
export { BasicBlock, WideBasicBlock } from "./residual.ts";
