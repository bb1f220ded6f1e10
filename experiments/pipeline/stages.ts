/**
 * The built-in stage kinds, registered on import: `train`, `prune` (LWM, random, HYDRA,
 * edge-popup), `lottery`, `admm`, `atmc`, `filter`, `nm` and `load`.
 * @module
 */

import { registerStage, stageDefinition, stageKinds } from "./stage.ts";
import { trainStage } from "./train_stage.ts";
import { pruneStage } from "./prune_stage.ts";
import { lotteryStage } from "./lottery_stage.ts";
import { loadStage } from "./load_stage.ts";
import { admmStage } from "./admm_stage.ts";
import { atmcStage } from "./atmc_stage.ts";
import { filterStage } from "./filter_stage.ts";
import { nmStage } from "./nm_stage.ts";

registerStage(trainStage);
registerStage(pruneStage);
registerStage(lotteryStage);
registerStage(loadStage);
registerStage(admmStage);
registerStage(atmcStage);
registerStage(filterStage);
registerStage(nmStage);

export { stageDefinition, stageKinds };
