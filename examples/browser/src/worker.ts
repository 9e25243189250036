/**
 * The training worker: tfjs, the model, the data and the Trainer live here so that the page
 * never freezes. Requests run one at a time; Stop is handled at once (between training steps).
 */
import { startBackend } from './backend.js';
import { cachedFolders, forgetFolder } from './cache.js';
import { METHODS, adapterFiles, loadAdapterFiles, loadData, loadModel } from './engine.js';
import { beforeAndAfter } from './generation.js';
import type { Requests, RequestMessage, WorkerMessage } from './protocol.js';
import { continueTraining, disposeRun, requestStop, startTraining } from './training.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
const status = (text: string) => post({ event: 'status', text });

async function cached(): Promise<string[]> {
  try {
    return await cachedFolders();
  } catch {
    return [];
  }
}

const handlers: { [K in keyof Requests]: (args: Requests[K]['args']) => Promise<Requests[K]['result']> } = {
  init: async ({ backend }) => ({
    backend: await startBackend(backend, (why) => status(`error: ${why}`)),
    methods: Object.keys(METHODS),
    cached: await cached(),
  }),
  loadModel: async ({ source }) => {
    disposeRun();
    return loadModel(source, status);
  },
  loadData: ({ source, maxLength, valSplit }) => loadData(source, maxLength, valSplit),
  train: ({ method, options, settings }) =>
    startTraining(method, options, settings, (e, totalSteps) => post({ event: 'train', e, totalSteps })),
  resume: () => continueTraining(),
  generate: ({ prompt, maxNewTokens }) => beforeAndAfter(prompt, maxNewTokens, (which, piece) => post({ event: 'token', which, piece })),
  save: () => adapterFiles(),
  loadAdapter: async ({ files }) => {
    disposeRun();
    return loadAdapterFiles(files);
  },
  forgetCached: async ({ name }) => {
    await forgetFolder(name);
    return { cached: await cached() };
  },
};

let queue: Promise<unknown> = Promise.resolve();

self.onmessage = (ev: MessageEvent<RequestMessage>) => {
  const m = ev.data;
  if (m.op === 'stop') {
    requestStop();
    post({ id: m.id, ok: true, result: null });
    return;
  }
  queue = queue.then(async () => {
    try {
      const result = await (handlers[m.op] as (a: unknown) => Promise<unknown>)(m.args);
      post({ id: m.id, ok: true, result });
    } catch (e) {
      post({ id: m.id, ok: false, error: (e as Error).message ?? String(e) });
    }
  });
};
