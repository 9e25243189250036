/**
 * The training worker: tfjs, the model, the data and the Trainer live here so that the page
 * never freezes. Requests run one at a time; Stop is handled at once (between training steps).
 */
import { destroyDevice, startBackend } from './backend.js';
import { cachedFolders, forgetFolder } from './cache.js';
import { METHODS, adapterFiles, loadAdapterFiles, loadData, loadModel } from './engine.js';
import { beforeAndAfter } from './generation.js';
import type { Requests, RequestMessage, WorkerMessage } from './protocol.js';
import { continueTraining, disposeRun, requestStop, resumeStored, startTraining, storedRunFor } from './training.js';

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
    backend: await startBackend(backend, (why) => post({ event: 'device-lost', why })),
    methods: Object.keys(METHODS),
    cached: await cached(),
  }),
  loadModel: async ({ source }) => {
    disposeRun();
    return loadModel(source, status);
  },
  loadData: ({ source, maxLength, valSplit }) => loadData(source, maxLength, valSplit),
  train: ({ method, options, settings }) => startTraining(method, options, settings, post),
  resume: () => continueTraining(post),
  storedRun: () => storedRunFor().catch(() => null),
  resumeStored: ({ key }) => resumeStored(key, post),
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
  // these two act at once, also while a request runs
  if (m.op === 'stop') {
    requestStop();
    post({ id: m.id, ok: true, result: null });
    return;
  }
  if (m.op === 'loseDevice') {
    try {
      destroyDevice();
      post({ id: m.id, ok: true, result: null });
    } catch (e) {
      post({ id: m.id, ok: false, error: (e as Error).message });
    }
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
