/**
 * The page: forms, buttons, the chart and the messages; all the work happens in the worker. A run's
 * checkpoints are stored in the browser: after a reload the page offers "Resume from step N", and
 * when the WebGPU device is lost it starts a new worker (a new device, or wasm) and resumes by itself.
 */
import type { BackendChoice } from './backend.js';
import { drawChart } from './chart.js';
import { METHOD_FORMS, readFields, renderFields } from './method-options.js';
import { $, fail, input, log, page } from './page.js';
import type { AdapterFile, DataSource, ModelSource, PickedFile, StoredRun, TrainSummary, WorkerMessage } from './protocol.js';
import { WorkerClient } from './rpc.js';
import { onTrainEvent, settings, showBackend, showRun, showSummary } from './views.js';

/** The page ends a worker whose device was lost; its pending requests reject with this. */
class WorkerReplaced extends Error {}

let client: WorkerClient;

function onWorkerEvent(m: Exclude<WorkerMessage, { id: number }>): void {
  if (m.event === 'train') onTrainEvent(m.e, m.totalSteps);
  else if (m.event === 'status') log(m.text);
  else if (m.event === 'token') $(m.which === 'base' ? 'out-base' : 'out-adapter').textContent += m.piece;
  else if (m.event === 'stored') {
    page.storedStep = m.run.step;
    storedKey = m.run.key;
    log(`checkpoint of step ${m.run.step} stored in this browser`);
  } else if (m.event === 'history') {
    page.loss = m.loss;
    page.val = m.val;
    page.totalSteps = m.totalSteps;
    drawChart($<HTMLCanvasElement>('chart'), page.loss, page.val, m.totalSteps);
  } else if (m.event === 'device-lost') void recover(m.why);
}

/** A new worker with its backend started; shows the backend. */
async function startWorker(choice: BackendChoice): Promise<{ methods: string[]; cached: string[] }> {
  client = new WorkerClient(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), onWorkerEvent);
  const r = await client.call('init', { backend: choice });
  showBackend(r.backend);
  return r;
}

function setBusy(busy: boolean): void {
  for (const id of ['load-model', 'load-data', 'train', 'generate', 'save', 'adapter-files']) ($(id) as HTMLButtonElement).disabled = busy;
  if (!busy) refreshButtons();
}

let haveModel = false;
let haveData = false;
let haveAdapter = false;
let canResume = false;

let recovery: Promise<void> | null = null;
/** The key of the run whose checkpoints this page stored last (`page.storedStep` is its step). */
let storedKey: string | null = null;

function refreshButtons(): void {
  if (recovery) {
    for (const id of ['load-model', 'load-data', 'train', 'generate', 'save', 'adapter-files', 'stop', 'resume', 'resume-stored'])
      ($(id) as HTMLButtonElement).disabled = true;
    return;
  }
  ($('load-model') as HTMLButtonElement).disabled = page.training;
  ($('adapter-files') as HTMLInputElement).disabled = !haveModel || page.training;
  ($('load-data') as HTMLButtonElement).disabled = !haveModel;
  ($('train') as HTMLButtonElement).disabled = !(haveModel && haveData) || page.training;
  ($('generate') as HTMLButtonElement).disabled = !haveModel || page.training;
  ($('save') as HTMLButtonElement).disabled = !haveAdapter || page.training;
  ($('stop') as HTMLButtonElement).disabled = !page.training;
  ($('resume') as HTMLButtonElement).disabled = !canResume || page.training;
  ($('resume-stored') as HTMLButtonElement).disabled = !page.offered || page.training;
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

/** The model and data last loaded: what the page loads again in a new worker after a lost device. */
let lastModel: ModelSource | null = null;
let lastData: DataArgs | null = null;
type DataArgs = { source: DataSource; maxLength: number; valSplit: number };

function modelFromForm(): ModelSource {
  const kind = (document.querySelector('input[name=model]:checked') as HTMLInputElement).value;
  const picked = pickedFiles(input('model-folder').files);
  return kind === 'bundled'
    ? { kind: 'bundled' }
    : kind === 'cached'
      ? { kind: 'cached', name: $<HTMLSelectElement>('cached-models').value }
      : { kind: 'files', name: picked[0]?.path.split('/')[0] ?? 'model', files: picked };
}

/** Loads a model (by default the one the form names), then the data; false when either failed. */
async function loadModel(source = modelFromForm(), data?: DataArgs): Promise<boolean> {
  const box = $('model-info');
  box.dataset.state = 'loading';
  box.textContent = 'loading…';
  if (source.kind === 'files' && source.files.length === 0) {
    fail(box, new Error('pick a model folder first'));
    return false;
  }
  const info = await guarded(box, () => client.call('loadModel', { source }));
  if (!info) return false;
  lastModel = source;
  page.offered = null;
  haveModel = true;
  haveData = false;
  haveAdapter = false;
  canResume = false;
  box.dataset.state = 'ready';
  box.textContent = `${info.name}: ${info.architecture}, ${info.parameters.toLocaleString('en-US')} parameters, ${info.layers} layers, hidden ${info.hidden}, vocabulary ${info.vocab} — ${info.from}`;
  log(`model loaded: ${box.textContent}`);
  refreshButtons();
  return loadData(data);
}

// ---- 2. data ----------------------------------------------------------------------------------

let dropped: { name: string; text: string } | null = null;
/** Counts data loads: an answer to an older one changes nothing. */
let dataLoads = 0;

function dataFromForm(): DataArgs | Error {
  const kind = (document.querySelector('input[name=data]:checked') as HTMLInputElement).value;
  if (kind === 'file' && !dropped) return new Error('drop a JSONL file (or choose one) first');
  const source: DataSource = kind === 'file' ? { kind: 'file', name: dropped!.name, text: dropped!.text } : { kind: 'bundled' };
  return { source, maxLength: Number(input('max-length').value), valSplit: Number(input('val-split').value) };
}

/** Loads the data (by default the form's) and offers a stored run on it; false when it failed. */
async function loadData(args: DataArgs | Error = dataFromForm()): Promise<boolean> {
  const box = $('data-info');
  if (args instanceof Error) {
    fail(box, args);
    return false;
  }
  page.offered = null;
  $('stored-info').dataset.state = '';
  const seq = ++dataLoads;
  const info = await guarded(box, () => client.call('loadData', args));
  if (seq !== dataLoads) return false; // a newer load replaced this one (its data is the worker's now)
  if (!info) {
    haveData = false;
    refreshButtons();
    return false;
  }
  lastData = args;
  haveData = true;
  box.dataset.state = 'ready';
  box.textContent = `${info.name}: ${info.train} training and ${info.validation} validation examples (${info.format})${info.truncated ? `, ${info.truncated} truncated` : ''}`;
  for (const w of info.warnings) log(`warning: ${w}`);
  if (info.examples.length && !$<HTMLTextAreaElement>('prompt').value) $<HTMLTextAreaElement>('prompt').value = info.examples[0];
  refreshButtons();
  await offerStored(seq);
  return true;
}

/** Offers "Resume from step N" when a run on this model and data is stored in the browser. */
async function offerStored(seq: number): Promise<void> {
  const run = await client.call('storedRun', {}).catch(() => null);
  if (seq !== dataLoads) return;
  page.offered = run;
  const info = $('stored-info');
  info.dataset.state = 'checked';
  $<HTMLButtonElement>('resume-stored').textContent = run ? `Resume from step ${run.step}` : 'Resume a stored run';
  info.textContent = run
    ? `a run of ${METHOD_FORMS[run.method]?.title ?? run.method} on this model and data is stored in this browser: step ${run.step} of ${run.totalSteps} (${new Date(run.savedAt).toLocaleString()})`
    : '';
  refreshButtons();
}

async function takeFile(f: File): Promise<void> {
  dropped = { name: f.name, text: await f.text() };
  (document.querySelector('input[name=data][value=file]') as HTMLInputElement).checked = true;
  $('drop').textContent = `${f.name} (${(f.size / 1024).toFixed(1)} KiB)${haveModel ? '' : ' — used once a model is loaded'}`;
  if (haveModel) await loadData();
}

// ---- 3/4. method and training -------------------------------------------------------------------

/** Runs a request that trains: a new run, Resume (in memory) or the stored run `run` (after a reload or a lost device). */
async function runTraining(op: 'train' | 'resume' | 'resumeStored', run?: StoredRun): Promise<void> {
  let call: () => Promise<TrainSummary>;
  try {
    if (op === 'resumeStored') {
      showRun(run!);
      log(`resuming the stored run from its checkpoint of step ${run!.step}`);
      call = () => client.call('resumeStored', { key: run!.key });
    } else {
      const method = $<HTMLSelectElement>('method').value;
      const args = { method, options: readFields(METHOD_FORMS[method]), settings: settings() };
      call = op === 'train' ? () => client.call('train', args) : () => client.call('resume', {});
    }
    if (op !== 'resume') {
      page.storedStep = run?.step ?? null;
      storedKey = run?.key ?? null;
      page.loss = [];
      page.val = [];
      $<HTMLProgressElement>('progress').value = 0;
      $('out-adapter').textContent = '';
    }
  } catch (e) {
    return fail($('diagnosis'), e);
  }
  page.training = true;
  page.offered = null;
  $('stored-info').textContent = '';
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
    const msg = (e as Error).message ?? '';
    if (e instanceof WorkerReplaced) return; // the recovery continues the run
    if (page.backend?.name === 'webgpu' && /device.lost/i.test(msg)) void recover(msg);
    else fail($('diagnosis'), e);
  } finally {
    page.training = false;
    setBusy(false);
  }
}

/**
 * After a lost WebGPU device: ends the worker (its tensors lived on that device), starts a new one
 * with a new device — or wasm when WebGPU does not start again, saying so — loads the same model and
 * data, and, when a run was training, resumes it from its last checkpoint stored in the browser.
 * Runs once per loss.
 */
function recover(why: string): Promise<void> {
  if (recovery) return recovery;
  const wasTraining = page.training;
  const key = page.storedStep === null ? null : storedKey;
  const p: Promise<void> = restart(why, wasTraining).then((entry) => {
    if (recovery === p) recovery = null;
    setBusy(false);
    const run = page.offered;
    if (!wasTraining || !entry) return;
    if (run && run.key === key) {
      entry.resumedFrom = run.step;
      void runTraining('resumeStored', run);
    } else log('no checkpoint of the interrupted run was stored yet: press Train to start it again');
  });
  recovery = p;
  refreshButtons();
  return p;
}

async function restart(why: string, wasTraining: boolean): Promise<(typeof page.recoveries)[number] | null> {
  const entry: (typeof page.recoveries)[number] = { why };
  page.recoveries.push(entry);
  log(
    `the GPU device was lost (${why}): starting the backend again${wasTraining ? ', then resuming from the last stored checkpoint' : ''}`,
  );
  client.terminate(new WorkerReplaced(why));
  try {
    await startWorker('auto');
    entry.backend = page.backend!.name;
    if (page.backend!.name !== 'webgpu') log(`WebGPU did not start again: going on with wasm (${page.backend!.reason})`);
    return lastModel && (await loadModel(lastModel, lastData ?? undefined)) ? entry : null;
  } catch (e) {
    fail($('diagnosis'), e);
    return null;
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
  $('resume-stored').onclick = () => page.offered && void runTraining('resumeStored', page.offered);
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
  void startWorker(choice).then(
    (r) => {
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
  // for tests: lose the WebGPU device of the worker, as a driver reset or a background tab would
  (globalThis as unknown as { peftjsTest: object }).peftjsTest = { loseDevice: () => client.loseDevice() };
}

setup();
