/**
 * The built-in stage kinds, registered on import: `train`. The pruning issues register
 * theirs (prune, fine-tune, lottery rounds) the same way.
 * @module
 */

import { registerStage, stageDefinition, stageKinds } from "./stage.ts";
import { trainStage } from "./train_stage.ts";

registerStage(trainStage);

export { stageDefinition, stageKinds };
