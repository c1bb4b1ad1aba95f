// CLI commands for this part of the harness (filled in by its issue).
import type { Command } from 'commander';

export function registerEngineCommands(program: Command): void {
  void program;
}
