using System.Buffers.Binary;
using MeasureApp.Acquisition.Devices.Network;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>Ways a frame gets broken in the mutation tests.</summary>
internal enum Mutation
{
    /// <summary>1 to 3 random bits flipped anywhere (CRC-32 detects every such error at these lengths).</summary>
    BitFlip,
    /// <summary>Cut short at a random point.</summary>
    Truncate,
    /// <summary>Payload length replaced (header CRC recomputed so the length is believed), or header length replaced.</summary>
    BadLength,
    /// <summary>DATA with an impossible channel count, sample count or rate, both CRCs recomputed.</summary>
    AbsurdCounts,
    /// <summary>Header or payload CRC changed.</summary>
    BadCrc,
    /// <summary>Random bytes, sometimes starting with the magic.</summary>
    Garbage,
    /// <summary>DATA with a NaN or infinity, frame CRC recomputed.</summary>
    NonFinite,
    /// <summary>Undefined type or reserved flag bits, both CRCs recomputed.</summary>
    TypeOrFlags,
}

/// <summary>Seeded frame mutations writing into a caller's buffer (no allocation per mutation).</summary>
internal static class FrameMutator
{
    public const int MutationCount = 8;

    private static readonly double[] BadRates = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0, -1000, 1e300, -0.0];
    private static readonly float[] NonFiniteValues = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7F80_0001)];

    /// <summary>Copies <paramref name="frame"/> into <paramref name="output"/> broken the given way; returns the length used.</summary>
    public static int Mutate(Random random, Mutation mutation, ReadOnlySpan<byte> frame, bool isData, Span<byte> output)
    {
        frame.CopyTo(output);
        var length = frame.Length;
        var payloadLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame[12..]);
        switch (mutation)
        {
            case Mutation.BitFlip:
                // Distinct bits: flipping one bit twice would leave the frame intact.
                var bits = length * 8;
                var first = random.Next(bits);
                var second = (first + random.Next(1, bits)) % bits;
                var third = random.Next(bits);
                var flips = random.Next(1, 4);
                Flip(output, first);
                if (flips >= 2)
                {
                    Flip(output, second);
                }
                if (flips == 3 && third != first && third != second)
                {
                    Flip(output, third);
                }
                break;
            case Mutation.Truncate:
                length = random.Next(length);
                break;
            case Mutation.BadLength:
                if (random.Next(4) == 0)
                {
                    ushort hl;
                    do
                    {
                        hl = (ushort)random.Next(65_536);
                    }
                    while (hl == FrameFormat.HeaderLength);
                    BinaryPrimitives.WriteUInt16LittleEndian(output[8..], hl);
                }
                else
                {
                    uint pl;
                    do
                    {
                        pl = random.Next(3) switch
                        {
                            0 => (uint)random.Next(0, 2048),
                            1 => uint.MaxValue - (uint)random.Next(1000),
                            _ => (uint)random.NextInt64(0, uint.MaxValue),
                        };
                    }
                    while (pl == payloadLength);
                    BinaryPrimitives.WriteUInt32LittleEndian(output[12..], pl);
                    RecomputeHeaderCrc(output);
                }
                break;
            case Mutation.AbsurdCounts when isData:
                switch (random.Next(3))
                {
                    case 0:
                        BinaryPrimitives.WriteUInt16LittleEndian(output[10..], (ushort)(random.Next(2) == 0 ? 0 : random.Next(9, 65_536)));
                        break;
                    case 1:
                        BinaryPrimitives.WriteUInt32LittleEndian(output[56..], random.Next(3) switch
                        {
                            0 => 0,
                            1 => (uint)random.NextInt64(FrameFormat.MaxSamplesPerFrame + 1L, uint.MaxValue + 1L),
                            _ => (uint)random.Next(1, 100_000),
                        });
                        if (BinaryPrimitives.ReadUInt32LittleEndian(output[56..]) == BinaryPrimitives.ReadUInt32LittleEndian(frame[56..]))
                        {
                            BinaryPrimitives.WriteUInt32LittleEndian(output[56..], 0);
                        }
                        break;
                    default:
                        BinaryPrimitives.WriteDoubleLittleEndian(output[48..], BadRates[random.Next(BadRates.Length)]);
                        break;
                }
                RecomputeHeaderCrc(output);
                RecomputeFrameCrc(output, payloadLength);
                break;
            case Mutation.AbsurdCounts:
            case Mutation.TypeOrFlags:
                if (random.Next(2) == 0)
                {
                    byte type;
                    do
                    {
                        type = (byte)random.Next(256);
                    }
                    while (Enum.IsDefined((FrameType)type));
                    output[5] = type;
                }
                else
                {
                    // Keep the flags the frame had (a DATA frame's token bit) and add reserved ones.
                    var reserved = random.Next(1, 65_536) & ~(isData ? 3 : 0);
                    var flags = BinaryPrimitives.ReadUInt16LittleEndian(frame[6..]) | (reserved == 0 ? 0x8000 : reserved);
                    BinaryPrimitives.WriteUInt16LittleEndian(output[6..], (ushort)flags);
                }
                RecomputeHeaderCrc(output);
                RecomputeFrameCrc(output, payloadLength);
                break;
            case Mutation.BadCrc:
                var at = random.Next(2) == 0 ? 60 : 64 + payloadLength;
                var crc = BinaryPrimitives.ReadUInt32LittleEndian(output[at..]);
                BinaryPrimitives.WriteUInt32LittleEndian(output[at..], crc ^ (uint)random.Next(1, int.MaxValue));
                break;
            case Mutation.Garbage:
                length = random.Next(1, Math.Min(output.Length, 2048));
                random.NextBytes(output[..length]);
                if (random.Next(2) == 0 && length >= 10)
                {
                    // A plausible prelude, so the header CRC is what catches it.
                    BinaryPrimitives.WriteUInt32LittleEndian(output, FrameFormat.Magic);
                    output[4] = FrameFormat.Version;
                    BinaryPrimitives.WriteUInt16LittleEndian(output[8..], FrameFormat.HeaderLength);
                }
                break;
            case Mutation.NonFinite when isData:
                var samples = (payloadLength - (frame[6] & 1) * FrameFormat.TokenLength) / 4;
                var sampleAt = 64 + payloadLength - (samples * 4) + (random.Next(samples) * 4);
                BinaryPrimitives.WriteSingleLittleEndian(output[sampleAt..], NonFiniteValues[random.Next(NonFiniteValues.Length)]);
                RecomputeFrameCrc(output, payloadLength);
                break;
            default:
                // NonFinite on a control frame: break its payload CRC instead.
                output[length - 1] ^= 0x5A;
                break;
        }
        return length;
    }

    /// <summary>The results a mutation may lead to (never <see cref="FrameStatus.Ok"/>).</summary>
    public static bool IsExpected(Mutation mutation, bool isData, FrameStatus status) => mutation switch
    {
        Mutation.Truncate => status == FrameStatus.Incomplete,
        Mutation.AbsurdCounts when isData => status is FrameStatus.BadChannelCount or FrameStatus.BadSampleCount
            or FrameStatus.BadSampleRate or FrameStatus.LengthMismatch,
        Mutation.AbsurdCounts or Mutation.TypeOrFlags => status is FrameStatus.UnknownType or FrameStatus.BadFlags,
        Mutation.BadCrc => status is FrameStatus.BadHeaderCrc or FrameStatus.BadFrameCrc,
        Mutation.NonFinite when isData => status == FrameStatus.NonFiniteSample,
        Mutation.NonFinite => status == FrameStatus.BadFrameCrc,
        _ => status != FrameStatus.Ok,
    };

    private static void Flip(Span<byte> bytes, int bit) => bytes[bit / 8] ^= (byte)(1 << (bit % 8));

    private static void RecomputeFrameCrc(Span<byte> frame, int payloadLength) =>
        BinaryPrimitives.WriteUInt32LittleEndian(frame[(64 + payloadLength)..], Crc32.Compute(frame[..(64 + payloadLength)]));

    private static void RecomputeHeaderCrc(Span<byte> frame) =>
        BinaryPrimitives.WriteUInt32LittleEndian(frame[60..], Crc32.Compute(frame[..60]));
}
