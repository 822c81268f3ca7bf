"""The official RunPod Python SDK (runpod.Endpoint), unchanged but for its base URL, against
whisper-serve's HTTP server with a real-looking endpoint id: prints one JSON object of what it got.
    RUNPOD_ENDPOINT_BASE_URL=<server url>/v2 python3 runpod_client.py <api key> <audio base url> <webhook url>"""
import json, sys, time

import runpod

key, audio, webhook = sys.argv[1:4]
endpoint = runpod.Endpoint("wsv5x2k9q1abcd", api_key=key)
out = {}

job = endpoint.run({"input": {"audio_url": f"{audio}/jfk.wav"}})
out["run_status"] = job.status()
out["run_output"] = job.output(timeout=120)["transcription"]
hooked = endpoint.run({"input": {"audio_url": f"{audio}/jfk.wav"}, "webhook": webhook})
out["hooked_id"] = hooked.job_id
out["hooked_output"] = hooked.output(timeout=120)["transcription"]
out["run_sync"] = endpoint.run_sync({"input": {"audio_url": f"{audio}/jfk.wav", "transcription": "srt"}}, timeout=120)["transcription"]

streamed = endpoint.run({"input": {"audio_url": f"{audio}/jfk-x6.wav", "stream": True, "batch_size": 1}})
out["stream"] = [chunk for chunk in streamed.stream()]
out["stream_final"] = streamed.output(timeout=120)["transcription"]

failed = endpoint.run({"input": {"audio_url": f"{audio}/missing.wav"}})
while failed.status() not in ("COMPLETED", "FAILED", "CANCELLED"):
    time.sleep(0.2)
out["failed"] = failed._fetch_job()

long = endpoint.run({"input": {"audio_url": f"{audio}/jfk-x20.wav"}})
while long.status() == "IN_QUEUE":
    time.sleep(0.1)
queued = endpoint.run({"input": {"audio_url": f"{audio}/jfk.wav"}})
out["purge"] = endpoint.purge_queue()
out["cancel"] = long.cancel()
out["queued_after_purge"] = queued._fetch_job()["status"]
out["health"] = endpoint.health()
print(json.dumps(out))
