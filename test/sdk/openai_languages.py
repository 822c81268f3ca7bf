"""The official OpenAI Python SDK against a server running a multilingual model: a German file's
transcription (language given, and detected) as verbose_json, and its translation.
    python3 openai_languages.py <server url> <api key> <german.wav>"""
import json, sys

import openai

url, key, german = sys.argv[1:4]
client = openai.OpenAI(api_key=key, base_url=f"{url}/v1", max_retries=0)
out = {}
with open(german, "rb") as f:
    v = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="verbose_json")
    out["detected"] = {"language": v.language, "text": v.text}
with open(german, "rb") as f:
    v = client.audio.transcriptions.create(file=f, model="whisper-1", language="de", response_format="verbose_json")
    out["given"] = {"language": v.language, "text": v.text}
with open(german, "rb") as f:
    out["translation"] = client.audio.translations.create(file=f, model="whisper-1").text
print(json.dumps(out, ensure_ascii=False))
