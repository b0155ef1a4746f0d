#!/usr/bin/env node
'use strict';
/**
 * Example process agent touching every ctx call once (the helper tests drive it): thought,
 * status, budget, cost, a confirmed vendor event, a tool call, a delegation, a credential
 * rotation, an artifact, then a streamed result of a bytes and a text chunk.
 */
const { run, AgentError } = require('../arcp_agent');

run(async (input, ctx) => {
  await ctx.thought('planning the tour');
  await ctx.status('tour.start', `protocol ${ctx.start.protocol}`);
  await ctx.log('info', 'budget ' + JSON.stringify(await ctx.budget()), { step: 1 });
  await ctx.cost('cost.inference', '0.25', 'USD');
  try {
    await ctx.event('x-vendor.note', { n: 1 }, { confirm: true });
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    await ctx.log('warn', `note refused: ${e.code}`);
  }
  await ctx.toolCall('t1', 'search', { q: 'arcp' });
  await ctx.toolResult('t1', { hits: 2 });
  const child = await ctx.delegate('echo', { ping: 1 }, { lease: { 'fs.read': ['/p/**'] } });
  await ctx.metric('child.ok', child.final_status === 'success' ? 1 : 0, 'bool');
  if (ctx.credentials.length) await ctx.rotateCredential(ctx.credentials[0].id);
  await ctx.log('info', 'credentials ' + ctx.credentials.map((c) => c.value).join(','));
  await ctx.artifactRef({ artifact_id: 'art_1', media_type: 'text/plain', size_bytes: 2, uri: 'mem://tour' });
  await ctx.streamResult([Buffer.from([0x00, 0x01, 0xff]), 'text \u2713']);
  ctx.setSummary('2 chunks');
  return null;
});
