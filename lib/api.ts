/**
 * The library's `Whisper`: the core model (lib/whisper.ts: a ggml file in, 16 kHz PCM in,
 * segments out) plus what a library user expects of `Whisper.load(model)` and
 * `whisper.transcribe(input)`: a registry name or a path for the model, and any audio input
 * (path, URL, Buffer, Readable, base64), decoded by lib/audio/ as it is transcribed.
 */
import { Readable } from 'node:stream';
import { openAudio, type AudioInput, type LoadAudioOptions } from './audio/source.js';
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

  /**
   * Transcribes 16 kHz mono PCM (an array, or an async iterable of chunks), or any input
   * `openAudio` takes, decoded as it is transcribed: a 10 h file is never in memory whole (the
   * decode is not in `timings`). A Node Readable is audio bytes (a file's), not PCM.
   */
  override async transcribe(input: Float32Array | AsyncIterable<Float32Array> | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): Promise<Transcript> {
    if (input instanceof Float32Array || (!(input instanceof Readable) && typeof input === 'object' && Symbol.asyncIterator in input)) {
      return super.transcribe(input as Float32Array | AsyncIterable<Float32Array>, options);
    }
    const audio = await openAudio(input as AudioInput, options);
    try {
      return await super.transcribe(audio.chunks, { ...(audio.declaredSeconds !== undefined && { expectedSeconds: audio.declaredSeconds }), ...options });
    } finally {
      await audio.close();
    }
  }

  /** `transcribeStream` for any input `transcribe` takes. */
  override transcribeStream(input: Float32Array | AsyncIterable<Float32Array> | AudioInput, options: TranscribeOptions & LoadAudioOptions = {}): SegmentStream<Segment, Transcript> {
    return new SegmentStream((push) => this.transcribe(input, { ...options, onSegment: both(options.onSegment, push) }));
  }
}
