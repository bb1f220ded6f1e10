/**
 * Checkpoints: safetensors files (read and written by PyTorch's naming, written atomically)
 * and training states that resume a run exactly.
 * @module
 */

export { type AtomicWriteOptions, writeFileAtomic, writeFileAtomicSync } from "./atomic.ts";
export {
  type DecodedSafetensors,
  decodeSafetensors,
  defaultI64,
  encodeSafetensors,
  type HostTensor,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEncodeOptions,
} from "./safetensors.ts";
export {
  fromHostTensors,
  loadSafetensors,
  loadSafetensorsSync,
  type SafetensorsFile,
  type SafetensorsLoadOptions,
  type SafetensorsSaveOptions,
  saveSafetensors,
  saveSafetensorsSync,
  toHostTensors,
} from "./safetensors_file.ts";
export {
  applyTrainState,
  decodeTrainState,
  disposeTrainState,
  encodeTrainState,
  type JsonValue,
  type RestoredPosition,
  type RestoreTarget,
  TRAIN_STATE_FORMAT,
  type TrainPosition,
  type TrainState,
  type TrainStateInput,
  type TrainStateLoadOptions,
} from "./train_state.ts";
export {
  loadTrainState,
  loadTrainStateSync,
  restoreTrainState,
  restoreTrainStateSync,
  saveTrainState,
  saveTrainStateSync,
} from "./train_state_file.ts";
