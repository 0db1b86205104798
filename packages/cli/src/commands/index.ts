/** Every subcommand of `ocidelta`. Add one line per command module. */
import type { CommandDef } from '../command.js';
import { deltaDecodeCommand } from './delta-decode.js';
import { deltaEncodeCommand } from './delta-encode.js';

export const commands: CommandDef[] = [deltaEncodeCommand, deltaDecodeCommand];
