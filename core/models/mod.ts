/**
 * `core/models`: the networks of the robust-pruning literature, with PyTorch's parameter
 * names. Every model takes `{ seed }` and is initialised from it by dotted parameter names.
 * @module
 */

export { checkInput, type ModelOptions } from "./_common.ts";
export { Classifier } from "./classifier.ts";
export { MLP, type MLPOptions } from "./mlp.ts";
export { CaffeLeNet, LeNet5 } from "./lenet.ts";
export { SmallCNN } from "./small_cnn.ts";
export { MadryCNN, type MadryCNNOptions } from "./madry_cnn.ts";
export { VGG, vgg16bn, VGG_CONFIGS, type VGGOptions } from "./vgg.ts";
export { ResNet, resnet18, type ResNetOptions } from "./resnet.ts";
export { WideResNet, type WideResNetOptions } from "./wide_resnet.ts";
export { createModel, MODEL_NAMES, type ModelName, type ModelSpec } from "./registry.ts";
