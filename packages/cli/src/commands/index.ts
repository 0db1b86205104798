/** Every subcommand of `ocidelta`. Add one line per command module. */
import type { CommandDef } from '../command.js';
import { appCommand } from './app.js';
import { artifactCatCommand, artifactInspectCommand, artifactReadCommand } from './artifact-inspect.js';
import { artifactSignCommand, menderArtifactSignCommand } from './artifact-sign.js';
import { artifactValidateCommand } from './artifact-validate.js';
import { artifactVerifyInstallCommand } from './artifact-verify-install.js';
import { artifactWriteCommand, menderArtifactWriteCommand } from './artifact-write.js';
import { blobCommand, configCommand } from './blob.js';
import { cacheLsCommand, cachePruneCommand } from './cache.js';
import { catalogCommand } from './catalog.js';
import { chainCommand } from './chain.js';
import { builtinCompletionCommand } from './completion.js';
import { copyCommand } from './copy.js';
import { deleteCommand } from './delete.js';
import { deltaApplyCommand } from './delta-apply.js';
import { deltaDecodeCommand } from './delta-decode.js';
import { deltaEncodeCommand } from './delta-encode.js';
import { deltaImageCommand } from './delta-image.js';
import { demoCommand } from './demo.js';
import { digestCommand } from './digest.js';
import { imageBuildCommand } from './image-build.js';
import { indexMergeCommand } from './index-merge.js';
import { inspectCommand } from './inspect.js';
import { layerExtractCommand } from './layer-extract.js';
import { layerInjectCommand } from './layer-inject.js';
import { loginCommand, logoutCommand } from './login.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { statusCommand } from './status.js';
import { storeLsCommand, storePruneCommand } from './store.js';
import { tagCommand } from './tag.js';
import { tagsCommand } from './tags.js';

/**
 * Every command, built on call: `demo` imports the CLI itself, so a module-level array could be
 * read while an import cycle is still filling it in (an entry undefined).
 */
export function builtinCommands(): CommandDef[] {
  return [
    artifactWriteCommand,
    artifactInspectCommand,
    artifactReadCommand,
    artifactCatCommand,
    artifactValidateCommand,
    artifactSignCommand,
    artifactVerifyInstallCommand,
    menderArtifactWriteCommand,
    menderArtifactSignCommand,
    deltaEncodeCommand,
    deltaDecodeCommand,
    deltaImageCommand,
    deltaApplyCommand,
    pullCommand,
    pushCommand,
    copyCommand,
    inspectCommand,
    tagsCommand,
    tagCommand,
    deleteCommand,
    catalogCommand,
    blobCommand,
    configCommand,
    loginCommand,
    logoutCommand,
    digestCommand,
    appCommand,
    cacheLsCommand,
    cachePruneCommand,
    storeLsCommand,
    storePruneCommand,
    demoCommand,
    indexMergeCommand,
    layerInjectCommand,
    layerExtractCommand,
    imageBuildCommand,
    chainCommand,
    statusCommand,
    builtinCompletionCommand,
  ];
}
