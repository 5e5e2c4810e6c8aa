using System.Globalization;
using System.Net;
using System.Text.Json;

namespace MeasureApp.Tests.Export;

/// <summary>The export endpoint against the real app: content read back value by value, selection, errors, headers.</summary>
public sealed class ExportTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private string Url(string query = "") => $"/api/measurements/{fixture.MeasurementId}/export" + (query.Length == 0 ? "" : "?" + query);

    [Fact]
    public async Task CsvOfAWholeMeasurementMatchesTheStoredSamplesValueByValue()
    {
        using var response = await fixture.Owner.GetAsync(Url("format=csv"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        Assert.Equal("time,ch1 [V],ch2 [m/s²],ch3 [V]", await reader.ReadLineAsync());
        var rows = 0L;
        while (await reader.ReadLineAsync() is { } line)
        {
            var cells = line.Split(',');
            Assert.Equal(4, cells.Length);
            Assert.Equal(ExportFixture.TimeNs(rows), ParseIso(cells[0]));
            for (var c = 0; c < ExportFixture.Channels; c++)
            {
                Assert.Equal(fixture.Samples[c][rows], float.Parse(cells[c + 1], CultureInfo.InvariantCulture));
            }
            rows++;
        }
        Assert.Equal(fixture.Samples[0].Length, rows);
    }

    [Fact]
    public async Task CsvWithChosenChannelsAndRangeCountsSecondsFromTheFirstSample()
    {
        using var response = await fixture.Owner.GetAsync(Url("channels=2,0&from=12.5&to=20&time=seconds"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal("time,ch3 [V],ch1 [V]", lines[0]);
        // Both ends inclusive: samples 12 500 … 20 000.
        Assert.Equal(7501, lines.Length - 1);
        Assert.Equal("12.500000000", lines[1].Split(',')[0]);
        Assert.Equal("20.000000000", lines[^1].Split(',')[0]);
        for (var r = 1; r < lines.Length; r++)
        {
            var index = 12_500 + r - 1;
            var cells = lines[r].Split(',');
            Assert.Equal(3, cells.Length);
            Assert.Equal(fixture.Samples[2][index], float.Parse(cells[1], CultureInfo.InvariantCulture));
            Assert.Equal(fixture.Samples[0][index], float.Parse(cells[2], CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public async Task ParquetReadByDuckDbMatchesTheStoredSamplesAndCarriesTheMetadata()
    {
        var path = await DownloadAsync(fixture.Owner, Url("format=parquet"), "whole.parquet");

        var report = await DuckDbReader.ReadAsync(path);

        Assert.Equal(["time", "ch1 [V]", "ch2 [m/s²]", "ch3 [V]"], report.Columns.Select(c => c.Name));
        Assert.All(report.Columns.Skip(1), c => Assert.Equal("FLOAT", c.Type));
        Assert.Equal("TIMESTAMP WITH TIME ZONE", report.Columns[0].Type);
        Assert.Equal("INT64", report.TimePhysical);
        Assert.Contains("TimestampType", report.TimeLogical ?? "", StringComparison.Ordinal);
        Assert.Contains("NANOS", report.TimeLogical ?? "", StringComparison.OrdinalIgnoreCase);
        Assert.Equal(fixture.Samples[0].Length, report.Rows);
        Assert.Equal(1, report.RowGroups);
        Assert.Equal(fixture.MeasurementId.ToString(), report.Metadata["measureapp.id"]);
        Assert.Equal(ExportFixture.Name, report.Metadata["measureapp.name"]);
        Assert.Equal("sim-1", report.Metadata["measureapp.device"]);
        Assert.Equal("1000", report.Metadata["measureapp.sample_rate"]);
        Assert.EndsWith("@test.local", report.Metadata["measureapp.owner"], StringComparison.Ordinal);
        Assert.Contains("m/s", report.Metadata["measureapp.channels"], StringComparison.Ordinal);
        Assert.True(DateTimeOffset.TryParse(report.Metadata["measureapp.started"], CultureInfo.InvariantCulture, out _));
        var rows = 0L;
        foreach (var cells in ReadDuckDbRows(report))
        {
            Assert.Equal(DuckDbTime(ExportFixture.TimeNs(rows)), long.Parse(cells[0], CultureInfo.InvariantCulture));
            for (var c = 0; c < ExportFixture.Channels; c++)
            {
                Assert.Equal(fixture.Samples[c][rows], float.Parse(cells[c + 1], CultureInfo.InvariantCulture));
            }
            rows++;
        }
        Assert.Equal(fixture.Samples[0].Length, rows);
    }

    [Fact]
    public async Task ParquetColumnChunksCarryMinMaxStatisticsThatDuckDbReads()
    {
        var path = await DownloadAsync(fixture.Owner, Url("format=parquet"), "stats.parquet");

        var report = await DuckDbReader.ReadAsync(path);

        Assert.Equal(4, report.Chunks.Count);
        Assert.All(report.Chunks, c => Assert.True(c.Min is not null && c.Max is not null, $"{c.Column} has min/max statistics"));
        for (var channel = 0; channel < ExportFixture.Channels; channel++)
        {
            var chunk = report.Chunks[channel + 1];
            Assert.Equal(fixture.Samples[channel].Min(), float.Parse(chunk.Min!, CultureInfo.InvariantCulture));
            Assert.Equal(fixture.Samples[channel].Max(), float.Parse(chunk.Max!, CultureInfo.InvariantCulture));
        }
        Assert.Equal("UNCOMPRESSED", report.Chunks[0].Compression);
    }

    [Theory]
    [InlineData("snappy", "SNAPPY")]
    [InlineData("zstd", "ZSTD")]
    public async Task CompressedParquetReadsBackValueByValueAndIsSmaller(string compression, string duckDbName)
    {
        var plain = await DownloadAsync(fixture.Owner, Url("format=parquet&channels=1"), $"plain-{compression}.parquet");
        var path = await DownloadAsync(fixture.Owner, Url($"format=parquet&channels=1&compression={compression}"), $"{compression}.parquet");

        var report = await DuckDbReader.ReadAsync(path);

        Assert.All(report.Chunks, c => Assert.Equal(duckDbName, c.Compression));
        Assert.True(new FileInfo(path).Length < new FileInfo(plain).Length, "compressed pages are smaller");
        var rows = 0L;
        foreach (var cells in ReadDuckDbRows(report))
        {
            Assert.Equal(DuckDbTime(ExportFixture.TimeNs(rows)), long.Parse(cells[0], CultureInfo.InvariantCulture));
            Assert.Equal(fixture.Samples[1][rows], float.Parse(cells[1], CultureInfo.InvariantCulture));
            rows++;
        }
        Assert.Equal(fixture.Samples[1].Length, rows);
    }

    [Fact]
    public async Task ParquetInMicrosecondsIsATimestampOfMicrosForReadersWithoutNanoseconds()
    {
        var path = await DownloadAsync(fixture.Owner, Url("format=parquet&channels=0&timeUnit=us"), "micros.parquet");

        var report = await DuckDbReader.ReadAsync(path);

        Assert.Contains("MICROS", report.TimeLogical ?? "", StringComparison.OrdinalIgnoreCase);
        var rows = 0L;
        foreach (var cells in ReadDuckDbRows(report))
        {
            Assert.Equal(ExportFixture.TimeNs(rows) / 1000 * 1000, long.Parse(cells[0], CultureInfo.InvariantCulture));
            rows++;
        }
        Assert.Equal(fixture.Samples[0].Length, rows);
    }

    [Fact]
    public async Task ParquetWithOneChannelAndARangeHoldsExactlyThatSlice()
    {
        var path = await DownloadAsync(fixture.Owner, Url("format=parquet&channels=1&from=100.25&to=101"), "slice.parquet");

        var report = await DuckDbReader.ReadAsync(path);

        Assert.Equal(["time", "ch2 [m/s²]"], report.Columns.Select(c => c.Name));
        Assert.Equal(751, report.Rows);
        Assert.Equal("1", report.Metadata["measureapp.exported_channels"]);
        var index = 100_250;
        foreach (var cells in ReadDuckDbRows(report))
        {
            Assert.Equal(DuckDbTime(ExportFixture.TimeNs(index)), long.Parse(cells[0], CultureInfo.InvariantCulture));
            Assert.Equal(fixture.Samples[1][index], float.Parse(cells[1], CultureInfo.InvariantCulture));
            index++;
        }
        Assert.Equal(101_001, index);
    }

    [Theory]
    [InlineData("format=xml", "Unknown format")]
    [InlineData("format=parquet&compression=lz4", "Unknown compression")]
    [InlineData("format=parquet&timeUnit=ms", "Unknown time unit")]
    [InlineData("format=csv&compression=zstd", "apply to Parquet only")]
    [InlineData("channels=3", "Unknown channel 3")]
    [InlineData("channels=0,x", "not a channel index")]
    [InlineData("channels=-1", "not a channel index")]
    [InlineData("channels=1,1", "listed twice")]
    [InlineData("from=5&to=2", "is after to")]
    [InlineData("from=300", "outside the data")]
    [InlineData("from=1e300", "outside the data")]
    [InlineData("from=-1", "outside the data")]
    [InlineData("from=abc", "not a number")]
    [InlineData("to=NaN", "not a number")]
    [InlineData("from=1.0001&to=1.0002", "no sample")]
    [InlineData("time=local", "Unknown time style")]
    public async Task BadRequestsGetAClearProblemNotAServerError(string query, string expected)
    {
        using var response = await fixture.Owner.GetAsync(Url(query));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains(expected, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherUsersMeasurementAnswersExactlyLikeAnUnknownOne()
    {
        using var foreign = await fixture.Other.GetAsync(Url());
        using var unknown = await fixture.Other.GetAsync($"/api/measurements/{Guid.CreateVersion7()}/export");

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(Problem(await unknown.Content.ReadAsStringAsync()), Problem(await foreign.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task AMeasurementWithoutDataExportsOnlyTheHeaderAndRefusesARange()
    {
        var id = Guid.CreateVersion7();
        await ExportFixture.StoreAsync(fixture.Factory.Services, id, fixture.OwnerUser, "empty", 2, 1000, []);

        using var csv = await fixture.Owner.GetAsync($"/api/measurements/{id}/export");
        using var parquet = await fixture.Owner.GetAsync($"/api/measurements/{id}/export?format=parquet");
        using var ranged = await fixture.Owner.GetAsync($"/api/measurements/{id}/export?from=0&to=1");

        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("time,ch1 [V],ch2 [m/s²]\n", await csv.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, parquet.StatusCode);
        var path = Path.Combine(fixture.TempFolder, "empty.parquet");
        await File.WriteAllBytesAsync(path, await parquet.Content.ReadAsByteArrayAsync());
        Assert.Equal(0, (await DuckDbReader.ReadAsync(path)).Rows);
        Assert.Equal(HttpStatusCode.BadRequest, ranged.StatusCode);
    }

    [Fact]
    public async Task AnAdminCanExportAnyMeasurement()
    {
        using var response = await fixture.Admin.GetAsync(Url("from=0&to=0.001"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task AnAnonymousRequestIsSentToTheLogin()
    {
        using var anonymous = Infrastructure.HttpLogin.CreateClient(fixture.Factory);

        using var response = await anonymous.GetAsync(Url());

        Assert.True(response.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Unauthorized, $"Got {response.StatusCode}.");
        if (response.StatusCode == HttpStatusCode.Redirect)
        {
            Assert.StartsWith("/Account/Login", response.Headers.Location?.PathAndQuery, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("format=csv", "text/csv", ".csv")]
    [InlineData("format=parquet", "application/vnd.apache.parquet", ".parquet")]
    public async Task DownloadsAreAttachmentsWithASafeNameAndAreNeverCached(string query, string contentType, string extension)
    {
        using var response = await fixture.Owner.GetAsync(Url(query + "&from=0&to=1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoStore, "Cache-Control: no-store expected.");
        var disposition = response.Content.Headers.ContentDisposition;
        Assert.Equal("attachment", disposition?.DispositionType);
        Assert.Equal($"Run_1__a_b_c_d__-{fixture.MeasurementId:N}{extension}", disposition?.FileName?.Trim('"'));
        Assert.Matches("^[A-Za-z0-9._-]+$", disposition?.FileName?.Trim('"'));
    }

    private async Task<string> DownloadAsync(HttpClient client, string url, string name)
    {
        using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var path = Path.Combine(fixture.TempFolder, name);
        await using var file = File.Create(path);
        await (await response.Content.ReadAsStreamAsync()).CopyToAsync(file);
        return path;
    }

    // DuckDB reads TIMESTAMP(NANOS, UTC) as TIMESTAMP WITH TIME ZONE, which holds microseconds: the
    // file's nanoseconds are checked by the logical type above and by the CSV tests, not here.
    private static long DuckDbTime(long ns) => ns / 1000 * 1000;

    private static IEnumerable<string[]> ReadDuckDbRows(DuckDbReport report) =>
        File.ReadLines(report.CsvPath).Skip(1).Select(l => l.Split(','));

    private static string Problem(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        // traceId differs per request by design; everything else must not tell the cases apart.
        return string.Join("|", r.EnumerateObject().Where(p => p.Name != "traceId").Select(p => p.Name + "=" + p.Value.ToString()));
    }

    internal static long ParseIso(string text)
    {
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", text);
        var second = DateTime.ParseExact(text[..19], "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        return ((second - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerSecond * 1_000_000_000) + long.Parse(text[20..29], CultureInfo.InvariantCulture);
    }
}
