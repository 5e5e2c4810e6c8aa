using System.Net;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Export;

/// <summary>
/// A measurement deleted while it is being downloaded: the download either completes with every row or
/// fails visibly (aborted response); it never ends as a shorter file with HTTP 200.
/// </summary>
public abstract class ExportWhileDeletingTests(DatabaseProvider provider) : IDisposable
{
    private const int ChunkSamples = 5_000;
    // More than one Parquet row group (2^20 rows), so the writer blocks on the unread body before it read everything.
    private const int ChunkCount = 500;
    private const long Rows = (long)ChunkSamples * ChunkCount;

    private readonly AppFactory _factory = new(provider);

    [Theory]
    [InlineData("csv")]
    [InlineData("parquet")]
    public async Task ADownloadWhoseMeasurementIsDeletedMidwayFailsInsteadOfEndingShort(string format)
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services);
        var client = await HttpLogin.LoggedInClientAsync(_factory, owner.Email!, Users.Password);
        var id = Guid.CreateVersion7();
        var chunks = Enumerable.Range(0, ChunkCount)
            .Select(i => ExportFixture.Chunk(id, i, (long)i * ChunkSamples, ChunkSamples, 1000, n => n % 977))
            .ToList();
        await ExportFixture.StoreAsync(_factory.Services, id, owner, "deleted while exported", 1, 1000, chunks);

        using var response = await client.GetAsync($"/api/measurements/{id}/export?format={format}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[1 << 16];
        var received = await body.ReadAtLeastAsync(buffer, 1, throwOnEndOfStream: true);

        // The server is held back by the unread body (its pipe is full) while the delete goes through.
        var delete = await client.DeleteAsync($"/api/measurements/{id}");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        using var rest = new MemoryStream();
        rest.Write(buffer, 0, received);
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

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteExportWhileDeletingTests() : ExportWhileDeletingTests(DatabaseProvider.Sqlite);

public sealed class PostgresExportWhileDeletingTests() : ExportWhileDeletingTests(DatabaseProvider.Postgres);
