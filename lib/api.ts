/**
 * The library's `Whisper`: the core model (lib/whisper.ts: a ggml file in, 16 kHz PCM in,
 * segments out) plus what a library user expects of `Whisper.load(model)` and
 * `whisper.transcribe(input)`: a registry name or a path for the model, and any audio input
 * (path, URL, Buffer, Readable, base64), decoded by lib/audio/ first.
 */
import { loadAudio, type AudioInput, type LoadAudioOptions } from './audio/source.js';
import { readConfig } from './config.js';
import { resolveModel } from './models/registry.js';
import { SegmentStream } from './segment-stream.js';
import { both, Whisper as CoreWhisper, type LoadOptions, type Segment, type TranscribeOptions, type Transcript } from './whisper.js';

export class Whisper extends CoreWhisper {
  /** Loads a model by registry name (from the cache) or path. */
  static override async load(model: string = readConfig().model, options: LoadOptions = {}): Promise<Whisper> {
    const { path, name } = resolveModel(model);
    return (await super.load(path, { ...options, ...(name && { name }) })) as Whisper;
  }

  /** Transcribes 16 kHz mono PCM, or any input `loadAudio` takes, decoded first with the same options (the decode is not in `timings`). */
  override async transcribe(input: Float32Array | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): Promise<Transcript> {
    return super.transcribe(input instanceof Float32Array ? input : (await loadAudio(input, options)).pcm, options);
  }

  /** `transcribeStream` for any input `loadAudio` takes (decoded first). */
  override transcribeStream(input: Float32Array | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): SegmentStream<Segment, Transcript> {
    return new SegmentStream((push) => this.transcribe(input, { ...options, onSegment: both(options.onSegment, push) }));
  }
}
