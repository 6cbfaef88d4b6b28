// wasm_hash.mjs: the key under which a wasm byte string is precompiled, shared
// by precompile.mjs (Node, writes the modules) and worker.mjs (workerd, looks
// them up). FNV-1a 32-bit over every byte, plus the length.
export function wasmKey(bytes) {
  let u8;
  if (bytes instanceof Uint8Array) u8 = bytes;
  else if (ArrayBuffer.isView(bytes)) u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  else u8 = new Uint8Array(bytes);
  let h = 0x811c9dc5;
  for (let i = 0; i < u8.length; i++) {
    h ^= u8[i];
    h = Math.imul(h, 0x01000193);
  }
  return `${u8.length.toString(16)}_${(h >>> 0).toString(16).padStart(8, '0')}`;
}
