#!/usr/bin/env node
// The `rlbench` command: loads the TypeScript CLI through tsx, so no build step stands
// between `npm ci` and a working command. Both of tsx's hooks are registered, as
// `node --import tsx` does: a `.ts` plugin in a folder without `"type": "module"` is loaded
// through the CommonJS hook, and without it Node refuses it ("Cannot require() ES Module … in a cycle").
import { register } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

registerCjs();
register();
const { main } = await import('../harness/cli.ts');
process.exitCode = await main(process.argv.slice(2));
