#!/usr/bin/env python3
"""faster-whisper once on a WAV: greedy (beam 1), English, no VAD for the sequential mode
(conditioned on previous text, faster-whisper's default); with a batch size, its
BatchedInferencePipeline as its README runs it (Silero VAD chunks of at most 30 s, no
timestamps, batch_size windows per pass). Prints one JSON line."""
import json, sys, time

from faster_whisper import BatchedInferencePipeline, WhisperModel

model_dir, wav, compute_type, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
batch_size = int(sys.argv[5]) if len(sys.argv) > 5 else 0
# "timestamps": the batched pipeline with segment timestamps (what srt/vtt need), as ours by default.
timestamps = len(sys.argv) > 6 and sys.argv[6] == "timestamps"
t0 = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)
t1 = time.perf_counter()
if batch_size:
    segments, info = BatchedInferencePipeline(model).transcribe(wav, batch_size=batch_size, beam_size=1, language="en", without_timestamps=not timestamps)
else:
    segments, info = model.transcribe(wav, beam_size=1, best_of=1, language="en", condition_on_previous_text=True, vad_filter=False)
text = "".join(s.text for s in segments)
t2 = time.perf_counter()
print(json.dumps({"text": text, "load_seconds": t1 - t0, "transcribe_seconds": t2 - t1}))
