#!/usr/bin/env python3
"""The seed's engine on the same audio: a transformers ASR pipeline (30 s chunks, batch 256, fp16)
over a randomly initialised WhisperForConditionalGeneration with large-v3-turbo's config, every
chunk forced to the same number of generated tokens as the addon run. Prints one JSON line.
    python3 bench/gpu/hf_pipeline.py <jfk.wav> <tokens> [batch_size]
Smoke run without a GPU, as addon-once.mjs: BENCH_GPU=off (CPU, float32) BENCH_MINUTES=1."""
import json, os, sys, time, wave

T_START = time.perf_counter()
import numpy as np
import torch
from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                          WhisperForConditionalGeneration, WhisperTokenizerFast, pipeline)
from tokenizers import Tokenizer, models, pre_tokenizers

wav_path, tokens = sys.argv[1], int(sys.argv[2])
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 256
on_gpu = os.environ.get("BENCH_GPU") != "off"
device, dtype = ("cuda", torch.float16) if on_gpu else ("cpu", torch.float32)
minutes = float(os.environ.get("BENCH_MINUTES", 90))
sync = torch.cuda.synchronize if on_gpu else (lambda: None)

config = WhisperConfig(vocab_size=51866, num_mel_bins=128, d_model=1280, encoder_layers=32, decoder_layers=4,
                       encoder_attention_heads=20, decoder_attention_heads=20, encoder_ffn_dim=5120, decoder_ffn_dim=5120,
                       max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50258,
                       eos_token_id=50257, pad_token_id=50257, bos_token_id=50257)
torch.manual_seed(0)
model = WhisperForConditionalGeneration(config).to(dtype).to(device).eval()
# A byte-level tokenizer over 51866 placeholder tokens: the text is noise either way.
vocab = {f"w{i}": i for i in range(51866)}
tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = WhisperTokenizerFast(tokenizer_object=tok, unk_token="w0", bos_token="w50257", eos_token="w50257", pad_token="w50257")
features = WhisperFeatureExtractor(feature_size=128)
model.generation_config = GenerationConfig(decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257,
                                           max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, num_beams=1)
asr = pipeline("automatic-speech-recognition", model=model, tokenizer=tokenizer, feature_extractor=features,
               dtype=dtype, device=device, chunk_length_s=30, batch_size=batch)
sync()
ready = time.perf_counter() - T_START

with wave.open(wav_path) as w:
    jfk = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
unit = np.concatenate([jfk, np.zeros(2 * 16000, dtype=np.float32)])
audio = np.tile(unit, int(np.ceil(minutes * 60 * 16000 / len(unit))))

if on_gpu:
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
out = asr({"raw": audio, "sampling_rate": 16000}, generate_kwargs={"max_new_tokens": tokens, "min_new_tokens": tokens})
sync()
wall = time.perf_counter() - t0
print(json.dumps({
    "engine": f"transformers pipeline (chunk 30 s, batch {batch}, {'fp16' if on_gpu else 'fp32 CPU'})",
    "audio_seconds": len(audio) / 16000,
    "cold_start_seconds": ready,
    "wall_seconds": wall,
    "realtime_factor": len(audio) / 16000 / wall,
    "time_to_first_result_seconds": wall,  # the pipeline returns everything at the end
    "peak_vram_mib": torch.cuda.max_memory_allocated() / 2**20 if on_gpu else None,
    "torch": torch.__version__,
    "gpu": torch.cuda.get_device_name(0) if on_gpu else None,
}))
