using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Export;

/// <summary>
/// Times at an odd rate and across a gap, through the real app and database: exported times are
/// index/rate rounded to the nanosecond within each run, and a range copied from an export includes
/// exactly the samples it names. Faults stored with the measurement come back from the API.
/// </summary>
public sealed class ExportTimeRangeTests
{
    private const double Rate = 12_345;
    private const long StartNs = 1_700_000_000_123_456_789;
    private const int GapAt = 24_690;
    private const long GapNs = 37_000_001;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task ARangeCopiedFromAnExportIncludesExactlyTheSamplesItNamesAcrossChunksAndAGap(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var owner = await Users.CreateOperatorAsync(factory.Services);
        using var client = await HttpLogin.LoggedInClientAsync(factory, owner.Email!, Users.Password);
        var id = Guid.CreateVersion7();
        // Runs of stored chunks as the store writer cuts them: 1234–1235 samples; a gap starts a chunk at its own time.
        var sizes = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? 1234 : 1235).ToList();
        var signal = new KnownSignal(id, 1, sizes, (_, i) => i);
        var chunks = signal.Chunks.Select(c => c with
        {
            T0Ns = c.FirstSampleIndex < GapAt ? StartNs + SampleTime.OffsetNs(c.FirstSampleIndex, Rate) : StartNs + GapNs + SampleTime.OffsetNs(c.FirstSampleIndex, Rate),
        }).ToList();
        Assert.Contains(chunks, c => c.FirstSampleIndex == GapAt);
        await ExportFixture.StoreAsync(factory.Services, id, owner, "odd rate", 1, Rate, chunks);
        var store = factory.Services.GetRequiredService<ISampleStore>();
        var stored = KnownSignal.Info(id, 1, ownerId: owner.Id, state: MeasurementState.Stopped) with
        {
            OwnerName = owner.Email!, Name = "odd rate", SampleRate = Rate, SampleCount = signal.Length,
            Faults = new Dictionary<string, long> { ["overrun"] = 46, ["gap"] = 3 },
        };
        await store.UpdateMeasurementAsync(stored, CancellationToken.None);

        var rows = await ExportAsync(client, id, "");
        Assert.Equal(signal.Length, rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            var expected = SampleTime.OffsetNs(i, Rate) + (i < GapAt ? 0 : GapNs);
            Assert.Equal(expected, ParseNs(rows[i].Time));
            Assert.Equal(i, rows[i].Value);
        }
        Assert.Equal("1.000000000", rows[12_345].Time);

        foreach (var (from, to) in new[] { (1234, 12_345), (12_345, 12_345), (GapAt - 3, GapAt + 2), (GapAt, rows.Count - 1) })
        {
            var slice = await ExportAsync(client, id, $"&from={rows[from].Time}&to={rows[to].Time}");
            Assert.Equal(to - from + 1, slice.Count);
            Assert.Equal(rows[from], slice[0]);
            Assert.Equal(rows[to], slice[^1]);
        }

        using var answer = JsonDocument.Parse(await client.GetStringAsync($"/api/measurements/{id}"));
        var faults = answer.RootElement.GetProperty("faults");
        Assert.Equal(46, faults.GetProperty("overrun").GetInt64());
        Assert.Equal(3, faults.GetProperty("gap").GetInt64());
    }

    private static async Task<List<(string Time, float Value)>> ExportAsync(HttpClient client, Guid id, string range)
    {
        var response = await client.GetAsync($"/api/measurements/{id}/export?format=csv&time=seconds{range}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return [.. body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line =>
        {
            var parts = line.Split(',');
            return (parts[0], float.Parse(parts[1], CultureInfo.InvariantCulture));
        })];
    }

    private static long ParseNs(string seconds)
    {
        var parts = seconds.Split('.');
        return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1_000_000_000 + long.Parse(parts[1], CultureInfo.InvariantCulture);
    }
}
