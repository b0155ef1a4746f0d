#!/usr/bin/env node
'use strict';
/**
 * Example process agent: logs, optionally sleeps (cancellably) and reads a file through the
 * lease gate, then returns its input.
 *
 *   arcp serve --agent 'js-echo@1.0.0=node agents/node/examples/echo.js'
 *
 * Input: anything. With {read: PATH}, authorizes fs.read on PATH and reports the normalised
 * path as progress; with {sleep: SECONDS}, sleeps first (a cancel interrupts it).
 */
const { run } = require('../arcp_agent');

run(async (input, ctx) => {
  await ctx.log('info', `echo running as ${ctx.agent} for ${ctx.jobId}`);
  const obj = input !== null && typeof input === 'object' && !Array.isArray(input) ? input : {};
  if ('sleep' in obj) await ctx.sleep(obj.sleep);
  if ('read' in obj) {
    const path = await ctx.authorize('fs.read', obj.read); // throws AgentError when refused
    await ctx.progress(1, { total: 1, units: 'files', message: path });
  }
  return input;
});
