using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.History;

/// <summary>The detail page's service: ownership first, then M4 reads from the min/max pyramid (SQLite).</summary>
public sealed class HistoryServiceTests : IDisposable
{
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    [Fact]
    public async Task TheZoomedOutViewKeepsASingleSampleSpikeAndComesFromThePyramid()
    {
        var (history, owner, id) = await SeedAsync();

        var range = await history.ReadAsync(owner, id, null, null, 1500, CancellationToken.None);

        Assert.NotNull(range);
        var channel = Assert.Single(range.Channels);
        Assert.Equal(SpikeMeasurement.SpikeValue, channel.Values.Max());
        Assert.Contains(SpikeMeasurement.SpikeIndex, channel.Indices);
        Assert.True(range.Level > 0, $"expected a pyramid level, got {range.Level}");
        Assert.Equal(0, range.RawSamplesRead);
        Assert.InRange(range.ColumnStarts.Count, 2, 1500);
        Assert.Equal(0, range.FromIndex);
        Assert.Equal(SpikeMeasurement.Samples, range.ToIndex);
    }

    [Fact]
    public async Task AZoomedInViewAroundTheSpikeReadsRawSamplesAndKeepsTheSpike()
    {
        var (history, owner, id) = await SeedAsync();
        var spikeSeconds = SpikeMeasurement.SpikeIndex / SpikeMeasurement.SampleRate;

        var range = await history.ReadAsync(owner, id, spikeSeconds - 0.005, spikeSeconds + 0.005, 1500, CancellationToken.None);

        Assert.NotNull(range);
        var channel = Assert.Single(range.Channels);
        Assert.Equal(SpikeMeasurement.SpikeValue, channel.Values.Max());
        Assert.Equal(0, range.Level);
        Assert.True(range.FromIndex >= SpikeMeasurement.SpikeIndex - 600, $"from {range.FromIndex}");
        Assert.True(range.ToIndex <= SpikeMeasurement.SpikeIndex + 600, $"to {range.ToIndex}");
        // Everything else in the window is the ±1 sine.
        Assert.All(channel.Values.Where(v => v != SpikeMeasurement.SpikeValue), v => Assert.InRange(v, -1.001f, 1.001f));
    }

    [Fact]
    public async Task AnotherUsersMeasurementIsNotFoundButAnAdminMayReadIt()
    {
        var (history, _, id) = await SeedAsync();
        var other = await Users.CreateOperatorAsync(_factory.Services);
        var stranger = new Requester(other.Id, other.Email!, IsAdmin: false);
        var admin = new Requester("some-admin", AppFactory.AdminEmail, IsAdmin: true);

        Assert.Null(await history.FindAsync(stranger, id, CancellationToken.None));
        Assert.Null(await history.ReadAsync(stranger, id, null, null, 1500, CancellationToken.None));
        Assert.Null(await history.ReadAsync(stranger, Guid.NewGuid(), null, null, 1500, CancellationToken.None));

        var asAdmin = await history.ReadAsync(admin, id, null, null, 1500, CancellationToken.None);
        Assert.NotNull(asAdmin);
        Assert.Equal(SpikeMeasurement.SpikeValue, Assert.Single(asAdmin.Channels).Values.Max());
        Assert.Equal("Spike run", (await history.FindAsync(admin, id, CancellationToken.None))!.Name);
    }

    [Fact]
    public async Task ExpiredDataAnswersAnEmptyRangeRatherThanFailing()
    {
        var (history, owner, id) = await SeedAsync();
        var record = (await history.FindAsync(owner, id, CancellationToken.None))!;
        record.DataExpired = true;

        var range = await history.ReadAsync(record, null, null, 1500, CancellationToken.None);

        Assert.Empty(range.Channels);
    }

    private async Task<(HistoryService History, Requester Owner, Guid Id)> SeedAsync()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, op.Id);
        return (_factory.Services.GetRequiredService<HistoryService>(), new Requester(op.Id, op.Email!, IsAdmin: false), id);
    }

    public void Dispose() => _factory.Dispose();
}
