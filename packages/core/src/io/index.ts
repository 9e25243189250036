// `@peftjs/core/io`: files on disk and the safetensors format. The plugin API stays at
// `@peftjs/core`; loaders, savers and tools import their file I/O from here.
export { SAFETENSORS_DTYPES, dtypeItemSize } from './safetensors.js';
export type { SafetensorsDtype, SafetensorsEntry, SafetensorsFile } from './safetensors.js';
export { parseSafetensors, decodeEntry, entryToTensor, decodeTensors } from './safetensors-read.js';
export { serializeSafetensors, serializeEntries } from './safetensors-write.js';
export type { TensorSource, SerializeOptions } from './safetensors-write.js';
export { f32ToF16, f16ToF32, f32ToBf16, bf16ToF32, f32ToF16Bits, f32ToBf16Bits, f16BitsToF32, bf16BitsToF32 } from './float16.js';
export {
  writeFileAtomic,
  readFileBytes,
  readJsonFile,
  writeJsonAtomic,
  formatPythonJson,
  readSafetensorsFile,
  writeSafetensorsFile,
  pathExists,
} from './fs.js';
export type { PythonJsonOptions } from './fs.js';
export {
  writeFolderAtomic,
  recoverFolder,
  sweepTemps,
  lockFolder,
  processAlive,
  FolderLockedError,
  COMMIT_JOURNAL,
  LOCK_FILE,
} from './folder.js';
export type { FolderFile, FolderSaveOptions } from './folder.js';
