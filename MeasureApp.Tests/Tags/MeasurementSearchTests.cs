using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Annotations;
using MeasureApp.Api;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Tags;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Tags;

/// <summary>
/// Search and filters of the measurements list over 1,000 measurements of two users with tags, metadata and
/// annotations, on each provider: every query returns exactly the expected set (paged through to the end), ignoring
/// case, and never another user's measurement.
/// </summary>
public abstract class MeasurementSearchTests(DatabaseProvider provider) : IDisposable
{
    private const int Count = 1000;
    private static readonly DateTimeOffset Start = new(2026, 11, 2, 8, 0, 0, TimeSpan.Zero);
    private readonly AppFactory _factory = new(provider);

    private sealed record Row(int Index, string OwnerId, string Device, MeasurementState State, DateTimeOffset StartedAt, Guid Id);

    [Fact]
    public async Task QueriesByTagMetadataAndAnnotationTextReturnExactlyTheExpectedSetsAmongAThousandMeasurements()
    {
        var alice = await Users.CreateOperatorAsync(_factory.Services);
        var bob = await Users.CreateOperatorAsync(_factory.Services);
        var rows = await SeedAsync(alice.Id, bob.Id);
        var catalog = _factory.Services.GetRequiredService<MeasurementCatalog>();
        var asAlice = new Requester(alice.Id, alice.UserName!, IsAdmin: false);
        var asBob = new Requester(bob.Id, bob.UserName!, IsAdmin: false);
        var asAdmin = new Requester("admin-id", "admin", IsAdmin: true);
        bool Alice(Row r) => r.OwnerId == alice.Id;

        await AssertFindsAsync(catalog, asAlice, new() { Tag = "THERMAL" }, rows.Where(r => Alice(r) && r.Index % 7 == 0));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "Thermal" }, rows.Where(r => Alice(r) && r.Index % 7 == 0));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "ada LOVE" }, rows.Where(r => Alice(r) && r.Index % 5 == 0));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "serial number: sn-0042" }, rows.Where(r => r.Index == 42));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "BROWN-OUT" }, rows.Where(r => Alice(r) && r.Index % 17 == 0));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "overshoot" }, rows.Where(r => Alice(r) && r.Index % 13 == 0));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "run 012" }, rows.Where(r => Alice(r) && r.Index / 10 == 12));
        await AssertFindsAsync(catalog, asAlice, new() { Search = "50%" }, []);
        await AssertFindsAsync(catalog, asAlice, new() { Tag = "rev-b", Device = "scope", State = MeasurementState.Stopped },
            rows.Where(r => Alice(r) && r.Index % 11 == 0 && r.Device == "scope" && r.State == MeasurementState.Stopped));
        await AssertFindsAsync(catalog, asAlice, new() { StartedFrom = Start.AddMinutes(100), StartedBefore = Start.AddMinutes(200), State = MeasurementState.Running },
            rows.Where(r => Alice(r) && r.Index is >= 100 and < 200 && r.State == MeasurementState.Running));
        await AssertFindsAsync(catalog, asBob, new() { Search = "thermal" }, rows.Where(r => !Alice(r) && r.Index % 7 == 0));
        await AssertFindsAsync(catalog, asAdmin, new() { Search = "brown-out", OwnerId = bob.Id }, rows.Where(r => !Alice(r) && r.Index % 17 == 0));
        await AssertFindsAsync(catalog, asAdmin, new() { Tag = "rev-b" }, rows.Where(r => r.Index % 11 == 0));

        // The same through the API, with its query parameters.
        var client = await HttpLogin.LoggedInClientAsync(_factory, alice.Email!, Users.Password);
        var from = Uri.EscapeDataString(Start.AddMinutes(300).ToString("O", CultureInfo.InvariantCulture));
        var page = await client.GetFromJsonAsync<MeasurementListResource>($"/api/measurements?search=brown-out&state=stopped&from={from}&pageSize=200");
        var expected = rows.Where(r => Alice(r) && r.Index % 17 == 0 && r.Index >= 300 && r.State == MeasurementState.Stopped).Select(r => r.Id).Order().ToArray();
        Assert.Equal(expected, page!.Items.Select(m => m.Id).Order().ToArray());
        Assert.Equal(expected.Length, page.Total);
        Assert.All(page.Items, m => Assert.Contains("operator", m.Metadata!.Keys));
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/measurements?state=paused")).StatusCode);
    }

    private static async Task AssertFindsAsync(MeasurementCatalog catalog, Requester requester, MeasurementQuery query, IEnumerable<Row> expected)
    {
        var found = new List<Guid>();
        int total;
        var page = 0;
        do
        {
            var result = await catalog.ListAsync(requester, query with { Page = page++, PageSize = 40 }, CancellationToken.None);
            total = result.Total;
            found.AddRange(result.Items.Select(m => m.Id));
            if (result.Items.Count == 0)
            {
                break;
            }
        }
        while (found.Count < total);
        var want = expected.Select(r => r.Id).Order().ToArray();
        Assert.True(want.SequenceEqual(found.Order()), $"{query}: expected {want.Length}, found {found.Count} (total {total})");
        Assert.Equal(want.Length, total);
        Assert.Equal(found.Count, found.Distinct().Count());
    }

    private async Task<List<Row>> SeedAsync(string aliceId, string bobId)
    {
        var rows = Enumerable.Range(0, Count).Select(i =>
        {
            var started = Start.AddMinutes(i);
            return new Row(i, i % 4 == 3 ? bobId : aliceId, i % 3 == 0 ? "scope" : "sim", i % 10 == 0 ? MeasurementState.Running : MeasurementState.Stopped,
                started, Guid.CreateVersion7(started));
        }).ToList();
        await using var db = await _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        foreach (var r in rows)
        {
            var i = r.Index;
            db.Measurements.Add(new MeasurementRecord
            {
                Id = r.Id, OwnerId = r.OwnerId, OwnerName = r.OwnerId, Name = string.Create(CultureInfo.InvariantCulture, $"Run {i:D4}"), DeviceId = r.Device,
                ChannelsJson = "[]", ChannelCount = 1, SampleRate = 1000, State = r.State, StartedAt = r.StartedAt, SampleCount = 100,
            });
            foreach (var tag in new[] { i % 7 == 0 ? "Thermal" : null, i % 11 == 0 ? "rev-B" : null, "lab" }.OfType<string>())
            {
                db.MeasurementTags.Add(new MeasurementTagRecord { MeasurementId = r.Id, Tag = tag, Normalized = MeasurementLabelService.Fold(tag) });
            }
            foreach (var (key, value) in new[] { ("operator", i % 5 == 0 ? "Ada Lovelace" : "Grace Hopper"), ("serial number", string.Create(CultureInfo.InvariantCulture, $"SN-{i:D4}")) })
            {
                db.MeasurementMetadata.Add(new MeasurementMetadataRecord { MeasurementId = r.Id, Key = key, Value = value, Normalized = MeasurementLabelService.Fold($"{key}: {value}") });
            }
            if (i % 13 == 0)
            {
                db.Annotations.Add(Annotation(r, "Overshoot at the relay", "ringing for 2 ms"));
            }
            if (i % 17 == 0)
            {
                db.Annotations.Add(Annotation(r, "Supply", "Brown-out detected"));
            }
        }
        await db.SaveChangesAsync();
        return rows;
    }

    private static AnnotationRecord Annotation(Row r, string title, string text) => new()
    {
        Id = Guid.CreateVersion7(), MeasurementId = r.Id, AuthorId = r.OwnerId, AuthorName = r.OwnerId, Title = title, Text = text,
        FromSeconds = 0.5, CreatedAt = r.StartedAt, UpdatedAt = r.StartedAt,
    };

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteMeasurementSearchTests() : MeasurementSearchTests(DatabaseProvider.Sqlite);

public sealed class PostgresMeasurementSearchTests() : MeasurementSearchTests(DatabaseProvider.Postgres);
