using System.Buffers.Binary;

namespace MeasureApp.Acquisition.Devices.Sigrok;

/// <summary>
/// Reads the streamed WAV that <c>sigrok-cli -O wav</c> writes: a RIFF header with an IEEE float
/// <c>fmt </c> chunk (format 3, 32 bits), then interleaved little-endian float32 frames for ever (the
/// sizes are 0xFFFFFFFF while streaming). WAV rather than CSV or "analog": sigrok-cli 0.7.2 with
/// libsigrok 0.5.2 crashes in the CSV module on continuous analog data ("realloc(): invalid old
/// size") and prints analog packets twice with <c>-O analog</c>; WAV carries the exact float32 values.
/// </summary>
internal sealed class WavStreamParser
{
    private const int FormatIeeeFloat = 3;
    private const int FormatExtensible = 0xFFFE;
    private const int MaxHeaderBytes = 64 * 1024;

    private byte[] _buffer = new byte[64 * 1024];
    private int _length;

    /// <summary>Channels per frame, once the header was read.</summary>
    public int Channels { get; private set; }

    /// <summary>The sample rate the header states (0 when the device has none, e.g. a multimeter).</summary>
    public double SampleRate { get; private set; }

    /// <summary>True once the header up to the data chunk was read.</summary>
    public bool HeaderRead { get; private set; }

    /// <summary>Whole frames buffered and not yet taken.</summary>
    public int FramesAvailable => HeaderRead ? _length / (Channels * sizeof(float)) : 0;

    /// <summary>Free space to read the next bytes into; call <see cref="Advance"/> with what was read.</summary>
    public Memory<byte> GetWriteBuffer()
    {
        if (_buffer.Length - _length < 4096)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
        return _buffer.AsMemory(_length);
    }

    /// <summary>Takes <paramref name="count"/> bytes written into <see cref="GetWriteBuffer"/>; parses the header once it is complete.</summary>
    /// <exception cref="FormatException">The stream is not a float32 WAV.</exception>
    public void Advance(int count)
    {
        _length += count;
        if (!HeaderRead)
        {
            TryReadHeader();
        }
    }

    /// <summary>
    /// Moves up to <paramref name="maxFrames"/> frames, de-interleaved, into <paramref name="channelMajor"/>
    /// (channel c's samples at c·frames), replacing NaN/±Inf with the channel's previous finite value
    /// (kept in <paramref name="lastFinite"/>). Returns the frames taken and how many values were replaced.
    /// </summary>
    public (int Frames, int Replaced) Take(Span<float> channelMajor, int maxFrames, Span<float> lastFinite)
    {
        var frames = Math.Min(FramesAvailable, maxFrames);
        var channels = Channels;
        var replaced = 0;
        var src = _buffer.AsSpan(0, frames * channels * sizeof(float));
        for (var i = 0; i < frames; i++)
        {
            for (var c = 0; c < channels; c++)
            {
                var v = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(((i * channels) + c) * sizeof(float)));
                if (!float.IsFinite(v))
                {
                    v = lastFinite[c];
                    replaced++;
                }
                else
                {
                    lastFinite[c] = v;
                }
                channelMajor[(c * frames) + i] = v;
            }
        }
        Consume(src.Length);
        return (frames, replaced);
    }

    private void Consume(int bytes)
    {
        _buffer.AsSpan(bytes, _length - bytes).CopyTo(_buffer);
        _length -= bytes;
    }

    private void TryReadHeader()
    {
        var span = _buffer.AsSpan(0, _length);
        if (span.Length < 12)
        {
            return;
        }
        if (!span[..4].SequenceEqual("RIFF"u8) || !span.Slice(8, 4).SequenceEqual("WAVE"u8))
        {
            throw new FormatException("sigrok-cli did not write a WAV stream (no RIFF/WAVE header).");
        }
        var pos = 12;
        var sawFormat = false;
        while (pos + 8 <= span.Length)
        {
            var id = span.Slice(pos, 4);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(span.Slice(pos + 4, 4));
            if (id.SequenceEqual("data"u8))
            {
                if (!sawFormat)
                {
                    throw new FormatException("The WAV stream has no fmt chunk before its data.");
                }
                HeaderRead = true;
                Consume(pos + 8);
                return;
            }
            if (size > MaxHeaderBytes)
            {
                throw new FormatException($"The WAV header has an implausible {size}-byte chunk.");
            }
            if (pos + 8 + size > span.Length)
            {
                break;
            }
            if (id.SequenceEqual("fmt "u8))
            {
                ReadFormat(span.Slice(pos + 8, (int)size));
                sawFormat = true;
            }
            pos += 8 + (int)size + ((int)size & 1);
        }
        if (_length > MaxHeaderBytes)
        {
            throw new FormatException("The WAV header did not end within 64 KB.");
        }
    }

    private void ReadFormat(ReadOnlySpan<byte> fmt)
    {
        if (fmt.Length < 16)
        {
            throw new FormatException("The WAV fmt chunk is too short.");
        }
        var tag = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
        var channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
        var rate = BinaryPrimitives.ReadUInt32LittleEndian(fmt[4..]);
        var bits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);
        if ((tag != FormatIeeeFloat && tag != FormatExtensible) || bits != 32)
        {
            throw new FormatException($"The WAV stream holds format {tag} with {bits}-bit samples; only 32-bit float is supported.");
        }
        if (channels is < 1 or > 64)
        {
            throw new FormatException($"The WAV stream claims {channels} channels.");
        }
        Channels = channels;
        SampleRate = rate;
    }
}
