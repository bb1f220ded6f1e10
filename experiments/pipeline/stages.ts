/**
 * The built-in stage kinds, registered on import: `train`, `prune`, `lottery` and `load`. The pruning issues register
 * theirs (prune, fine-tune, lottery rounds) the same way.
 * @module
 */

import { registerStage, stageDefinition, stageKinds } from "./stage.ts";
import { trainStage } from "./train_stage.ts";
import { pruneStage } from "./prune_stage.ts";
import { lotteryStage } from "./lottery_stage.ts";
import { loadStage } from "./load_stage.ts";

registerStage(trainStage);
registerStage(pruneStage);
registerStage(lotteryStage);
registerStage(loadStage);

export { stageDefinition, stageKinds };
