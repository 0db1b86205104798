/** Every subcommand of `ocidelta`. Add one line per command module. */
import type { CommandDef } from '../command.js';

export const commands: CommandDef[] = [];
