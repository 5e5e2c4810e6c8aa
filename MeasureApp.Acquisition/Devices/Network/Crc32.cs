using System.Buffers.Binary;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// CRC-32 as in zlib, PNG and Ethernet (reflected polynomial 0xEDB88320, initial value and final
/// XOR 0xFFFFFFFF), so a collector in Python can use <c>zlib.crc32</c> and one in C zlib's
/// <c>crc32()</c>. Slicing-by-8: the tables are built once, checking needs no allocation.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/> (CRC-32 of "123456789" is 0xCBF43926).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFF_FFFFu, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table.AsSpan();
        while (data.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[(7 * 256) + (int)(one & 0xFF)]
                ^ t[(6 * 256) + (int)((one >> 8) & 0xFF)]
                ^ t[(5 * 256) + (int)((one >> 16) & 0xFF)]
                ^ t[(4 * 256) + (int)(one >> 24)]
                ^ t[(3 * 256) + (int)(two & 0xFF)]
                ^ t[(2 * 256) + (int)((two >> 8) & 0xFF)]
                ^ t[256 + (int)((two >> 16) & 0xFF)]
                ^ t[(int)(two >> 24)];
            data = data[8..];
        }
        foreach (var b in data)
        {
            crc = t[(int)((crc ^ b) & 0xFF)] ^ (crc >> 8);
        }
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB8_8320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        for (var i = 0; i < 256; i++)
        {
            for (var s = 1; s < 8; s++)
            {
                var prev = table[((s - 1) * 256) + i];
                table[(s * 256) + i] = (prev >> 8) ^ table[(int)(prev & 0xFF)];
            }
        }
        return table;
    }
}
