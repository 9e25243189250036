// Every package's tests: the tfjs umbrella registers all gradients and the cpu backend.
import * as tf from '@tensorflow/tfjs';

await tf.setBackend(process.env.PEFTJS_TEST_BACKEND ?? 'cpu');
