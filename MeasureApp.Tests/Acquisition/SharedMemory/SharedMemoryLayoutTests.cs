using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using MeasureApp.Acquisition.Devices.SharedMemory;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

public sealed partial class SharedMemoryLayoutTests
{
    private const int Capacity = 64;
    private const int CommandCapacity = 16;
    private static readonly long FileSize = TestRingProducer.FileSizeFor(Capacity, CommandCapacity);

    [Fact]
    public void TheChecksumIsCrc32cWithItsStandardCheckValue()
    {
        Assert.Equal(0xE3069283u, SharedMemoryLayout.Crc32C("123456789"u8));
        Assert.Equal(0u, SharedMemoryLayout.Crc32C([]));
        var random = new Random(5);
        for (var length = 0; length < 300; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(TestRingProducer.Crc32C(data), SharedMemoryLayout.Crc32C(data));
        }
    }

    [Fact]
    public void TheUserTagIsFnv1a64OfTheUtf8UserId()
    {
        // Published FNV-1a 64 test vectors.
        Assert.Equal(0xCBF29CE484222325UL, SharedMemoryLayout.UserTag(""));
        Assert.Equal(0xAF63DC4C8601EC8CUL, SharedMemoryLayout.UserTag("a"));
        Assert.Equal(0x85944171F73967E8UL, SharedMemoryLayout.UserTag("foobar"));
        foreach (var id in new[] { "0b6c4a6e-5c1e-4a36-9d0e-3f1f1e1c2d3b", "jürgen@example.com", "用户" })
        {
            Assert.Equal(TestRingProducer.UserTag(id), SharedMemoryLayout.UserTag(id));
        }
    }

    [Fact]
    public void TheDocumentedOffsetTablesMatchTheDriver()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "shared-memory.md"));
        var checkedRows = 0;
        foreach (var (table, type) in new[] { ("header", typeof(SharedMemoryLayout.Header)), ("record", typeof(SharedMemoryLayout.Record)), ("command", typeof(SharedMemoryLayout.Command)) })
        {
            var section = doc[doc.IndexOf($"<!-- table:{table} -->", StringComparison.Ordinal)..];
            section = section[..section.IndexOf("<!-- /table -->", StringComparison.Ordinal)];
            foreach (Match row in OffsetRow().Matches(section))
            {
                var name = Pascal(row.Groups["name"].Value);
                var field = type.GetField(name, BindingFlags.Public | BindingFlags.Static);
                Assert.True(field is not null, $"The document's {table} field '{row.Groups["name"].Value}' has no constant {type.Name}.{name}.");
                Assert.Equal(int.Parse(row.Groups["offset"].Value, System.Globalization.CultureInfo.InvariantCulture), (int)field.GetValue(null)!);
                checkedRows++;
            }
            // Every constant is documented.
            var documented = OffsetRow().Matches(section).Select(m => Pascal(m.Groups["name"].Value)).ToHashSet(StringComparer.Ordinal);
            Assert.All(type.GetFields(BindingFlags.Public | BindingFlags.Static), f => Assert.Contains(f.Name, documented));
        }
        Assert.True(checkedRows >= 30, $"only {checkedRows} rows found");
    }

    [Fact]
    public void AHeaderWrittenAsDocumentedIsAcceptedWithItsGeometry()
    {
        var header = ValidHeader();

        var status = SharedMemoryLayout.ValidateHeader(header, FileSize, out var g);

        Assert.Equal(HeaderStatus.Ok, status);
        Assert.Equal(new RingGeometry(Capacity, 4096, CommandCapacity, 4096 + Capacity * 128, FileSize, 77), g);
    }

    [Theory]
    [InlineData("magic 0", HeaderStatus.NotReady)]
    [InlineData("magic", HeaderStatus.BadMagic)]
    [InlineData("version", HeaderStatus.BadVersion)]
    [InlineData("capacity not a power of two", HeaderStatus.BadLayout)]
    [InlineData("capacity too small", HeaderStatus.BadLayout)]
    [InlineData("capacity huge", HeaderStatus.BadLayout)]
    [InlineData("record size", HeaderStatus.BadLayout)]
    [InlineData("header size", HeaderStatus.BadLayout)]
    [InlineData("data inside the header", HeaderStatus.BadLayout)]
    [InlineData("data unaligned", HeaderStatus.BadLayout)]
    [InlineData("rings overlap", HeaderStatus.BadLayout)]
    [InlineData("offset beyond any file", HeaderStatus.BadLayout)]
    [InlineData("declared size too small", HeaderStatus.BadLayout)]
    [InlineData("generation 0", HeaderStatus.BadLayout)]
    [InlineData("file shorter than declared", HeaderStatus.Truncated)]
    [InlineData("header cut short", HeaderStatus.Truncated)]
    public void AnImpossibleHeaderIsRejectedWithItsReason(string mutation, HeaderStatus expected)
    {
        var header = ValidHeader();
        var length = FileSize;
        var h = header.AsSpan();
        switch (mutation)
        {
            case "magic 0": BinaryPrimitives.WriteUInt32LittleEndian(h, 0); break;
            case "magic": BinaryPrimitives.WriteUInt32LittleEndian(h, 0x4D48534E); break;
            case "version": BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 2); break;
            case "capacity not a power of two": BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 48); break;
            case "capacity too small": BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 8); break;
            case "capacity huge": BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 1u << 31); break;
            case "record size": BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 64); break;
            case "header size": BinaryPrimitives.WriteUInt32LittleEndian(h[8..], 512); break;
            case "data inside the header": BinaryPrimitives.WriteUInt64LittleEndian(h[24..], 64); break;
            case "data unaligned": BinaryPrimitives.WriteUInt64LittleEndian(h[24..], 4096 + 8); break;
            case "rings overlap": BinaryPrimitives.WriteUInt64LittleEndian(h[40..], 4096 + 64); break;
            case "offset beyond any file": BinaryPrimitives.WriteUInt64LittleEndian(h[40..], ulong.MaxValue - 63); break;
            case "declared size too small": BinaryPrimitives.WriteUInt64LittleEndian(h[48..], (ulong)FileSize - 64); break;
            case "generation 0": BinaryPrimitives.WriteUInt64LittleEndian(h[56..], 0); break;
            case "file shorter than declared": length = FileSize - 1; break;
            case "header cut short": header = header[..100]; break;
            default: throw new ArgumentOutOfRangeException(nameof(mutation));
        }

        Assert.Equal(expected, SharedMemoryLayout.ValidateHeader(header, length, out _));
    }

    [Fact]
    public void ARecordWrittenAsDocumentedParsesToItsFields()
    {
        var id = Guid.NewGuid();
        var record = new byte[128];
        TestRingProducer.EncodeRecord(record, index: 41, id, userTag: 99, timestampNs: 123_456_789, counter: 7, [1.5, -2.25, double.NaN]);
        var values = new float[8];

        var status = SharedMemoryLayout.ParseRecord(record, expectedSequence: 42, values, out var r);

        Assert.Equal(RecordStatus.Ok, status);
        Assert.Equal(new SharedMemoryRecord(id, 99, 123_456_789, 7, 3, NonFiniteMask: 0b100), r);
        Assert.Equal(1.5f, values[0]);
        Assert.Equal(-2.25f, values[1]);
        // The id is stored in RFC 9562 byte order: the first byte is the first two hex digits of its text form.
        Assert.Equal(Convert.ToHexString(record, 8, 1), id.ToString("N")[..2], ignoreCase: true);
    }

    [Fact]
    public void AStaleFlippedOrImpossibleRecordIsRejectedWithItsReason()
    {
        var record = new byte[128];
        TestRingProducer.EncodeRecord(record, index: 0, Guid.NewGuid(), 1, 2, 3, [4.0]);
        var values = new float[8];

        Assert.Equal(RecordStatus.Sequence, SharedMemoryLayout.ParseRecord(record, expectedSequence: 2, values, out _));
        Assert.Equal(RecordStatus.TooShort, SharedMemoryLayout.ParseRecord(record.AsSpan(0, 127), 1, values, out _));
        for (var i = 8; i < 128; i++)
        {
            var flipped = (byte[])record.Clone();
            flipped[i] ^= 0x10;
            Assert.Equal(RecordStatus.Checksum, SharedMemoryLayout.ParseRecord(flipped, 1, values, out _));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(48), 9);
        TestRingProducer.FixChecksum(record);
        Assert.Equal(RecordStatus.ChannelCount, SharedMemoryLayout.ParseRecord(record, 1, values, out _));
    }

    internal static byte[] ValidHeader()
    {
        var memory = GC.AllocateArray<byte>((int)FileSize, pinned: true);
        using (TestRingProducer.OverMemory(Marshal.UnsafeAddrOfPinnedArrayElement(memory, 0), Capacity, CommandCapacity, generation: 77))
        {
        }
        return memory[..SharedMemoryLayout.HeaderFieldsSize];
    }

    /// <summary>The repository, found from this source file's compile-time path (test binaries may live anywhere).</summary>
    internal static string RepositoryRoot([CallerFilePath] string sourceFile = "")
    {
        for (var dir = new FileInfo(sourceFile).Directory; dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeasureApp.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"The repository root (MeasureApp.sln) was not found above {sourceFile}.");
    }

    private static string Pascal(string snake)
    {
        var sb = new StringBuilder();
        foreach (var part in snake.Split('_'))
        {
            sb.Append(char.ToUpperInvariant(part[0])).Append(part.AsSpan(1));
        }
        return sb.ToString();
    }

    [GeneratedRegex(@"^\|\s*(?<offset>\d+)\s*\|\s*\d+\s*\|\s*[^|]+\|\s*`(?<name>[a-z_]+)`", RegexOptions.Multiline)]
    private static partial Regex OffsetRow();
}
