/** Every subcommand of `ocidelta`. Add one line per command module. */
import type { CommandDef } from '../command.js';
import { artifactInspectCommand } from './artifact-inspect.js';
import { artifactValidateCommand } from './artifact-validate.js';
import { artifactWriteCommand } from './artifact-write.js';
import { deltaApplyCommand } from './delta-apply.js';
import { deltaDecodeCommand } from './delta-decode.js';
import { deltaEncodeCommand } from './delta-encode.js';
import { deltaImageCommand } from './delta-image.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { copyCommand } from './copy.js';
import { inspectCommand } from './inspect.js';
import { tagsCommand } from './tags.js';
import { digestCommand } from './digest.js';
import { indexMergeCommand } from './index-merge.js';
import { layerInjectCommand } from './layer-inject.js';
import { layerExtractCommand } from './layer-extract.js';
import { imageBuildCommand } from './image-build.js';
import { statusCommand } from './status.js';
import { appCommand } from './app.js';
import { cacheLsCommand, cachePruneCommand } from './cache.js';
import { demoCommand } from './demo.js';

export const commands: CommandDef[] = [
  artifactWriteCommand,
  artifactInspectCommand,
  artifactValidateCommand,
  deltaEncodeCommand,
  deltaDecodeCommand,
  deltaImageCommand,
  deltaApplyCommand,
  pullCommand,
  pushCommand,
  copyCommand,
  inspectCommand,
  tagsCommand,
  digestCommand,
  appCommand,
  cacheLsCommand,
  cachePruneCommand,
  demoCommand,
  indexMergeCommand,
  layerInjectCommand,
  layerExtractCommand,
  imageBuildCommand,
  statusCommand,
];
