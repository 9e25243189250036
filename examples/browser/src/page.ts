/** What the page shows (also readable by tests as `window.peftjsPage`), its elements and its log. */
import type { PageBackend } from './backend.js';
import type { Point } from './chart.js';
import type { StoredRun, TrainSummary } from './protocol.js';

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
export const input = (id: string) => $<HTMLInputElement>(id);

export const page = {
  backend: null as PageBackend | null,
  loss: [] as Point[],
  val: [] as Point[],
  totalSteps: 0,
  training: false,
  summary: null as TrainSummary | null,
  saved: null as { files: string[]; tensors: Record<string, { shape: number[]; sum: number }> } | null,
  errors: [] as string[],
  /** The stored run offered as "Resume from step N" (a matching run is stored in this browser). */
  offered: null as StoredRun | null,
  /** The step of the last checkpoint stored in the browser by this page. */
  storedStep: null as number | null,
  /** Why each lost WebGPU device was lost, and what the page did about it. */
  recoveries: [] as Array<{ why: string; backend?: string; resumedFrom?: number }>,
};
(globalThis as unknown as { peftjsPage: typeof page }).peftjsPage = page;

export const log = (s: string) => {
  const el = $('log');
  el.textContent += `${new Date().toLocaleTimeString()}  ${s}\n`;
  el.scrollTop = el.scrollHeight;
};

export function fail(where: HTMLElement | null, e: unknown): void {
  const msg = (e as Error).message ?? String(e);
  page.errors.push(msg);
  log(`error: ${msg}`);
  if (where) {
    where.dataset.state = 'error';
    where.textContent = msg;
  }
}
