// Loaded only with PEFTJS_BACKEND=wasm (vitest.config.ts): every case runs on wasm with peftjs'
// kernels (GEMM, fused RoPE/RMSNorm/SwiGLU/softmax, cross-entropy), as `setupBackend` installs them.
import { setupBackend } from '@peftjs/backend-node';

await setupBackend({ prefer: 'wasm', log: (m) => console.log(m) });
