// Types for bench/emulate.mjs (a plain script of the bench, imported by a test).
export declare function emulatedCpu(
  module: string,
  root: string,
): { module: string; env: { WHISPER_SERVE_ADDON: string; ONEDNN_MAX_CPU_ISA: string; MKL_ENABLE_INSTRUCTIONS: string }; what: string };
