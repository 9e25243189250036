/** The page: forms, buttons, the chart and the messages; all the work happens in the worker. */
import type { TrainEvent } from '@peftjs/train';
import type { BackendChoice, PageBackend } from './backend.js';
import { drawChart, type Point } from './chart.js';
import { METHOD_FORMS, readFields, renderFields } from './method-options.js';
import type { AdapterFile, PickedFile, TrainSettings, TrainSummary } from './protocol.js';
import { WorkerClient } from './rpc.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

/** What the page shows, also readable by tests as `window.peftjsPage`. */
const page = {
  backend: null as PageBackend | null,
  loss: [] as Point[],
  val: [] as Point[],
  totalSteps: 0,
  training: false,
  summary: null as TrainSummary | null,
  saved: null as { files: string[]; tensors: Record<string, { shape: number[]; sum: number }> } | null,
  errors: [] as string[],
};
(globalThis as unknown as { peftjsPage: typeof page }).peftjsPage = page;

const log = (s: string) => {
  const el = $('log');
  el.textContent += `${new Date().toLocaleTimeString()}  ${s}\n`;
  el.scrollTop = el.scrollHeight;
};

function fail(where: HTMLElement | null, e: unknown): void {
  const msg = (e as Error).message ?? String(e);
  page.errors.push(msg);
  log(`error: ${msg}`);
  if (where) {
    where.dataset.state = 'error';
    where.textContent = msg;
  }
}

function onTrainEvent(e: TrainEvent, totalSteps: number): void {
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

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const client = new WorkerClient(worker, (m) => {
  if (m.event === 'train') onTrainEvent(m.e, m.totalSteps);
  else if (m.event === 'status') log(m.text);
  else if (m.event === 'token') $(m.which === 'base' ? 'out-base' : 'out-adapter').textContent += m.piece;
});

function setBusy(busy: boolean): void {
  for (const id of ['load-model', 'load-data', 'train', 'generate', 'save', 'adapter-files']) ($(id) as HTMLButtonElement).disabled = busy;
  if (!busy) refreshButtons();
}

let haveModel = false;
let haveData = false;
let haveAdapter = false;
let canResume = false;

function refreshButtons(): void {
  ($('load-model') as HTMLButtonElement).disabled = page.training;
  ($('adapter-files') as HTMLInputElement).disabled = !haveModel || page.training;
  ($('load-data') as HTMLButtonElement).disabled = !haveModel;
  ($('train') as HTMLButtonElement).disabled = !(haveModel && haveData) || page.training;
  ($('generate') as HTMLButtonElement).disabled = !haveModel || page.training;
  ($('save') as HTMLButtonElement).disabled = !haveAdapter || page.training;
  ($('stop') as HTMLButtonElement).disabled = !page.training;
  ($('resume') as HTMLButtonElement).disabled = !canResume || page.training;
}

/** Runs one request with the page's buttons locked, reporting errors in `where`. */
async function guarded<T>(where: HTMLElement | null, f: () => Promise<T>): Promise<T | undefined> {
  setBusy(true);
  try {
    return await f();
  } catch (e) {
    fail(where, e);
    return undefined;
  } finally {
    setBusy(false);
  }
}

// ---- 1. model ---------------------------------------------------------------------------------

function pickedFiles(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
}

function showCached(names: string[]): void {
  const sel = $<HTMLSelectElement>('cached-models');
  sel.replaceChildren(...names.map((n) => new Option(n, n)));
  $('cached-row').hidden = names.length === 0;
}

async function loadModel(): Promise<void> {
  const kind = (document.querySelector('input[name=model]:checked') as HTMLInputElement).value;
  const box = $('model-info');
  box.dataset.state = 'loading';
  box.textContent = 'loading…';
  const picked = pickedFiles(input('model-folder').files);
  const source =
    kind === 'bundled'
      ? ({ kind: 'bundled' } as const)
      : kind === 'cached'
        ? ({ kind: 'cached', name: $<HTMLSelectElement>('cached-models').value } as const)
        : ({ kind: 'files', name: picked[0]?.path.split('/')[0] ?? 'model', files: picked } as const);
  if (source.kind === 'files' && picked.length === 0) return fail(box, new Error('pick a model folder first'));
  const info = await guarded(box, () => client.call('loadModel', { source }));
  if (!info) return;
  haveModel = true;
  haveData = false;
  haveAdapter = false;
  canResume = false;
  box.dataset.state = 'ready';
  box.textContent = `${info.name}: ${info.architecture}, ${info.parameters.toLocaleString('en-US')} parameters, ${info.layers} layers, hidden ${info.hidden}, vocabulary ${info.vocab} — ${info.from}`;
  log(`model loaded: ${box.textContent}`);
  refreshButtons();
  await loadData();
}

// ---- 2. data ----------------------------------------------------------------------------------

let dropped: { name: string; text: string } | null = null;

async function loadData(): Promise<void> {
  const kind = (document.querySelector('input[name=data]:checked') as HTMLInputElement).value;
  const box = $('data-info');
  if (kind === 'file' && !dropped) return fail(box, new Error('drop a JSONL file (or choose one) first'));
  const source = kind === 'file' ? ({ kind: 'file', name: dropped!.name, text: dropped!.text } as const) : ({ kind: 'bundled' } as const);
  const info = await guarded(box, () =>
    client.call('loadData', { source, maxLength: Number(input('max-length').value), valSplit: Number(input('val-split').value) }),
  );
  if (!info) {
    haveData = false;
    return refreshButtons();
  }
  haveData = true;
  box.dataset.state = 'ready';
  box.textContent = `${info.name}: ${info.train} training and ${info.validation} validation examples (${info.format})${info.truncated ? `, ${info.truncated} truncated` : ''}`;
  for (const w of info.warnings) log(`warning: ${w}`);
  if (info.examples.length && !$<HTMLTextAreaElement>('prompt').value) $<HTMLTextAreaElement>('prompt').value = info.examples[0];
  refreshButtons();
}

async function takeFile(f: File): Promise<void> {
  dropped = { name: f.name, text: await f.text() };
  (document.querySelector('input[name=data][value=file]') as HTMLInputElement).checked = true;
  $('drop').textContent = `${f.name} (${(f.size / 1024).toFixed(1)} KiB)${haveModel ? '' : ' — used once a model is loaded'}`;
  if (haveModel) await loadData();
}

// ---- 3/4. method and training -------------------------------------------------------------------

function settings(): TrainSettings {
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
  };
}

function showSummary(s: TrainSummary): void {
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

async function runTraining(op: 'train' | 'resume'): Promise<void> {
  let call: () => Promise<TrainSummary>;
  try {
    const method = $<HTMLSelectElement>('method').value;
    const args = { method, options: readFields(METHOD_FORMS[method]), settings: settings() };
    if (op === 'train') {
      page.loss = [];
      page.val = [];
      $<HTMLProgressElement>('progress').value = 0;
      $('out-adapter').textContent = '';
    }
    call = op === 'train' ? () => client.call('train', args) : () => client.call('resume', {});
  } catch (e) {
    return fail($('diagnosis'), e);
  }
  page.training = true;
  setBusy(true);
  refreshButtons();
  $('diagnosis').dataset.state = 'empty';
  try {
    const s = await call();
    showSummary(s);
    haveAdapter = true;
    canResume = s.step < s.totalSteps;
    log(`${s.stopReason === 'stopped' ? 'stopped' : 'training done'} at step ${s.step}: ${s.diagnosis.case} — ${s.diagnosis.summary}`);
  } catch (e) {
    fail($('diagnosis'), e);
  } finally {
    page.training = false;
    setBusy(false);
  }
}

// ---- 5. try it --------------------------------------------------------------------------------

async function generate(): Promise<void> {
  $('out-base').textContent = '';
  $('out-adapter').textContent = '';
  const r = await guarded($('out-base'), () =>
    client.call('generate', { prompt: $<HTMLTextAreaElement>('prompt').value, maxNewTokens: Number(input('max-new').value) }),
  );
  if (r && r.adapter === null) $('out-adapter').textContent = '(no adapter yet: train one or load one)';
  $('out-base').dataset.done = String(!!r);
}

// ---- 6. save and load ---------------------------------------------------------------------------

function download(f: AdapterFile): void {
  const url = URL.createObjectURL(new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: f.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function save(): Promise<void> {
  const r = await guarded($('save-info'), () => client.call('save', {}));
  if (!r) return;
  page.saved = { files: r.files.map((f) => f.name), tensors: r.tensors };
  for (const f of r.files) download(f);
  $('save-info').textContent = `downloaded ${r.files.map((f) => `${f.name} (${(f.bytes.length / 1024).toFixed(1)} KiB)`).join(' and ')}`;
}

async function loadAdapter(): Promise<void> {
  const box = $('adapter-info');
  const r = await guarded(box, () => client.call('loadAdapter', { files: pickedFiles(input('adapter-files').files) }));
  input('adapter-files').value = '';
  if (!r) return;
  haveAdapter = true;
  canResume = false;
  box.dataset.state = 'ready';
  box.textContent = `loaded a ${r.peftType} adapter — ${r.trainableLine}. "Generate" now compares the base model with it.`;
  refreshButtons();
}

// ---- start --------------------------------------------------------------------------------------

function setup(): void {
  const methodSel = $<HTMLSelectElement>('method');
  const showMethod = () => {
    const form = METHOD_FORMS[methodSel.value];
    renderFields($('method-options'), form);
    $('method-about').textContent = form.about;
    input('lr').value = String(form.learningRate);
  };
  methodSel.onchange = showMethod;
  $('load-model').onclick = () => void loadModel();
  $('load-data').onclick = () => void loadData();
  $('train').onclick = () => void runTraining('train');
  $('resume').onclick = () => void runTraining('resume');
  $('stop').onclick = () => {
    client.stop();
    log('stopping after the current step…');
  };
  $('generate').onclick = () => void generate();
  $('save').onclick = () => void save();
  input('adapter-files').onchange = () => void loadAdapter();
  input('model-folder').onchange = () => ((document.querySelector('input[name=model][value=folder]') as HTMLInputElement).checked = true);
  input('data-file').onchange = () => input('data-file').files?.[0] && void takeFile(input('data-file').files![0]);
  $('forget-cached').onclick = () =>
    void guarded($('model-info'), async () =>
      showCached((await client.call('forgetCached', { name: $<HTMLSelectElement>('cached-models').value })).cached),
    );
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void takeFile(f);
  };
  const choice = (new URLSearchParams(location.search).get('backend') ?? 'auto') as BackendChoice;
  const backendSel = $<HTMLSelectElement>('backend-choice');
  backendSel.value = choice;
  backendSel.onchange = () => {
    const u = new URL(location.href);
    u.searchParams.set('backend', backendSel.value);
    location.href = u.toString();
  };
  drawChart($<HTMLCanvasElement>('chart'), [], [], 1);
  refreshButtons();
  setBusy(true);
  void client.call('init', { backend: choice }).then(
    (r) => {
      page.backend = r.backend;
      const el = $('backend');
      el.dataset.state = r.backend.name;
      el.textContent =
        r.backend.name === 'webgpu' ? `WebGPU: ${r.backend.adapter}` : `CPU (wasm) — ${r.backend.reason.replace(/^wasm: /, '')}`;
      el.title = r.backend.reason;
      log(`backend: ${r.backend.reason}`);
      methodSel.replaceChildren(...r.methods.map((m) => new Option(`${METHOD_FORMS[m]?.title ?? m}`, m, m === 'lora', m === 'lora')));
      showMethod();
      showCached(r.cached);
      setBusy(false);
      void loadModel();
    },
    (e) => {
      $('backend').dataset.state = 'error';
      fail($('backend'), e);
    },
  );
}

setup();
