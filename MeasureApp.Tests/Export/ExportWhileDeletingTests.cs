using System.Net;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.DependencyInjection;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Export;

/// <summary>
/// A measurement deleted while it is being downloaded: a delete through this instance is refused while the
/// export runs (409), and data deleted under the export anyway (another instance, retention) makes the
/// download fail visibly (aborted response); it never ends as a shorter file with HTTP 200.
/// </summary>
public abstract class ExportWhileDeletingTests(DatabaseProvider provider) : IDisposable
{
    private const int ChunkSamples = 5_000;
    // More than one Parquet row group (2^20 rows), so the writer blocks on the unread body before it read everything.
    private const int ChunkCount = 500;
    private const long Rows = (long)ChunkSamples * ChunkCount;

    private readonly AppFactory _factory = new(provider);
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("measureapp-export-delete-");

    [Theory]
    [InlineData("csv")]
    [InlineData("parquet")]
    public async Task ADeleteDuringADownloadIsRefusedWith409AndTheDownloadCompletesWithEveryRow(string format)
    {
        var (client, id) = await StoreMeasurementAsync();

        var (response, body, rest) = await StartDownloadAsync(client, id, format);
        using var disposeResponse = response;
        await using var disposeBody = body;
        using var disposeRest = rest;

        // The server is held back by the unread body (its pipe is full): the export is still being written.
        var refused = await client.DeleteAsync($"/api/measurements/{id}");
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("export", await refused.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);

        await body.CopyToAsync(rest);
        var file = rest.ToArray();
        if (format == "csv")
        {
            // A header and one line per sample.
            Assert.Equal(Rows + 1, System.Text.Encoding.UTF8.GetString(file).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        else
        {
            Assert.Equal(Rows, (await DuckDbReader.ReadAsync(await SaveAsync(file))).Rows);
        }

        // Once the export has ended (the server lets go of it just after the last byte) the delete goes through.
        var running = _factory.Services.GetRequiredService<MeasureApp.Export.ExportsInProgress>();
        await MeasureApp.Tests.Storage.Eventually.TrueAsync(() => !running.IsExporting(id), "the export to end");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/measurements/{id}")).StatusCode);
    }

    [Theory]
    [InlineData("csv")]
    [InlineData("parquet")]
    public async Task ADownloadWhoseDataIsDeletedMidwayFailsInsteadOfEndingShort(string format)
    {
        var (client, id) = await StoreMeasurementAsync();

        var (response, body, rest) = await StartDownloadAsync(client, id, format);
        using var disposeResponse = response;
        await using var disposeBody = body;
        using var disposeRest = rest;

        // Deleted under the export without asking this instance (another instance, retention): the
        // server is held back by the unread body while the samples go.
        await _factory.Services.GetRequiredService<ISampleStore>().DeleteSamplesAsync(id, CancellationToken.None);

        var failed = await Record.ExceptionAsync(() => body.CopyToAsync(rest));

        if (failed is null)
        {
            // Completed: then it holds every row (CSV: a header and one line per sample).
            Assert.Equal("csv", format);
            var lines = System.Text.Encoding.UTF8.GetString(rest.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            Assert.Equal(Rows + 1, lines);
        }
        else
        {
            Assert.IsAssignableFrom<IOException>(failed);
        }
    }

    private async Task<(HttpClient Client, Guid Id)> StoreMeasurementAsync()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services);
        var client = await HttpLogin.LoggedInClientAsync(_factory, owner.Email!, Users.Password);
        var id = Guid.CreateVersion7();
        var chunks = Enumerable.Range(0, ChunkCount)
            .Select(i => ExportFixture.Chunk(id, i, (long)i * ChunkSamples, ChunkSamples, 1000, n => n % 977))
            .ToList();
        await ExportFixture.StoreAsync(_factory.Services, id, owner, "deleted while exported", 1, 1000, chunks);
        return (client, id);
    }

    // The download has begun (its first bytes are in) and the rest waits unread on the server.
    private static async Task<(HttpResponseMessage Response, Stream Body, MemoryStream Received)> StartDownloadAsync(HttpClient client, Guid id, string format)
    {
        var response = await client.GetAsync($"/api/measurements/{id}/export?format={format}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[1 << 16];
        var received = await body.ReadAtLeastAsync(buffer, 1, throwOnEndOfStream: true);
        var rest = new MemoryStream();
        rest.Write(buffer, 0, received);
        return (response, body, rest);
    }

    private async Task<string> SaveAsync(byte[] file)
    {
        var path = Path.Combine(_folder.FullName, Guid.NewGuid().ToString("N") + ".parquet");
        await File.WriteAllBytesAsync(path, file);
        return path;
    }

    public void Dispose()
    {
        _factory.Dispose();
        _folder.Delete(recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteExportWhileDeletingTests() : ExportWhileDeletingTests(DatabaseProvider.Sqlite);

public sealed class PostgresExportWhileDeletingTests() : ExportWhileDeletingTests(DatabaseProvider.Postgres);
