"""faster-whisper on the same CTranslate2 weights our ggml file was imported from: the reference
test/multilingual.test.ts compares with. Greedy at temperature 0 only (its fallback samples
without a fixed seed: one run's text could differ from the next), no VAD, not conditioned on
previous text. One JSON line per WAV: the detected language, its probability, the text.
    python faster_whisper_languages.py <ct2 dir> <transcribe|translate> <wav>..."""
import json, sys

from faster_whisper import WhisperModel

model_dir, task, wavs = sys.argv[1], sys.argv[2], sys.argv[3:]
model = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=2)
for wav in wavs:
    segments, info = model.transcribe(wav, task=task, beam_size=1, temperature=0.0, condition_on_previous_text=False, vad_filter=False)
    text = "".join(s.text for s in segments).strip()
    print(json.dumps({"wav": wav, "language": info.language, "probability": info.language_probability, "text": text}, ensure_ascii=False))
