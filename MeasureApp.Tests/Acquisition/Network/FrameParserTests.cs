using System.Buffers.Binary;
using System.Text;
using MeasureApp.Acquisition.Devices.Network;

namespace MeasureApp.Tests.Acquisition.Network;

public sealed class FrameParserTests
{
    private static readonly Guid MeasurementId = Guid.Parse("0190f5c2-7a1b-7c3d-8e4f-a0b1c2d3e4f5");
    private static readonly byte[] Token = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    [Fact]
    public void Crc32MatchesTheZlibCheckValueAndABitwiseReference()
    {
        Assert.Equal(0xCBF4_3926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
        var random = new Random(7);
        for (var length = 0; length < 300; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(BitwiseCrc32(data), Crc32.Compute(data));
        }
    }

    [Fact]
    public void DataFrameRoundTripsWithEveryField()
    {
        var values = NetworkTestKit.Values(5, 3, 7);
        var buffer = new byte[FrameEncoder.DataFrameLength(3, 7, withToken: false)];
        var written = FrameEncoder.WriteData(buffer, new DataFrameHeader(MeasurementId, 42, -123_456_789, 2500, 3, 7, Restart: true), values);

        var status = FrameParser.Parse(buffer, FrameFormat.DefaultMaxFrameBytes, out var frame, out var length);

        Assert.Equal(FrameStatus.Ok, status);
        Assert.Equal(buffer.Length, written);
        Assert.Equal(written, length);
        Assert.Equal(FrameType.Data, frame.Type);
        Assert.Equal(FrameFlags.Restart, frame.Flags);
        Assert.Equal(MeasurementId, frame.MeasurementId);
        Assert.Equal(42ul, frame.Sequence);
        Assert.Equal(-123_456_789L, frame.T0Ns);
        Assert.Equal(2500, frame.SampleRate);
        Assert.Equal(3, frame.ChannelCount);
        Assert.Equal(7, frame.SampleCount);
        Assert.True(frame.Token.IsEmpty);
        Assert.Equal(values, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(frame.SampleBytes).ToArray());
    }

    [Fact]
    public void MeasurementIdIsWrittenInRfc4122ByteOrder()
    {
        var buffer = new byte[FrameEncoder.DataFrameLength(1, 1, withToken: false)];
        FrameEncoder.WriteData(buffer, new DataFrameHeader(MeasurementId, 0, 0, 1000, 1, 1), [1f]);

        // The bytes of the id as written in its text form, so Python's uuid.UUID(...).bytes is the same.
        Assert.Equal(Convert.FromHexString("0190f5c27a1b7c3d8e4fa0b1c2d3e4f5"), buffer[16..32]);
        Assert.Equal("MANF"u8.ToArray(), buffer[..4]);
    }

    /// <summary>The worked example of docs/network-protocol.md §8 (made with Python's struct and zlib) is what we write and read.</summary>
    [Fact]
    public void DocumentedExampleFrameIsWhatTheEncoderWritesAndTheParserReads()
    {
        var documented = Convert.FromHexString(
            "4d414e460102020040000200180000000190f5c27a1b7c3d8e4fa0b1c2d3e4f5070000000000000000002a36fe9c9717" +
            "0000000000408f400300000071c71464000000000000003f0000803f000080bf000000c000002040e7b3efa7");
        var written = new byte[FrameEncoder.DataFrameLength(2, 3, withToken: false)];
        FrameEncoder.WriteData(written, new DataFrameHeader(MeasurementId, 7, 1_700_000_000_000_000_000, 1000, 2, 3, Restart: true),
            [0f, 0.5f, 1f, -1f, -2f, 2.5f]);

        var status = FrameParser.Parse(documented, FrameFormat.DefaultMaxFrameBytes, out var frame, out var length);

        Assert.Equal(documented, written);
        Assert.Equal((FrameStatus.Ok, 92), (status, length));
        Assert.Equal((MeasurementId, 7ul, 1_700_000_000_000_000_000L, 1000.0, 2, 3),
            (frame.MeasurementId, frame.Sequence, frame.T0Ns, frame.SampleRate, frame.ChannelCount, frame.SampleCount));
    }

    [Fact]
    public void UdpDataFrameCarriesTheTokenBeforeTheSamples()
    {
        var buffer = new byte[FrameEncoder.DataFrameLength(1, 4, withToken: true)];
        FrameEncoder.WriteData(buffer, new DataFrameHeader(MeasurementId, 1, 0, 1000, 1, 4), [1f, 2f, 3f, 4f], Token);

        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer, FrameFormat.DefaultMaxFrameBytes, out var frame, out _));
        Assert.Equal(FrameFlags.Token, frame.Flags);
        Assert.Equal(Token, frame.Token.ToArray());
        Assert.Equal(16, frame.SampleBytes.Length);
    }

    [Fact]
    public void ControlFramesRoundTrip()
    {
        var buffer = new byte[FrameEncoder.MaxControlFrameLength];

        var n = FrameEncoder.WriteHello(buffer, Token, "bench PC");
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer.AsSpan(0, n), 4096, out var hello, out _));
        Assert.Equal(FrameType.Hello, hello.Type);
        Assert.Equal(Token, hello.Token.ToArray());
        Assert.Equal("bench PC", Encoding.UTF8.GetString(hello.CollectorName));

        n = FrameEncoder.WriteError(buffer, NetworkErrorCode.NotFound, MeasurementId, 9, new string('x', 1000));
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer.AsSpan(0, n), 4096, out var error, out _));
        Assert.Equal(NetworkErrorCode.NotFound, error.ErrorCode);
        Assert.Equal(MeasurementId, error.MeasurementId);
        Assert.Equal(9ul, error.Sequence);
        Assert.Equal(FrameFormat.MaxErrorMessageBytes, error.ErrorMessage.Length);

        n = FrameEncoder.WriteWelcome(buffer, 123_456, 30_000);
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer.AsSpan(0, n), 4096, out var welcome, out _));
        Assert.Equal(123_456, welcome.WelcomeMaxFrameBytes);
        Assert.Equal(30_000, welcome.WelcomeIdleTimeoutMs);

        n = FrameEncoder.WriteHeartbeat(buffer, 77);
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer.AsSpan(0, n), 4096, out var heartbeat, out _));
        Assert.Equal((FrameType.Heartbeat, 77ul), (heartbeat.Type, heartbeat.Sequence));

        n = FrameEncoder.WriteBye(buffer);
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(buffer.AsSpan(0, n), 4096, out var bye, out _));
        Assert.Equal(FrameType.Bye, bye.Type);
    }

    [Fact]
    public void OversizedLengthIsRefusedBeforeThePayloadIsAwaited()
    {
        var frame = Data(channels: 1, samples: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(12), 0x7FFF_FFF0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(60), Crc32.Compute(frame.AsSpan(0, 60)));

        // Only the header is there: a trusted length above the limit is refused now, not after 2 GB.
        var status = FrameParser.Parse(frame.AsSpan(0, 64), FrameFormat.DefaultMaxFrameBytes, out _, out var skip);

        Assert.Equal(FrameStatus.TooLarge, status);
        Assert.InRange(skip, 1, 64);
    }

    [Fact]
    public void HeaderLengthAboveSixtyFourIsAcceptedAndItsExtensionIgnored()
    {
        var plain = Data(channels: 1, samples: 2);
        var extended = new byte[plain.Length + 8];
        plain.AsSpan(0, 60).CopyTo(extended);
        BinaryPrimitives.WriteUInt16LittleEndian(extended.AsSpan(8), 72);
        extended.AsSpan(60, 8).Fill(0xEE);
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(68), Crc32.Compute(extended.AsSpan(0, 68)));
        plain.AsSpan(64).CopyTo(extended.AsSpan(72));
        BinaryPrimitives.WriteUInt32LittleEndian(extended.AsSpan(extended.Length - 4), Crc32.Compute(extended.AsSpan(0, extended.Length - 4)));

        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(extended, 4096, out var frame, out var length));
        Assert.Equal(extended.Length, length);
        Assert.Equal(2, frame.SampleCount);
    }

    [Fact]
    public void GarbageBeforeAFrameIsSkippedToTheNextMagic()
    {
        var frame = Data(channels: 2, samples: 3);
        var stream = new byte[37 + frame.Length];
        new Random(3).NextBytes(stream.AsSpan(0, 37));
        frame.CopyTo(stream, 37);

        var status = FrameParser.Parse(stream, 4096, out _, out var skip);

        Assert.Equal(FrameStatus.BadMagic, status);
        Assert.Equal(37, skip);
        Assert.Equal(FrameStatus.Ok, FrameParser.Parse(stream.AsSpan(skip), 4096, out _, out _));
    }

    /// <summary>
    /// SPEC §10: at least 10⁶ mutated inputs, no crash, no hang, bounded memory. Every mutation must
    /// end in one of the results declared for it, the reported length must let a reader make progress,
    /// and the parser must not allocate.
    /// </summary>
    [Fact]
    public void AMillionMutatedFramesOnlyGiveDeclaredErrors()
    {
        const int Iterations = 1_000_000;
        var random = new Random(20_240_611);
        var bases = BaseFrames(random);
        var output = new byte[64 * 1024];
        var byMutation = new long[FrameMutator.MutationCount];
        var byStatus = new long[Enum.GetValues<FrameStatus>().Length];

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Iterations; i++)
        {
            var (frame, isData) = bases[random.Next(bases.Length)];
            var mutation = (Mutation)(i % FrameMutator.MutationCount);
            var length = FrameMutator.Mutate(random, mutation, frame, isData, output);
            var input = output.AsSpan(0, length);

            var status = FrameParser.Parse(input, FrameFormat.DefaultMaxFrameBytes, out _, out var reported);

            if (!FrameMutator.IsExpected(mutation, isData, status) || !MakesProgress(status, reported, length))
            {
                Assert.Fail($"Iteration {i}: {mutation} of a {(isData ? "DATA" : "control")} frame gave {status} with length {reported} for {length} bytes.");
            }
            byMutation[(int)mutation]++;
            byStatus[(int)status]++;
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.All(byMutation, n => Assert.Equal(Iterations / FrameMutator.MutationCount, n));
        Assert.Equal(0, byStatus[(int)FrameStatus.Ok]);
        // Each kind of damage is actually produced, so the loop tests what it claims to.
        foreach (var s in new[] { FrameStatus.Incomplete, FrameStatus.BadMagic, FrameStatus.BadHeaderCrc, FrameStatus.BadFrameCrc,
            FrameStatus.TooLarge, FrameStatus.BadChannelCount, FrameStatus.BadSampleCount, FrameStatus.BadSampleRate,
            FrameStatus.LengthMismatch, FrameStatus.NonFiniteSample, FrameStatus.UnknownType, FrameStatus.BadFlags, FrameStatus.BadHeaderLength })
        {
            Assert.True(byStatus[(int)s] > 0, $"No mutation produced {s}.");
        }
        Assert.True(allocated < 64 * 1024, $"Parsing allocated {allocated} bytes.");
    }

    /// <summary>
    /// The same mutations as one byte stream, read the way the TCP listener reads: every valid frame
    /// between the broken ones is found, in order, and the reader always makes progress.
    /// </summary>
    [Fact]
    public void AStreamOfMutatedFramesStillYieldsEveryValidFrameInOrder()
    {
        const int MaxFrame = 16 * 1024;
        var random = new Random(99);
        var bases = BaseFrames(random);
        var stream = new MemoryStream();
        var scratch = new byte[64 * 1024];
        var validSequences = new List<ulong>();
        ulong sequence = 0;
        for (var i = 0; i < 50_000; i++)
        {
            if (i % 4 == 0)
            {
                var valid = Data(channels: 1 + (i % 8), samples: 1 + (i % 50), sequence);
                validSequences.Add(sequence++);
                stream.Write(valid);
            }
            var (frame, isData) = bases[random.Next(bases.Length)];
            var length = FrameMutator.Mutate(random, (Mutation)random.Next(FrameMutator.MutationCount), frame, isData, scratch);
            stream.Write(scratch, 0, length);
        }
        // A broken frame whose (CRC-valid) length runs past the end waits for bytes, as on a socket: trailing valid
        // frames longer than the frame limit make sure that wait ends inside the stream.
        for (var i = 0; i < 40; i++)
        {
            validSequences.Add(sequence);
            stream.Write(Data(channels: 8, samples: 64, sequence++));
        }
        var bytes = stream.ToArray();

        var found = new List<ulong>();
        var position = 0;
        var steps = 0;
        while (position < bytes.Length)
        {
            var status = FrameParser.Parse(bytes.AsSpan(position), MaxFrame, out var frame, out var length);
            if (status == FrameStatus.Incomplete)
            {
                break;
            }
            Assert.InRange(length, 1, bytes.Length - position);
            if (status == FrameStatus.Ok && frame.Type == FrameType.Data && frame.MeasurementId == MeasurementId && frame.Flags == FrameFlags.None)
            {
                found.Add(frame.Sequence);
            }
            position += length;
            steps++;
        }

        Assert.Equal(validSequences, found);
        Assert.True(steps < bytes.Length, "The reader must not take a step per byte on average.");
    }

    private static bool MakesProgress(FrameStatus status, int length, int inputLength) => status == FrameStatus.Incomplete
        ? length > inputLength
        : length >= 1 && length <= Math.Max(1, inputLength);

    /// <summary>Valid frames of every type and several sizes (small: CRC-32 catches every 3-bit error below 11 KB, and 10⁶ stay fast).</summary>
    private static (byte[] Frame, bool IsData)[] BaseFrames(Random random)
    {
        var frames = new List<(byte[], bool)>();
        foreach (var (channels, samples) in new[] { (1, 1), (1, 17), (2, 64), (3, 5), (8, 16), (4, 40) })
        {
            var values = new float[channels * samples];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (float)((random.NextDouble() * 20) - 10);
            }
            foreach (var token in new[] { (byte[]?)null, Token })
            {
                var frame = new byte[FrameEncoder.DataFrameLength(channels, samples, token is not null)];
                FrameEncoder.WriteData(frame, new DataFrameHeader(Guid.NewGuid(), (ulong)random.NextInt64(), random.NextInt64(), 1000, channels, samples), values, token);
                frames.Add((frame, true));
            }
        }
        var b = new byte[FrameEncoder.MaxControlFrameLength];
        frames.Add((b[..FrameEncoder.WriteHello(b, Token, "collector")], false));
        frames.Add((b[..FrameEncoder.WriteHeartbeat(b, 5)], false));
        frames.Add((b[..FrameEncoder.WriteBye(b)], false));
        frames.Add((b[..FrameEncoder.WriteWelcome(b, 1 << 20, 30_000)], false));
        frames.Add((b[..FrameEncoder.WriteError(b, NetworkErrorCode.BadCrc, Guid.NewGuid(), 3, "CRC mismatch.")], false));
        return [.. frames];
    }

    private static byte[] Data(int channels, int samples, ulong sequence = 0)
    {
        var frame = new byte[FrameEncoder.DataFrameLength(channels, samples, withToken: false)];
        FrameEncoder.WriteData(frame, new DataFrameHeader(MeasurementId, sequence, 0, 1000, channels, samples), NetworkTestKit.Values(sequence, channels, samples));
        return frame;
    }

    private static uint BitwiseCrc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFF_FFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320u : crc >> 1;
            }
        }
        return ~crc;
    }
}
