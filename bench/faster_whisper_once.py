#!/usr/bin/env python3
"""faster-whisper once on a WAV: greedy (beam 1), English, conditioned on previous text, no VAD:
the same decoding as the whisper.cpp runs it is compared with. Prints one JSON line."""
import json, sys, time

from faster_whisper import WhisperModel

model_dir, wav, compute_type, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
t1 = time.perf_counter()
segments, info = model.transcribe(wav, beam_size=1, best_of=1, language="en", condition_on_previous_text=True, vad_filter=False)
text = "".join(s.text for s in segments)
t2 = time.perf_counter()
print(json.dumps({"text": text, "load_seconds": t1 - t0, "transcribe_seconds": t2 - t1}))
