import { describe, expect, it } from 'vitest';
import { Linear, Module, allLinearNames, closestNames, matchesTarget, selectLinearTargets } from '../src/index.js';

function llamaLike(): Module {
  const root = new Module();
  const layers = root.registerModule('model', new Module()).registerModule('layers', new Module());
  for (const i of [0, 1, 2]) {
    const l = layers.registerModule(String(i), new Module());
    const attn = l.registerModule('self_attn', new Module());
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) attn.registerModule(n, new Linear(4, 4));
    const mlp = l.registerModule('mlp', new Module());
    for (const n of ['gate_proj', 'up_proj', 'down_proj']) mlp.registerModule(n, new Linear(4, 4));
  }
  root.registerModule('lm_head', new Linear(4, 8));
  return root;
}

const lin = new Linear(1, 1);

describe('PEFT target rules', () => {
  it('a string is a full-match regex', () => {
    expect(matchesTarget('model.layers.0.self_attn.q_proj', lin, { targetModules: '.*q_proj' })).toBe(true);
    expect(matchesTarget('model.layers.0.self_attn.q_proj', lin, { targetModules: 'q_proj' })).toBe(false);
  });

  it('a list matches a whole path or a ".name" suffix, not a partial name', () => {
    expect(matchesTarget('model.layers.0.self_attn.q_proj', lin, { targetModules: ['q_proj'] })).toBe(true);
    expect(matchesTarget('model.layers.0.self_attn.xq_proj', lin, { targetModules: ['q_proj'] })).toBe(false);
    expect(matchesTarget('lm_head', lin, { targetModules: ['lm_head'] })).toBe(true);
  });

  it('layers_to_transform keeps only the listed layer indices, with or without layers_pattern', () => {
    const rules = { targetModules: ['q_proj'], layersToTransform: [1] };
    expect(matchesTarget('model.layers.1.self_attn.q_proj', lin, rules)).toBe(true);
    expect(matchesTarget('model.layers.0.self_attn.q_proj', lin, rules)).toBe(false);
    expect(matchesTarget('model.layers.2.self_attn.q_proj', lin, { ...rules, layersToTransform: 2, layersPattern: 'layers' })).toBe(true);
    expect(matchesTarget('model.layers.2.self_attn.q_proj', lin, { ...rules, layersToTransform: 2, layersPattern: 'h' })).toBe(false);
  });

  it('exclude_modules removes matches (list suffix or regex)', () => {
    const root = llamaLike();
    const found = selectLinearTargets(
      root,
      { targetModules: ['q_proj', 'v_proj'], excludeModules: ['layers.0.self_attn.v_proj'] },
      { modelType: 'llama' },
    );
    expect(found.map(([p]) => p)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
      'model.layers.2.self_attn.q_proj',
      'model.layers.2.self_attn.v_proj',
    ]);
    const rx = selectLinearTargets(root, { targetModules: ['q_proj'], excludeModules: '.*layers\\.[12]\\..*' }, { modelType: 'llama' });
    expect(rx.map(([p]) => p)).toEqual(['model.layers.0.self_attn.q_proj']);
  });

  it('typed selectors: a RegExp matches the whole path, a predicate sees path and module', () => {
    const root = llamaLike();
    expect(selectLinearTargets(root, { targetModules: /.*mlp\.(up|down)_proj/ }, { modelType: 'llama' })).toHaveLength(6);
    expect(
      selectLinearTargets(root, { targetModules: (p, m) => p.startsWith('model.layers.2') && m.inFeatures === 4 }, { modelType: 'llama' }),
    ).toHaveLength(7);
  });

  it('all-linear lists every linear name but the output head, as PEFT saves it', () => {
    expect(allLinearNames(llamaLike(), ['lm_head'])).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    const found = selectLinearTargets(llamaLike(), { targetModules: 'all-linear', outputHeadPaths: ['lm_head'] }, { modelType: 'llama' });
    expect(found).toHaveLength(21);
  });

  it('no match is an error listing the closest module names', () => {
    expect(() => selectLinearTargets(llamaLike(), { targetModules: ['q_projj'] }, { modelType: 'llama' })).toThrow(
      'target_modules ["q_projj"] not found in model (llama): closest names: q_proj, k_proj, o_proj',
    );
    expect(closestNames(['gate'], ['gate_proj', 'up_proj'], 1)).toEqual(['gate_proj']);
  });
});
