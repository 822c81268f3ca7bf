"""The official OpenAI Python SDK, unchanged, against whisper-serve: prints one JSON object of what
it got, for test/python-sdks.test.ts to check.
    python3 openai_client.py <server url> <api key> <short.wav> <long.wav>"""
import json, sys

import openai

url, key, short, long = sys.argv[1:5]
client = openai.OpenAI(api_key=key, base_url=f"{url}/v1", max_retries=0)
out = {}
with open(short, "rb") as f:
    out["json"] = client.audio.transcriptions.create(file=f, model="whisper-1").text
with open(short, "rb") as f:
    out["text"] = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="text")
with open(short, "rb") as f:
    out["srt"] = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="srt")
with open(short, "rb") as f:
    v = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="verbose_json", timestamp_granularities=["word", "segment"])
    out["verbose"] = {"language": v.language, "words": len(v.words or []), "segments": len(v.segments or [])}
with open(long, "rb") as f:
    deltas, done = [], None
    for event in client.audio.transcriptions.create(file=f, model="whisper-1", stream=True):
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
        elif event.type == "transcript.text.done":
            done = event.text
    out["stream"] = {"deltas": deltas, "done": done}
try:
    with open(short, "rb") as f:
        openai.OpenAI(api_key="sk-wrong", base_url=f"{url}/v1", max_retries=0).audio.transcriptions.create(file=f, model="whisper-1")
    out["wrong_key"] = "accepted"
except openai.AuthenticationError as e:
    out["wrong_key"] = f"AuthenticationError {e.status_code}"
out["models"] = [m.id for m in client.models.list()]
print(json.dumps(out))
