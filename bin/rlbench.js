#!/usr/bin/env node
// The `rlbench` command: loads the TypeScript CLI through tsx, so no build step stands
// between `npm ci` and a working command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../harness/cli.ts');
process.exitCode = await main(process.argv.slice(2));
