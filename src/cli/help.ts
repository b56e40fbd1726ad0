import { CommandHelp, Help } from "@oclif/core";

/**
 * oclif's help with one change: the DESCRIPTION section is the description only. oclif repeats
 * the summary as its first line (the summary is already the help's first line), and its own
 * option for not doing so keeps only the description's last line.
 */
class NemoclawCommandHelp extends CommandHelp {
  protected override description(): string | undefined {
    const text = this.command.description;
    return text ? this.wrap(text) : undefined;
  }
}

export default class NemoclawHelp extends Help {
  protected override getCommandHelpClass(command: ConstructorParameters<typeof CommandHelp>[0]): CommandHelp {
    return new NemoclawCommandHelp(command, this.config, this.opts);
  }
}
