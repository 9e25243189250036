/** What the page shows of the worker's work: training progress, the run's summary, the backend, a run's settings in the form. */
import type { TrainEvent } from '@peftjs/train';
import type { PageBackend } from './backend.js';
import { drawChart } from './chart.js';
import { METHOD_FORMS, writeFields } from './method-options.js';
import { $, input, log, page } from './page.js';
import type { StoredRun, TrainSettings, TrainSummary } from './protocol.js';

export function onTrainEvent(e: TrainEvent, totalSteps: number): void {
  page.totalSteps = totalSteps;
  if (e.type === 'step' && !e.skipped && e.loss !== undefined) page.loss.push({ step: e.step, value: e.loss });
  if (e.type === 'eval' && e.val_loss !== undefined) page.val.push({ step: e.step, value: e.val_loss });
  if (e.type === 'stopped' && e.message) log(e.message);
  const progress = $<HTMLProgressElement>('progress');
  progress.max = totalSteps;
  progress.value = Math.max(progress.value, e.step);
  const last = page.loss.at(-1);
  const val = page.val.at(-1);
  $('train-stats').textContent =
    `step ${e.step} / ${totalSteps}` +
    (last ? `   loss ${last.value.toFixed(4)}` : '') +
    (val ? `   val_loss ${val.value.toFixed(4)} (step ${val.step})` : '') +
    (e.tokens_per_sec ? `   ${e.tokens_per_sec.toFixed(0)} tokens/s` : '') +
    `   ${e.elapsed_s.toFixed(1)} s`;
  $('train-stats').dataset.step = String(e.step);
  drawChart($<HTMLCanvasElement>('chart'), page.loss, page.val, totalSteps);
}

export function showBackend(b: PageBackend): void {
  page.backend = b;
  const el = $('backend');
  el.dataset.state = b.name;
  el.textContent = b.name === 'webgpu' ? `WebGPU: ${b.adapter}` : `CPU (wasm) — ${b.reason.replace(/^wasm: /, '')}`;
  el.title = b.reason;
  log(`backend: ${b.reason}`);
}

export function settings(): TrainSettings {
  const n = (id: string, what: string, int = true) => {
    const v = Number(input(id).value);
    if (!Number.isFinite(v) || (int && !Number.isInteger(v)))
      throw new Error(`${what} must be ${int ? 'an integer' : 'a number'}, got "${input(id).value}"`);
    return v;
  };
  return {
    steps: n('steps', 'steps'),
    learningRate: n('lr', 'learning rate', false),
    batchSize: n('batch-size', 'batch size'),
    maxLength: n('max-length', 'max length'),
    evalEvery: n('eval-every', 'evaluate every'),
    valSplit: n('val-split', 'held-out fraction', false),
    warmupSteps: n('warmup', 'warmup steps'),
    seed: n('seed', 'seed'),
    saveEvery: n('save-every', 'checkpoint every'),
  };
}

export function showSummary(s: TrainSummary): void {
  page.summary = s;
  const d = $('diagnosis');
  d.dataset.state = s.diagnosis.case;
  d.replaceChildren();
  const head = document.createElement('b');
  head.textContent = `${s.stopReason === 'stopped' ? `stopped at step ${s.step} of ${s.totalSteps}` : `finished ${s.step} steps`} — ${s.diagnosis.case}: `;
  const ul = document.createElement('ul');
  for (const t of s.diagnosis.suggestions) ul.append(Object.assign(document.createElement('li'), { textContent: t }));
  d.append(
    head,
    document.createTextNode(s.diagnosis.summary),
    ul,
    Object.assign(document.createElement('div'), { textContent: s.trainableLine, className: 'about' }),
  );
}

/** Puts a stored run's method, options and settings into the form (what the resumed run uses). */
export function showRun(run: StoredRun): void {
  const methodSel = $<HTMLSelectElement>('method');
  methodSel.value = run.method;
  methodSel.dispatchEvent(new Event('change'));
  writeFields(METHOD_FORMS[run.method], run.options);
  const s = run.settings;
  const fields: Record<string, number> = {
    steps: s.steps,
    lr: s.learningRate,
    'batch-size': s.batchSize,
    'eval-every': s.evalEvery,
    warmup: s.warmupSteps,
    seed: s.seed,
    'save-every': s.saveEvery,
  };
  for (const [id, v] of Object.entries(fields)) input(id).value = String(v);
}
